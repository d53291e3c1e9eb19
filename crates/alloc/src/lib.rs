//! cloudgate's global allocator: the system allocator, except that every block is overwritten
//! with zeros when it is freed.
//!
//! Why: secrets pass through buffers cloudgate does not own. hyper's read buffer holds a
//! tenant's `Authorization: Basic` header, rustls's buffers hold every decrypted record, and
//! their owners free those buffers without wiping them, so a tenant's password (right or wrong)
//! could be read from the gateway's memory long after it was checked. Our own copies are
//! `Zeroizing`; wiping at free covers every other copy, whoever owned it.
//!
//! Cost: one vectorized `memset` per free, and a reallocation copies and frees the old block
//! (the trait's default `realloc`) instead of growing it in place (BENCHMARKS.md, "Wipe-on-free
//! allocator", and issue 31's milestones).

mod buffer;

pub use buffer::WipedBuffer;

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicUsize, Ordering};

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
        // trait's contract); `wipe` writes inside it only, and it is freed only afterwards.
        unsafe { wipe(ptr, layout.size()) };
        // SAFETY: the same block and layout the caller passed; see the impl's comment.
        unsafe { System.dealloc(ptr, layout) }
    }
}

/// Zeroes `len` bytes at `ptr` so that the compiler cannot drop the writes as dead stores
/// before the free. Where the target has inline assembly, a plain `memset` (the C library's,
/// vectorized: issue 31 measured the earlier 8-byte volatile loop at 1.4% of a new tunnel's
/// CPU) followed by an empty assembly statement that is given the pointer and may read any
/// memory, as BoringSSL's `OPENSSL_cleanse` does: the optimizer must assume the zeros are
/// read, so it keeps them. Elsewhere, volatile writes as `zeroize` does.
///
/// # Safety
///
/// `ptr..ptr + len` must be writable memory of one live allocation.
unsafe fn wipe(ptr: *mut u8, len: usize) {
    #[cfg(any(target_arch = "x86_64", target_arch = "aarch64", target_arch = "x86"))]
    {
        // SAFETY: `ptr..ptr + len` is writable memory of one allocation (the caller's
        // contract), which is exactly what `write_bytes` needs.
        unsafe { std::ptr::write_bytes(ptr, 0, len) };
        // SAFETY: the assembly is empty: it executes no instruction, touches no register but
        // the one holding `ptr` (an input it does not change), and no stack. Without `nomem`
        // the compiler must assume it reads memory reachable from `ptr`, which is the point.
        unsafe { std::arch::asm!("/* {0} */", in(reg) ptr, options(nostack, preserves_flags)) };
    }
    #[cfg(not(any(target_arch = "x86_64", target_arch = "aarch64", target_arch = "x86")))]
    {
        for i in 0..len {
            // SAFETY: `i < len`: inside the caller's block.
            unsafe { std::ptr::write_volatile(ptr.add(i), 0) };
        }
        std::sync::atomic::compiler_fence(std::sync::atomic::Ordering::SeqCst);
    }
}

/// Gives the memory malloc holds free back to the operating system, where it can (glibc); a
/// no-op elsewhere. For after a large temporary allocation, such as the gateway reading the
/// whole SP state, so that its resident size is what it uses rather than its peak.
pub fn release_free_memory() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    {
        unsafe extern "C" {
            fn malloc_trim(pad: usize) -> std::ffi::c_int;
        }
        // SAFETY: `malloc_trim` takes a plain integer and has no preconditions; it is
        // thread-safe (it takes each arena's lock) and only hands free pages of malloc's own
        // heaps back to the kernel, so no live block is touched.
        unsafe {
            malloc_trim(0);
        }
    }
}

/// Makes every block of 128 KiB or more its own mapping, handed back to the system when freed
/// (glibc; a no-op elsewhere). glibc raises this threshold by itself each time such a block is
/// freed, after which argon2's 19 MiB work area (one per password check) and other large
/// buffers come from the arenas and stay with the process: a gateway grew by 19.5 MB per
/// password check and kept it. A fixed threshold also fixes the trim threshold, so freed memory
/// at the top of a heap goes back too. Call once, first thing in `main`.
pub fn return_large_blocks() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    {
        unsafe extern "C" {
            fn mallopt(param: std::ffi::c_int, value: std::ffi::c_int) -> std::ffi::c_int;
        }
        /// glibc's `M_MMAP_THRESHOLD` (malloc.h).
        const M_MMAP_THRESHOLD: std::ffi::c_int = -3;
        // SAFETY: `mallopt` takes two plain integers and has no memory preconditions; it takes
        // malloc's main lock while it changes the parameter, so it is safe to call at any time,
        // from any thread. `M_MMAP_THRESHOLD` with a value within glibc's bounds (0 to 32 MiB)
        // only changes how later allocations are placed; no live block is touched.
        unsafe {
            mallopt(M_MMAP_THRESHOLD, 128 * 1024);
        }
    }
}

