//! `cpuhp`: the command-line face of the cpuhp crates.
//!
//! Exit codes: 0 success; 1 an invariant broke (`run`, `explore`, `demo`, `torture`) or a replay differs
//! from its recording; 2 bad usage or input (unreadable file, malformed scenario or line);
//! 3 a replay differs only by documented, deliberate differences.

mod linux;
mod replay;
mod rules;
mod scenario_cmd;
mod states;
mod torture;

use std::process::ExitCode;

use clap::{Parser, Subcommand};

/// The CPU hotplug machinery of a kernel: notifier chains with exact rollback and the Linux cpuhp
/// state machine, on a simulated machine whose CPUs are threads.
#[derive(Parser, Debug)]
#[command(name = "cpuhp", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Runs the built-in demo: offline, online, a vetoed online and a failing online with its
    /// exact rollback, on four simulated CPUs.
    Demo(scenario_cmd::RenderArgs),
    /// Runs a scenario file and prints what happened (timeline, ftrace, Perfetto JSON or JSON
    /// lines).
    Run(scenario_cmd::RunArgs),
    /// Runs a scenario once per failure point (and per rollback failure point) and checks the
    /// invariants; exits 1 and names the minimal failure if one breaks.
    Explore(scenario_cmd::ExploreArgs),
    /// Lists every key and operation of a scenario file, with an example each.
    Ops,
    /// Prints the rules by their names (the keys of the timeline), or the ones named.
    Rules(rules::Args),
    /// Prints a preset's state table, as /sys/devices/system/cpu/hotplug/states.
    States(states::Args),
    /// Replays traces recorded on Linux 6.1 or 6.12 on the simulated machine and compares every
    /// line.
    Replay(replay::Args),
    /// Random hotplug operations with random failures from several threads on one simulated
    /// machine for a while, every invariant checked; exits 1 with the seed if one broke.
    Torture(torture::Args),
    /// The real kernel: probe, status, states, safe offline/online/target, recordings.
    Linux(linux::Args),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let code = match cli.command {
        Command::Demo(args) => scenario_cmd::demo(&args),
        Command::Run(args) => scenario_cmd::run_cmd(&args),
        Command::Explore(args) => scenario_cmd::explore_cmd(&args),
        Command::Ops => scenario_cmd::ops(),
        Command::Rules(args) => rules::run(&args),
        Command::States(args) => states::run(&args),
        Command::Replay(args) => replay::run(&args),
        Command::Torture(args) => torture::run(&args),
        Command::Linux(args) => linux::run(&args),
    };
    ExitCode::from(code)
}
