//! The process's own memory.

/// Hands the memory an evaluation freed back to the operating system. glibc keeps
/// freed memory in the arena of the thread that used it, and evaluations (the largest
/// allocations of a reconcile: every finding of a profile) run on blocking-pool
/// threads; without this the resident set grows towards the sum of every arena's
/// high-water mark instead of the largest one.
#[cfg(all(target_os = "linux", target_env = "gnu"))]
pub(super) fn release_freed_memory() {
    unsafe extern "C" {
        fn malloc_trim(pad: usize) -> std::ffi::c_int;
    }
    // SAFETY: malloc_trim only walks and trims glibc's own arenas; it has no
    // preconditions and is safe to call from any thread at any time.
    unsafe {
        malloc_trim(0);
    }
}

/// Other allocators return freed memory on their own terms.
#[cfg(not(all(target_os = "linux", target_env = "gnu")))]
pub(super) fn release_freed_memory() {}
