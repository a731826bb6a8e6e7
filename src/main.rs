use clap::Parser;

fn main() -> std::process::ExitCode {
    limit_malloc_arenas();
    feedwatch::cli::main(feedwatch::cli::Cli::parse())
}

/// glibc gives every thread that allocates its own malloc arena (up to 8 per core), and
/// each keeps freed memory: with a few runtime and blocking threads that is tens of MB for
/// nothing. Two arenas keep peak memory near what the data needs.
fn limit_malloc_arenas() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: mallopt only sets an allocator parameter; called before any thread starts.
    unsafe {
        libc::mallopt(libc::M_ARENA_MAX, 2);
    }
}
