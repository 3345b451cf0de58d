//! What berthd holds while it idles (issue 29). An install inflates its package on
//! several threads; glibc gives each thread a malloc arena of its own, and the
//! 1 MiB blocks inflated there, freed when the install ends, stay in those arenas:
//! berthd idled at 13–15 MiB with 20 containers, against 7–9 MiB before the parallel
//! reader. Measured with bench/footprint.sh (figures in the note resolving issue 29):
//!
//! - at start, one arena for every thread (`M_ARENA_MAX`): the inflate workers
//!   allocate a block per 1 MiB member, too few calls to contend on one lock;
//! - after each install, `malloc_trim(0)` returns the arena's free pages (glibc
//!   gives back whole free pages anywhere in the heap, not only at its top).
//!
//! Also measured, and not kept (bench/footprint.sh, 20 installs): a fixed 128 KiB
//! mmap threshold, so that a freed 1 MiB block is unmapped at once, made LXC
//! installs 20% slower (every read-ahead buffer mapped and unmapped); at 512 KiB it
//! cost nothing measurable but gained nothing over one arena; two arenas without it
//! let berthd's peak during podman installs pass 12 MiB.
//!
//! Only glibc has these calls; with another libc both are no-ops.

/// Applies the allocator settings; berthd calls it first thing.
pub fn tune_allocator() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    glibc::tune();
}

/// Gives the allocator's free pages back to the kernel (after an install).
pub fn release_free_memory() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    glibc::trim();
}

#[cfg(all(target_os = "linux", target_env = "gnu"))]
#[allow(unsafe_code)] // glibc's allocator knobs exist only as C functions
mod glibc {
    use std::ffi::c_int;

    extern "C" {
        fn mallopt(param: c_int, value: c_int) -> c_int;
        fn malloc_trim(pad: usize) -> c_int;
    }

    // malloc.h
    const M_ARENA_MAX: c_int = -8;

    pub fn tune() {
        // SAFETY: mallopt takes two integers and changes only allocator settings; it
        // is called before berthd starts any thread.
        unsafe {
            mallopt(M_ARENA_MAX, 1);
        }
    }

    pub fn trim() {
        // SAFETY: malloc_trim takes a size and is thread-safe (it locks each arena).
        unsafe {
            malloc_trim(0);
        }
    }
}
