//! cloudgate's global allocator: the system allocator, except that every block is overwritten
//! with zeros when it is freed.
//!
//! Why: secrets pass through buffers cloudgate does not own. hyper's read buffer holds a
//! tenant's `Authorization: Basic` header, rustls's buffers hold every decrypted record, and
//! their owners free those buffers without wiping them, so a tenant's password (right or wrong)
//! could be read from the gateway's memory long after it was checked. Our own copies are
//! `Zeroizing`; wiping at free covers every other copy, whoever owned it.
//!
//! Cost: one `memset` per free, and a reallocation copies and frees the old block (the trait's
//! default `realloc`) instead of growing it in place: +2.5% CPU per new tunnel, measured
//! (BENCHMARKS.md, "Wipe-on-free allocator").

use std::alloc::{GlobalAlloc, Layout, System};

/// The system allocator with wipe-on-free.
#[derive(Debug, Default, Clone, Copy)]
pub struct ZeroOnFree;

// SAFETY: `alloc` and `alloc_zeroed` forward the caller's `layout` to `System`, whose contract
// is the same as ours, so what they return is what `GlobalAlloc` promises. `dealloc` receives,
// by the trait's contract, a `ptr` that this allocator returned for this same `layout` and that
// has not been freed: it is valid for writes of `layout.size()` bytes, so zeroing that many
// bytes stays inside the live block; only then is it handed to `System.dealloc` with the
// original layout. `realloc` is not overridden: the trait's default allocates a new block,
// copies `min(old, new)` bytes and calls our `dealloc` on the old block, which is sound by the
// same argument and wipes the old copy.
unsafe impl GlobalAlloc for ZeroOnFree {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        // SAFETY: forwarded with the caller's layout; see the impl's comment.
        unsafe { System.alloc(layout) }
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        // SAFETY: forwarded with the caller's layout; see the impl's comment.
        unsafe { System.alloc_zeroed(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: `ptr` is a live block of `layout.size()` bytes from this allocator (the
        // trait's contract); the write stays inside it, and it is freed only afterwards.
        unsafe {
            std::ptr::write_bytes(ptr, 0, layout.size());
        }
        // The block is freed right after: without this, the compiler may drop the zeroing as
        // a dead store. `black_box` makes it assume the bytes are read.
        std::hint::black_box(ptr);
        // SAFETY: the same block and layout the caller passed; see the impl's comment.
        unsafe { System.dealloc(ptr, layout) }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn blocks_are_usable_and_zeroed_allocations_are_zero() {
        let a = ZeroOnFree;
        for size in [1usize, 8, 4096, 1 << 20] {
            let layout = Layout::from_size_align(size, 8).unwrap();
            // SAFETY: a non-zero-size layout; the block is written within bounds and freed
            // once with the same layout.
            unsafe {
                let p = a.alloc_zeroed(layout);
                assert!(!p.is_null());
                assert!(std::slice::from_raw_parts(p, size).iter().all(|&b| b == 0));
                std::ptr::write_bytes(p, 0xAB, size);
                a.dealloc(p, layout);
            }
        }
    }
}
