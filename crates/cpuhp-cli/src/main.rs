//! `cpuhp`: the command-line face of the cpuhp crates.
//!
//! Exit codes: 0 success; 1 a replay differs from its recording; 2 bad usage or input (unreadable
//! file, malformed line); 3 a replay differs only by documented, deliberate differences.

mod replay;

use std::process::ExitCode;

use clap::{Parser, Subcommand};

/// The CPU hotplug machinery of a kernel: notifier chains with exact rollback and the Linux cpuhp
/// state machine, on a simulated machine.
#[derive(Parser, Debug)]
#[command(name = "cpuhp", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Replays traces recorded on Linux 6.1 on the simulated machine and compares every line.
    Replay(replay::Args),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let code = match cli.command {
        Command::Replay(args) => replay::run(&args),
    };
    ExitCode::from(code)
}
