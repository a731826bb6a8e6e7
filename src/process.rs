//! The process around the pipeline: the allocator's arenas and the async runtime's threads,
//! each chosen by measurement (docs/performance.md, "Process: memory and threads").
//!
//! glibc gives every thread that allocates an arena of its own (up to 8 per core), and each
//! arena keeps the memory its thread freed for that thread alone: with the runtime's workers
//! and the blocking pool (parsing, store commits) that is megabytes held twice over. One
//! arena holds the peak of a cold `once` about 2.5-3.5 MB lower than two, at no CPU cost
//! measurable on this workload (the threads that allocate the most, parsing and the store,
//! are at most a few at once and are not allocation-bound). `M_TRIM_THRESHOLD` and
//! `M_MMAP_THRESHOLD` were measured too and left at glibc's defaults: a peak is a
//! high-water mark, and returning freed memory early does not lower it.
//!
//! The runtime keeps a worker per core (src/cli/mod.rs `runtime()`): with one worker a cold
//! `once` held its peak 0.5-1 MB lower but took 0.15 s (about 18%) longer, since response
//! bodies are decompressed and items prepared on the workers.

/// Sets the allocator up for this process: one malloc arena, unless the environment sets
/// `GLIBC_TUNABLES=glibc.malloc.arena_max=N` (an operator's choice, and how the figures
/// in docs/performance.md compare). Call it first in `main`, before any thread starts.
pub fn tune_allocator() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    if !std::env::var("GLIBC_TUNABLES").is_ok_and(|t| t.contains("glibc.malloc.arena_max")) {
        // SAFETY: mallopt only sets an allocator parameter; called before any thread starts.
        unsafe {
            libc::mallopt(libc::M_ARENA_MAX, 1);
        }
    }
}
