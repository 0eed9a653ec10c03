//! Merging the same conversation read from several exports (owned by the MHT/merge work).
