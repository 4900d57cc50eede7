// The allocator of the counting twins (text built with --cfg counting): the
// system allocator, with a count of every call forwarded to it. It is a crate
// of its own, built as an rlib, so that the twin still calls the allocator
// through the __rust_alloc shims; the workload the bench measures is built
// without it, with the default allocator, as users build. The counters are
// relaxed: they are read once the timed phase is over.
use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};

pub struct Counting;

pub static ALLOCS: AtomicU64 = AtomicU64::new(0);
pub static FREES: AtomicU64 = AtomicU64::new(0);
pub static REALLOCS: AtomicU64 = AtomicU64::new(0);

/// (allocs, frees, reallocs) so far.
pub fn counts() -> (u64, u64, u64) {
    (ALLOCS.load(Relaxed), FREES.load(Relaxed), REALLOCS.load(Relaxed))
}

unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, l: Layout) -> *mut u8 {
        ALLOCS.fetch_add(1, Relaxed);
        System.alloc(l)
    }

    unsafe fn alloc_zeroed(&self, l: Layout) -> *mut u8 {
        ALLOCS.fetch_add(1, Relaxed);
        System.alloc_zeroed(l)
    }

    unsafe fn dealloc(&self, p: *mut u8, l: Layout) {
        FREES.fetch_add(1, Relaxed);
        System.dealloc(p, l)
    }

    unsafe fn realloc(&self, p: *mut u8, l: Layout, new: usize) -> *mut u8 {
        REALLOCS.fetch_add(1, Relaxed);
        System.realloc(p, l, new)
    }
}
