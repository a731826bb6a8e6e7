use clap::Parser;

fn main() -> std::process::ExitCode {
    feedwatch::cli::main(feedwatch::cli::Cli::parse())
}
