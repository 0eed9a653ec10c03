//! Parser for one export format.
