//! Encoding detection and streaming decoding to UTF-8 (owned by the TXT/QCE work).
