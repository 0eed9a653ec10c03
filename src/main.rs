//! The qqvault command: parse the arguments, run the command, map the outcome to an exit code.

mod cli;

#[global_allocator]
static ALLOCATOR: qqvault::block_reuse::BlockReuse = qqvault::block_reuse::BlockReuse::new();

fn main() {
    bound_allocator_caches();
    std::process::exit(cli::run());
}

/// glibc's allocator raises its threshold for handing large blocks back to the system each
/// time one is freed: the buffers of several MB that the writer threads and the index writer
/// allocate and free then stay with the process, and under load (when threads free each
/// other's blocks in bursts) a backup grew to hundreds of MB that it no longer used. A fixed
/// threshold makes such buffers their own mappings, returned when freed. The same as setting
/// `MALLOC_MMAP_THRESHOLD_=262144`, which a user's own setting still overrides.
#[cfg(all(target_os = "linux", target_env = "gnu"))]
fn bound_allocator_caches() {
    if std::env::var_os("MALLOC_MMAP_THRESHOLD_").is_some() {
        return;
    }
    // SAFETY: mallopt only sets allocator parameters, and runs before any other thread exists.
    unsafe {
        libc::mallopt(libc::M_MMAP_THRESHOLD, 256 << 10);
    }
}

#[cfg(not(all(target_os = "linux", target_env = "gnu")))]
fn bound_allocator_caches() {}
