//! The process around the pipeline: the allocator's arenas and the async runtime's threads,
//! each chosen by measurement (docs/performance.md, "Process: memory and threads").
//!
//! glibc gives every thread that allocates an arena of its own (up to 8 per core), and each
//! arena keeps the memory its thread freed for that thread alone: with the runtime's workers
//! and the blocking pool (parsing, store commits) that is megabytes held twice over. One
//! arena holds the peak of a cold `once` about 3.5 MB lower than two, at no CPU cost
//! measurable on this workload (the threads that allocate the most, parsing and the store,
//! are at most a few at once and are not allocation-bound). `M_TRIM_THRESHOLD` and
//! `M_MMAP_THRESHOLD` were measured too and left at glibc's defaults: a peak is a
//! high-water mark, and returning freed memory early does not lower it.
//!
//! The runtime of a short command (`once`, `poll NAME`) has one worker thread: its async
//! work is waiting on sockets, and the CPU-bound work (parsing, store commits) runs on the
//! blocking pool anyway; a second worker cost memory (its stack, its caches, its share of
//! the allocator) and bought no time. `run` keeps a worker per core, for its HTTP API and
//! control socket beside the polls.

/// Most threads the blocking pool (parsing, store commits) runs at once; the parsing ones
/// are further bounded by [`crate::parse::parsing_permit`].
const MAX_BLOCKING_THREADS: usize = 8;

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

/// What a runtime is for: the long-running service, or a command that runs one cycle (or
/// one request) and exits.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Workload {
    /// `run`: a worker per core.
    Service,
    /// `once`, `poll NAME` and the other short commands: one worker.
    Short,
}

/// The async runtime for `workload`, with a bounded blocking pool. `TOKIO_WORKER_THREADS=N`
/// in the environment sets the number of workers of either.
pub fn runtime(workload: Workload) -> std::io::Result<tokio::runtime::Runtime> {
    let mut builder = tokio::runtime::Builder::new_multi_thread();
    if workload == Workload::Short && std::env::var_os("TOKIO_WORKER_THREADS").is_none() {
        builder.worker_threads(1);
    }
    builder
        .enable_all()
        .max_blocking_threads(MAX_BLOCKING_THREADS)
        .build()
}
