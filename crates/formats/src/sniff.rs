//! Recognising an export by its content (owned by the TXT/QCE work).
