//! The archive: its layout, manifest and seal, and the code that writes, reads, verifies and
//! restores it. See the README's "Archive layout" for the format these modules implement.

pub mod layout;
pub mod manifest;
pub mod read;
pub mod restore;
pub mod salvage;
pub mod seal;
pub mod shared;
pub mod verify;
pub mod write;

/// The SHA-256 of a file's content, read once in large blocks.
pub fn hash_file(path: &std::path::Path) -> std::io::Result<qqvault_core::Sha256Digest> {
    use sha2::Digest;
    use std::io::Read;
    let mut f = std::fs::File::open(path)?;
    let mut hasher = sha2::Sha256::new();
    let mut buf = vec![0u8; 1 << 20];
    loop {
        match f.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => hasher.update(&buf[..n]),
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        }
    }
    Ok(qqvault_core::Sha256Digest(hasher.finalize().into()))
}