/// An allocator that counts what it holds, for measuring memory per item (the benchmarks' load
/// generator uses it around [`ZeroOnFree`]; the gateway does not).
#[derive(Debug)]
pub struct Counting<A> {
    inner: A,
    /// Bytes asked for and not yet freed.
    requested: AtomicUsize,
    /// The same, as glibc's malloc rounds them into chunks: what the blocks really take.
    chunks: AtomicUsize,
}

/// What glibc's malloc takes for a block of `size` bytes on a 64-bit system: an 8-byte header,
/// rounded up to 16, never less than 32.
fn chunk_size(size: usize) -> usize {
    (size + 8).div_ceil(16).max(2) * 16
}

impl<A> Counting<A> {
    /// Counts the blocks of `inner`.
    pub const fn new(inner: A) -> Self {
        Counting {
            inner,
            requested: AtomicUsize::new(0),
            chunks: AtomicUsize::new(0),
        }
    }

    /// Bytes held now: (asked for, as malloc's chunks).
    pub fn held(&self) -> (usize, usize) {
        (
            self.requested.load(Ordering::Relaxed),
            self.chunks.load(Ordering::Relaxed),
        )
    }

    fn add(&self, size: usize) {
        self.requested.fetch_add(size, Ordering::Relaxed);
        self.chunks.fetch_add(chunk_size(size), Ordering::Relaxed);
    }

    fn sub(&self, size: usize) {
        self.requested.fetch_sub(size, Ordering::Relaxed);
        self.chunks.fetch_sub(chunk_size(size), Ordering::Relaxed);
    }
}

// SAFETY: every call is forwarded to `inner` with the caller's arguments, so what is returned
// is what `inner` returns under the same contract; the counters are plain atomics and touch no
// memory the caller sees. `realloc` is not overridden: the trait's default goes through our
// `alloc` and `dealloc`, which forward.
unsafe impl<A: GlobalAlloc> GlobalAlloc for Counting<A> {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        // SAFETY: forwarded with the caller's layout; see the impl's comment.
        let p = unsafe { self.inner.alloc(layout) };
        if !p.is_null() {
            self.add(layout.size());
        }
        p
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        // SAFETY: forwarded with the caller's layout; see the impl's comment.
        let p = unsafe { self.inner.alloc_zeroed(layout) };
        if !p.is_null() {
            self.add(layout.size());
        }
        p
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: the caller's block and layout, forwarded; see the impl's comment.
        unsafe { self.inner.dealloc(ptr, layout) };
        self.sub(layout.size());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counting_follows_what_is_held() {
        let a = Counting::new(ZeroOnFree);
        let layout = Layout::from_size_align(100, 8).unwrap();
        // SAFETY: a non-zero-size layout, freed once with the same layout.
        unsafe {
            let p = a.alloc(layout);
            assert!(!p.is_null());
            assert_eq!(a.held(), (100, 112));
            a.dealloc(p, layout);
        }
        assert_eq!(a.held(), (0, 0));
        assert_eq!(chunk_size(1), 32);
        assert_eq!(chunk_size(24), 32);
        assert_eq!(chunk_size(25), 48);
    }

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

    #[test]
    fn the_wipe_covers_every_byte_at_any_alignment_and_length_and_nothing_beyond() {
        let mut buf = [0xABu8; 96];
        for start in 0..9 {
            for len in [0usize, 1, 7, 8, 9, 15, 16, 17, 63, 64, 65] {
                buf.fill(0xAB);
                // SAFETY: `start + len <= 9 + 65 < 96`: inside `buf`.
                unsafe { wipe(buf.as_mut_ptr().add(start), len) };
                assert!(
                    buf[..start].iter().all(|&b| b == 0xAB),
                    "before {start}+{len}"
                );
                assert!(
                    buf[start..start + len].iter().all(|&b| b == 0),
                    "{start}+{len}"
                );
                assert!(
                    buf[start + len..].iter().all(|&b| b == 0xAB),
                    "after {start}+{len}"
                );
            }
        }
    }
}
