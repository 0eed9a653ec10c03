//! The archive: its layout, manifest and seal, and the code that writes, reads, verifies and
//! restores it. See the README's "Archive layout" for the format these modules implement.

pub mod layout;
pub mod manifest;
pub mod read;
pub mod restore;
pub mod seal;
pub mod verify;
pub mod write;
