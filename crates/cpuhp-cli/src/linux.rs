//! `cpuhp linux`: the real kernel's CPU hotplug — probe, status, states, safe offline / online /
//! target, and recordings of the kernel's `cpuhp` tracepoints.
//!
//! Exit codes: 0 done; 1 a write failed (everything touched was restored) or a file could not be
//! read; 2 refused (last online CPU, last housekeeping CPU, no `online` file) or bad input;
//! 130 interrupted by SIGINT/SIGTERM (everything touched was restored).

use std::io::{BufRead, IsTerminal, Write as _};
use std::path::PathBuf;
use std::sync::atomic::AtomicBool;
use std::sync::Arc;

use clap::{Args as ClapArgs, Subcommand, ValueEnum};
use cpuhp_linux::{
    execute, parse_op, plan, probe, read_states, read_status, record, render_recording,
    states_json, states_text, status_table, Error, HostIo, Op, RecordFormat, Report, SimKernel,
    SysfsIo,
};

/// Arguments of `cpuhp linux`.
#[derive(ClapArgs, Debug)]
pub struct Args {
    /// The root the kernel's files are under: DIR/sys/devices/system/cpu, DIR/proc/mounts, …
    /// (a directory tree shaped like one, for tests).
    #[arg(long, global = true, value_name = "DIR", default_value = "/")]
    sysfs_root: PathBuf,
    /// The tracefs mount point (default: the tracefs line of DIR/proc/mounts).
    #[arg(long, global = true, value_name = "DIR")]
    tracefs: Option<PathBuf>,
    /// Runs against the simulator instead of the kernel: a Linux 6.1 machine with N CPUs that
    /// reacts to writes and traces like the kernel (a dry run).
    #[arg(long, global = true, value_name = "N", conflicts_with = "sysfs_root")]
    simulate: Option<u32>,
    #[command(subcommand)]
    command: Cmd,
}

#[derive(Subcommand, Debug)]
enum Cmd {
    /// What this machine allows (hotplug, online files, state control, fail, tracefs, root,
    /// isolated and housekeeping CPUs, kernel), each with its reason.
    Probe(JsonArg),
    /// Each CPU's online, hotplug/state, hotplug/target and hotplug/fail.
    Status(JsonArg),
    /// The live hotplug/states table (as `cpuhp states` prints a preset's).
    States(JsonArg),
    /// Takes CPUs offline (writes 0 to cpuN/online).
    Offline {
        /// CPUs, in Linux's list format (1,3-4).
        cpus: String,
        #[command(flatten)]
        yes: YesArg,
    },
    /// Brings CPUs online (writes 1 to cpuN/online).
    Online {
        /// CPUs, in Linux's list format.
        cpus: String,
        #[command(flatten)]
        yes: YesArg,
    },
    /// Moves a CPU to a state (writes it to cpuN/hotplug/target).
    Target {
        /// The CPU.
        cpu: u32,
        /// The state: a number or a name from hotplug/states.
        state: String,
        #[command(flatten)]
        yes: YesArg,
    },
    /// Records the kernel's cpuhp tracepoints around operations (in a private tracefs
    /// instance, removed afterwards) and prints them as `cpuhp run` does, with a per-state
    /// latency table. Operations are separated by `then`:
    /// `record -- offline 1 then online 1`.
    Record {
        /// Output format.
        #[arg(long, value_enum, default_value_t = FormatArg::Timeline)]
        format: FormatArg,
        #[command(flatten)]
        yes: YesArg,
        /// The operations: `offline CPUS`, `online CPUS`, `target CPU STATE`, `fail CPU STATE`,
        /// separated by `then`.
        #[arg(last = true, required = true, num_args = 1..)]
        ops: Vec<String>,
    },
}

#[derive(ClapArgs, Debug)]
struct JsonArg {
    /// JSON instead of a table.
    #[arg(long)]
    json: bool,
}

#[derive(ClapArgs, Debug)]
struct YesArg {
    /// Applies the plan without asking (required when stdin is not a terminal).
    #[arg(long, short = 'y')]
    yes: bool,
}

/// The recording formats.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
enum FormatArg {
    Timeline,
    Ftrace,
    Perfetto,
    Jsonl,
}

fn fail(e: &Error) -> u8 {
    eprintln!("error: {e}");
    e.exit_code()
}

pub fn run(args: &Args) -> u8 {
    let mut io: Box<dyn SysfsIo> = match args.simulate {
        Some(n) => match SimKernel::new(&cpuhp::preset::LINUX_6_1, n) {
            Ok(k) => Box::new(k),
            Err(e) => {
                eprintln!("error: --simulate {n}: {e}");
                return 2;
            }
        },
        None => match HostIo::new(&args.sysfs_root, args.tracefs.as_deref()) {
            Ok(h) => Box::new(h),
            Err(e) => return fail(&e),
        },
    };
    match &args.command {
        Cmd::Probe(j) => match probe(&*io) {
            Ok(p) if j.json => print_json(&p),
            Ok(p) => {
                print!("{}", p.table());
                0
            }
            Err(e) => fail(&e),
        },
        Cmd::Status(j) => match read_status(&*io) {
            Ok(rows) if j.json => print_json(&rows),
            Ok(rows) => {
                print!("{}", status_table(&rows));
                0
            }
            Err(e) => fail(&e),
        },
        Cmd::States(j) => match read_states(&*io) {
            Ok(rows) if j.json => {
                println!("{}", states_json(&rows));
                0
            }
            Ok(rows) => {
                print!("{}", states_text(&rows));
                0
            }
            Err(e) => fail(&e),
        },
        Cmd::Offline { cpus, yes } => op_cmd(&mut *io, &["offline", cpus], yes.yes),
        Cmd::Online { cpus, yes } => op_cmd(&mut *io, &["online", cpus], yes.yes),
        Cmd::Target { cpu, state, yes } => {
            op_cmd(&mut *io, &["target", &cpu.to_string(), state], yes.yes)
        }
        Cmd::Record { format, yes, ops } => record_cmd(&mut *io, ops, *format, yes.yes),
    }
}

