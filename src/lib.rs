//! qqvault: turn QQ chat exports and data folders into one verified zip archive.
