//! The process's allocator: the system's, except that a few freed blocks of a few hundred KiB
//! are kept for the next request of the same layout.
//!
//! Every Deflate stream allocates one block of some 370 KiB for its state and clears it, and
//! the zip crate starts a new stream for every entry it compresses off the writing thread: one
//! per small file. glibc hands out blocks that large as mappings of their own (`main` fixes its
//! threshold at 256 KiB so that freed buffers go back to the system), so each small file paid
//! for a new mapping, a page fault per 4 KiB of it and the unmapping: for 200,000 small files
//! that was most of the time of the whole backup. With the blocks kept, a new stream costs
//! clearing its state and nothing more. At most [`SLOTS`] blocks are kept (a few MB).

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicU8, AtomicUsize, Ordering};

/// Blocks kept at most.
pub const SLOTS: usize = 8;
/// Sizes kept: from the threshold above which glibc maps blocks of their own, to 512 KiB
/// (Deflate's state; larger buffers are rarer and kept by their owners where it pays).
const MIN_SIZE: usize = 256 << 10;
const MAX_SIZE: usize = 512 << 10;

const EMPTY: u8 = 0;
const BUSY: u8 = 1;
const FULL: u8 = 2;

struct Slot {
    state: AtomicU8,
    ptr: AtomicUsize,
    size: AtomicUsize,
    align: AtomicUsize,
}

impl Slot {
    const fn new() -> Self {
        Slot {
            state: AtomicU8::new(EMPTY),
            ptr: AtomicUsize::new(0),
            size: AtomicUsize::new(0),
            align: AtomicUsize::new(0),
        }
    }
}

/// See the module's documentation. Blocks of other sizes go straight to the system allocator.
pub struct BlockReuse {
    slots: [Slot; SLOTS],
    /// Where the next block goes when every slot is taken (the one it replaces is freed).
    next: AtomicUsize,
}

impl BlockReuse {
    #[allow(clippy::new_without_default)]
    pub const fn new() -> Self {
        BlockReuse {
            slots: [const { Slot::new() }; SLOTS],
            next: AtomicUsize::new(0),
        }
    }

    fn kept(layout: Layout) -> bool {
        (MIN_SIZE..=MAX_SIZE).contains(&layout.size())
    }

    /// A kept block of exactly this layout, taken out of its slot.
    fn take(&self, layout: Layout) -> Option<*mut u8> {
        for slot in &self.slots {
            if slot
                .state
                .compare_exchange(FULL, BUSY, Ordering::Acquire, Ordering::Relaxed)
                .is_err()
            {
                continue;
            }
            let fits = slot.size.load(Ordering::Relaxed) == layout.size()
                && slot.align.load(Ordering::Relaxed) == layout.align();
            if fits {
                let ptr = slot.ptr.load(Ordering::Relaxed) as *mut u8;
                slot.state.store(EMPTY, Ordering::Release);
                return Some(ptr);
            }
            slot.state.store(FULL, Ordering::Release);
        }
        None
    }

    /// Keeps a freed block: in an empty slot, else in place of an older one, which is freed.
    ///
    /// # Safety
    /// `ptr` must have been allocated by [`System`] with `layout`, and be freed no other way.
    unsafe fn keep(&self, ptr: *mut u8, layout: Layout) {
        let fill = |slot: &Slot| {
            slot.ptr.store(ptr as usize, Ordering::Relaxed);
            slot.size.store(layout.size(), Ordering::Relaxed);
            slot.align.store(layout.align(), Ordering::Relaxed);
            slot.state.store(FULL, Ordering::Release);
        };
        for slot in &self.slots {
            if slot
                .state
                .compare_exchange(EMPTY, BUSY, Ordering::Acquire, Ordering::Relaxed)
                .is_ok()
            {
                fill(slot);
                return;
            }
        }
        let slot = &self.slots[self.next.fetch_add(1, Ordering::Relaxed) % SLOTS];
        if slot
            .state
            .compare_exchange(FULL, BUSY, Ordering::Acquire, Ordering::Relaxed)
            .is_ok()
        {
            let old = slot.ptr.load(Ordering::Relaxed) as *mut u8;
            let old_layout = Layout::from_size_align_unchecked(
                slot.size.load(Ordering::Relaxed),
                slot.align.load(Ordering::Relaxed),
            );
            fill(slot);
            System.dealloc(old, old_layout);
        } else {
            // Another thread is at that slot right now: no need to wait for it.
            System.dealloc(ptr, layout);
        }
    }
}

