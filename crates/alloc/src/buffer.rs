//! A fixed-size byte buffer for bulk data that wipes the bytes it held, and only those, when it
//! is dropped.
//!
//! Why not a `Vec<u8>`: under [`crate::ZeroOnFree`] every freed block is zeroed whole. A tunnel's
//! relay buffer is 64 KiB so that a bulk transfer moves in large writes, but a short tunnel (a
//! request and its answer) fills a few hundred bytes of it; zeroing all 64 KiB at free, twice per
//! tunnel, was 3.7% of the gateway's CPU per new tunnel (BENCHMARKS.md, issue 31) and touched
//! pages nothing else had used. This buffer takes its block from the system allocator directly
//! and zeroes the high-water mark of what was written into it, which is every byte that ever held
//! plaintext, before it gives the block back.

use std::alloc::{GlobalAlloc, Layout, System};
use std::mem::MaybeUninit;
use std::ptr::NonNull;

/// A heap buffer of fixed capacity whose written bytes are wiped when it is dropped.
#[derive(Debug)]
pub struct WipedBuffer {
    ptr: NonNull<MaybeUninit<u8>>,
    capacity: usize,
    /// How many bytes from the start have ever been written: the part to wipe.
    written: usize,
}

// SAFETY: the buffer owns its block exclusively (like a `Box<[u8]>`); nothing in it refers to
// thread-local state, so moving it to another thread or sharing `&WipedBuffer` (which only
// gives read access) is as sound as for a `Box<[u8]>`.
unsafe impl Send for WipedBuffer {}
// SAFETY: see `Send`; `&WipedBuffer` allows no mutation.
unsafe impl Sync for WipedBuffer {}

impl WipedBuffer {
    /// A buffer of `capacity` bytes (at least 1), none written yet. Aborts, as `Vec` does, when
    /// the system has no memory.
    pub fn new(capacity: usize) -> Self {
        let capacity = capacity.max(1);
        let layout = Self::layout(capacity);
        // SAFETY: `layout` has a non-zero size (capacity ≥ 1).
        let raw = unsafe { System.alloc(layout) };
        let Some(ptr) = NonNull::new(raw.cast::<MaybeUninit<u8>>()) else {
            std::alloc::handle_alloc_error(layout)
        };
        WipedBuffer {
            ptr,
            capacity,
            written: 0,
        }
    }

    fn layout(capacity: usize) -> Layout {
        // Alignment 1 and a size the caller chose (a constant in practice): invalid only past
        // `isize::MAX`, where `Vec` panics too.
        Layout::array::<u8>(capacity).expect("buffer capacity overflow")
    }

    /// The whole buffer, for a reader to fill (`tokio::io::ReadBuf::uninit`). Call
    /// [`WipedBuffer::filled`] afterwards with the number of bytes written, so that they are
    /// wiped at drop.
    pub fn space(&mut self) -> &mut [MaybeUninit<u8>] {
        // SAFETY: `ptr` is a live block of `capacity` bytes owned by `self`; `MaybeUninit<u8>`
        // needs no initialisation; the `&mut self` borrow makes the slice exclusive.
        unsafe { std::slice::from_raw_parts_mut(self.ptr.as_ptr(), self.capacity) }
    }

    /// Records that the first `len` bytes were written, and returns them.
    ///
    /// # Panics
    ///
    /// Never for a `len` a reader reported; a `len` past the capacity is clamped.
    pub fn filled(&mut self, len: usize) -> &[u8] {
        let len = len.min(self.capacity);
        self.written = self.written.max(len);
        self.bytes(len)
    }

    /// The first `len` bytes, which must have been written (reported through `filled`); `len`
    /// is clamped to what was written.
    pub fn bytes(&self, len: usize) -> &[u8] {
        let len = len.min(self.written);
        // SAFETY: the first `written` bytes were initialised by a reader (the caller's report
        // through `filled`, which clamps to the capacity), and `len ≤ written`.
        unsafe { std::slice::from_raw_parts(self.ptr.as_ptr().cast::<u8>(), len) }
    }

    /// The buffer's capacity in bytes.
    pub fn capacity(&self) -> usize {
        self.capacity
    }
}

impl Drop for WipedBuffer {
    fn drop(&mut self) {
        // SAFETY: `ptr..ptr + written` lies inside the live block (`written ≤ capacity`).
        unsafe { crate::wipe(self.ptr.as_ptr().cast::<u8>(), self.written) };
        // SAFETY: the block came from `System.alloc` with this same layout in `new` and is
        // freed once, here.
        unsafe { System.dealloc(self.ptr.as_ptr().cast::<u8>(), Self::layout(self.capacity)) };
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn what_was_written_reads_back_and_lengths_are_clamped() {
        let mut b = WipedBuffer::new(16);
        for (i, slot) in b.space()[..5].iter_mut().enumerate() {
            slot.write(i as u8 + 1);
        }
        assert_eq!(b.filled(5), &[1, 2, 3, 4, 5]);
        assert_eq!(b.bytes(3), &[1, 2, 3]);
        // Never more than was written, never past the capacity.
        assert_eq!(b.bytes(100).len(), 5);
        assert_eq!(WipedBuffer::new(0).capacity(), 1);
    }

    #[test]
    fn the_written_bytes_are_wiped_before_the_block_is_freed() {
        let mut b = WipedBuffer::new(64);
        for slot in &mut b.space()[..40] {
            slot.write(0xAB);
        }
        b.filled(40);
        let p = b.ptr.as_ptr().cast::<u8>();
        // Run the drop's wipe without freeing, then look: the high-water mark is zero.
        // SAFETY: `p..p + 40` is inside `b`'s live block.
        unsafe { crate::wipe(p, b.written) };
        assert!(b.bytes(40).iter().all(|&x| x == 0));
    }
}
