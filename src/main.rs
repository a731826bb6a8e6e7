use clap::Parser;

fn main() -> std::process::ExitCode {
    feedwatch::process::tune_allocator();
    feedwatch::cli::main(feedwatch::cli::Cli::parse())
}
