//! The archive: its layout, manifest and seal, and the code that writes, reads, verifies and
//! restores it. See the README's "Archive layout" for the format these modules implement.

#[cfg(target_os = "linux")]
pub mod direct;
pub mod layout;
pub mod manifest;
pub mod read;
pub mod restore;
pub mod salvage;
pub mod seal;
#[cfg(target_os = "linux")]
pub mod sequential;
pub mod shared;
pub mod verify;
pub mod write;

/// The SHA-256 of a file's content, read once in large blocks.
pub fn hash_file(path: &std::path::Path) -> std::io::Result<qqvault_core::Sha256Digest> {
    use sha2::Digest;
    let mut f = std::fs::File::open(path)?;
    let mut hasher = sha2::Sha256::new();
    let mut buf = vec![0u8; 1 << 20];
    let (_, failure) = digest_reader(&mut f, &mut buf, &mut hasher, None);
    match failure {
        Some(e) => Err(e),
        None => Ok(qqvault_core::Sha256Digest(hasher.finalize().into())),
    }
}

/// Reads `r` to its end through `buf`, feeding every byte to `sha` and, when given, to `crc`.
/// Returns how many bytes were read, and the error that ended the read early, if one did.
pub fn digest_reader(
    r: &mut dyn std::io::Read,
    buf: &mut [u8],
    sha: &mut sha2::Sha256,
    mut crc: Option<&mut crc32fast::Hasher>,
) -> (u64, Option<std::io::Error>) {
    use sha2::Digest;
    let mut total = 0u64;
    loop {
        match r.read(buf) {
            Ok(0) => return (total, None),
            Ok(n) => {
                sha.update(&buf[..n]);
                if let Some(c) = crc.as_deref_mut() {
                    c.update(&buf[..n]);
                }
                total += n as u64;
            }
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => return (total, Some(e)),
        }
    }
}