impl Drop for BlockReuse {
    fn drop(&mut self) {
        for slot in &self.slots {
            if slot.state.load(Ordering::Acquire) == FULL {
                // SAFETY: a full slot holds a block `System` allocated with this layout.
                unsafe {
                    System.dealloc(
                        slot.ptr.load(Ordering::Relaxed) as *mut u8,
                        Layout::from_size_align_unchecked(
                            slot.size.load(Ordering::Relaxed),
                            slot.align.load(Ordering::Relaxed),
                        ),
                    );
                }
            }
        }
    }
}

// SAFETY: every block handed out was allocated by `System` with the layout it is handed out
// for (a kept block is only handed out for exactly the layout it was allocated with), and every
// block is either kept in one slot (which only one thread can hold at a time: the BUSY state)
// or freed by `System`, never both.
unsafe impl GlobalAlloc for BlockReuse {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        if Self::kept(layout) {
            if let Some(ptr) = self.take(layout) {
                return ptr;
            }
        }
        System.alloc(layout)
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        if Self::kept(layout) {
            if let Some(ptr) = self.take(layout) {
                std::ptr::write_bytes(ptr, 0, layout.size());
                return ptr;
            }
        }
        System.alloc_zeroed(layout)
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        if Self::kept(layout) {
            self.keep(ptr, layout);
        } else {
            System.dealloc(ptr, layout);
        }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        // Every block is the system's: it resizes them in place where it can.
        System.realloc(ptr, layout, new_size)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_freed_block_serves_the_next_request_of_its_layout() {
        let a = BlockReuse::new();
        let layout = Layout::from_size_align(380 << 10, 64).unwrap();
        unsafe {
            let p = a.alloc(layout);
            assert!(!p.is_null());
            p.write_bytes(7, layout.size());
            a.dealloc(p, layout);
            // Another alignment or size is not served from it.
            let other = Layout::from_size_align(380 << 10, 16).unwrap();
            let q = a.alloc(other);
            assert_ne!(q, p);
            a.dealloc(q, other);
            let r = a.alloc_zeroed(layout);
            assert_eq!(r, p);
            assert!(std::slice::from_raw_parts(r, layout.size())
                .iter()
                .all(|&b| b == 0));
            a.dealloc(r, layout);
        }
    }

    #[test]
    fn at_most_slots_blocks_are_kept() {
        let a = BlockReuse::new();
        let layouts: Vec<Layout> = (0..3 * SLOTS)
            .map(|i| Layout::from_size_align(MIN_SIZE + i * 4096, 8).unwrap())
            .collect();
        unsafe {
            let blocks: Vec<*mut u8> = layouts.iter().map(|&l| a.alloc(l)).collect();
            for (&p, &l) in blocks.iter().zip(&layouts) {
                a.dealloc(p, l);
            }
            let full = a
                .slots
                .iter()
                .filter(|s| s.state.load(Ordering::Relaxed) == FULL)
                .count();
            assert_eq!(full, SLOTS);
            // Small and large blocks are never kept.
            for size in [64, MAX_SIZE + 1] {
                let l = Layout::from_size_align(size, 8).unwrap();
                let p = a.alloc(l);
                a.dealloc(p, l);
            }
            for s in &a.slots {
                assert!(BlockReuse::kept(Layout::from_size_align_unchecked(
                    s.size.load(Ordering::Relaxed),
                    8
                )));
            }
        }
    }

    #[test]
    fn threads_share_it_safely() {
        static A: BlockReuse = BlockReuse::new();
        let layout = Layout::from_size_align(380 << 10, 64).unwrap();
        std::thread::scope(|s| {
            for t in 0..4u8 {
                s.spawn(move || {
                    for _ in 0..200 {
                        unsafe {
                            let p = A.alloc(layout);
                            p.write_bytes(t, layout.size());
                            assert!(std::slice::from_raw_parts(p, layout.size())
                                .iter()
                                .all(|&b| b == t));
                            A.dealloc(p, layout);
                        }
                    }
                });
            }
        });
    }
}
