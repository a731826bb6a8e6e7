//! The process around the pipeline: the allocator's arenas and the async runtime's threads,
//! each chosen by measurement (docs/performance.md, "Process: memory and threads").
//!
//! glibc gives every thread that allocates an arena of its own (up to 8 per core), and each
//! arena keeps the memory its thread freed for that thread alone: with the runtime's workers,
//! the blocking pool (parsing, store commits) and sled's threads that is megabytes held
//! several times over. Two arenas, measured against one on a cold `once` of 200 x 50 items
//! (medians of 8 runs each, interleaved): one arena held the peak 1.1 MB lower (41.3 against
//! 42.4 MB) but cost 0.11 s of wall time and 0.15 s of CPU (0.77 s wall against 0.66), the
//! threads then waiting on its lock (more system time). `M_TRIM_THRESHOLD`, `M_TOP_PAD` and
//! `M_MMAP_THRESHOLD` were measured too and left at glibc's defaults: a peak is a
//! high-water mark, and returning freed memory early does not lower it.
//!
//! The runtime keeps a worker per core (src/cli/mod.rs `runtime()`): with one worker a cold
//! `once` held its peak 0.5-1 MB lower but took 0.15 s (about 18%) longer, since response
//! bodies are decompressed and items prepared on the workers.

/// Sets the allocator up for this process: two malloc arenas, unless the environment sets
/// `GLIBC_TUNABLES=glibc.malloc.arena_max=N` (an operator's choice, and how the figures
/// in docs/performance.md compare). Call it first in `main`, before any thread starts.
pub fn tune_allocator() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    if !std::env::var("GLIBC_TUNABLES").is_ok_and(|t| t.contains("glibc.malloc.arena_max")) {
        // SAFETY: mallopt only sets an allocator parameter; called before any thread starts.
        unsafe {
            libc::mallopt(libc::M_ARENA_MAX, 2);
        }
    }
}