fn print_json<T: cpuhp_linux::Serialize>(v: &T) -> u8 {
    match serde_json::to_string_pretty(v) {
        Ok(s) => {
            println!("{s}");
            0
        }
        Err(e) => {
            eprintln!("error: {e}");
            1
        }
    }
}

/// Asks before writing: `--yes`, or a `y` on a terminal.
fn confirm(yes: bool) -> Result<(), u8> {
    if yes {
        return Ok(());
    }
    if !std::io::stdin().is_terminal() {
        eprintln!("error: stdin is not a terminal: pass --yes to apply the plan");
        return Err(2);
    }
    eprint!("apply? [y/N] ");
    let _ = std::io::stderr().flush();
    let mut line = String::new();
    let _ = std::io::stdin().lock().read_line(&mut line);
    if matches!(line.trim(), "y" | "Y" | "yes") {
        Ok(())
    } else {
        eprintln!("nothing written");
        Err(1)
    }
}

/// SIGINT and SIGTERM set the flag the transaction checks before each write.
fn interrupt_flag() -> Arc<AtomicBool> {
    let flag = Arc::new(AtomicBool::new(false));
    for sig in [signal_hook::consts::SIGINT, signal_hook::consts::SIGTERM] {
        if let Err(e) = signal_hook::flag::register(sig, Arc::clone(&flag)) {
            eprintln!("warning: cannot handle signal {sig}: {e}");
        }
    }
    flag
}

fn print_report(r: &Report) {
    for l in &r.restored {
        eprintln!("restored {l}");
    }
    for l in &r.not_restored {
        eprintln!("NOT restored {l}");
    }
}

fn failure_code(e: &Error) -> u8 {
    match e {
        Error::Interrupted => 130,
        e => e.exit_code(),
    }
}

fn op_cmd(io: &mut dyn SysfsIo, words: &[&str], yes: bool) -> u8 {
    let flag = interrupt_flag();
    let op = match parse_op(words) {
        Ok(op) => op,
        Err(e) => return fail(&e),
    };
    let p = match plan(io, &op) {
        Ok(p) => p,
        Err(e) => return fail(&e),
    };
    print!("{p}");
    if let Err(code) = confirm(yes) {
        return code;
    }
    match execute(io, &p, Some(&flag)) {
        Ok(report) => {
            for j in &report.journal {
                println!("wrote {} > {}: {}", j.value, j.file, j.result);
            }
            print_report(&report);
            0
        }
        Err((e, report)) => {
            eprintln!("error: {e}");
            print_report(&report);
            if report.not_restored.is_empty() {
                eprintln!("everything touched is back where it was");
            }
            failure_code(&e)
        }
    }
}

/// Splits `offline 1 then online 1` into operations.
fn parse_ops(words: &[String]) -> Result<Vec<Op>, Error> {
    words
        .split(|w| w == "then")
        .map(parse_op)
        .collect::<Result<Vec<_>, _>>()
}

fn record_cmd(io: &mut dyn SysfsIo, words: &[String], format: FormatArg, yes: bool) -> u8 {
    let flag = interrupt_flag();
    let ops = match parse_ops(words) {
        Ok(o) => o,
        Err(e) => return fail(&e),
    };
    // The plans of later operations depend on the earlier ones: check the first, list the rest.
    if let Some(first) = ops.first() {
        if let Err(e) = plan(io, first) {
            return fail(&e);
        }
    }
    eprintln!(
        "plan: record {}",
        ops.iter()
            .map(ToString::to_string)
            .collect::<Vec<_>>()
            .join(" then ")
    );
    if let Err(code) = confirm(yes) {
        return code;
    }
    let rec = match record(io, &ops, Some(&flag), "") {
        Ok(r) => r,
        Err(e) => return fail(&e),
    };
    let f = match format {
        FormatArg::Timeline => RecordFormat::Timeline,
        FormatArg::Ftrace => RecordFormat::Ftrace,
        FormatArg::Perfetto => RecordFormat::Perfetto,
        FormatArg::Jsonl => RecordFormat::Jsonl,
    };
    let color = f == RecordFormat::Timeline && std::io::stdout().is_terminal();
    print!("{}", render_recording(&rec, f, color));
    print_report(&rec.report);
    match &rec.outcome {
        Ok(()) => 0,
        Err(e) => {
            eprintln!("error: {e}");
            failure_code(e)
        }
    }
}
