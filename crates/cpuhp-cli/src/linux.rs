//! `cpuhp linux`: the real kernel's CPU hotplug — probe, status, states, safe offline / online /
//! target, and recordings of the kernel's `cpuhp` tracepoints.
//!
//! Exit codes: 0 done; 1 a write failed (everything touched was restored) or a file could not be
//! read; 2 refused (last online CPU, last housekeeping CPU, no `online` file) or bad input;
//! 130 interrupted by SIGINT/SIGTERM (everything touched was restored).

use std::io::{BufRead, IsTerminal, Write as _};
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::AtomicBool;

use clap::{Args as ClapArgs, Subcommand, ValueEnum};
use cpuhp_linux::{
    Error, HostIo, Op, RecordFormat, Report, SimKernel, SysfsIo, execute, parse_op, plan, probe,
    read_states, read_status, record, render_recording, states_json, states_text, status_table,
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
    /// Records a full offline and online of one CPU and writes a preset file: the live table
    /// with each state's callbacks and where they ran (the simulator loads it:
    /// `cpuhp states --preset-file FILE`).
    Learn {
        /// The CPU to take offline and back online.
        #[arg(long)]
        cpu: u32,
        /// Where to write the preset file.
        #[arg(short = 'o', long = "output", value_name = "FILE")]
        output: PathBuf,
        #[command(flatten)]
        yes: YesArg,
    },
    /// Runs operations on the kernel (recorded) and on the simulator booted with the learned
    /// preset (or the built-in one for the kernel's version), and compares callback by
    /// callback: exit 0 identical, 1 different (the first difference shown), 2 bad input.
    Check {
        /// A preset file from `linux learn` (default: the built-in preset for this kernel).
        #[arg(long, value_name = "FILE")]
        preset_file: Option<PathBuf>,
        #[command(flatten)]
        yes: YesArg,
        /// The operations, separated by `then`.
        #[arg(last = true, required = true, num_args = 1..)]
        ops: Vec<String>,
    },
    /// For every state whose `fail` the kernel accepts, both directions: inject, operate,
    /// record, restore, and compare the kernel's rollback with the simulator's prediction.
    /// Exit 0 all match, 1 one differs, 2 bad input, 130 interrupted (restored).
    Sweep {
        /// CPUs to operate (default: the highest CPU that may go offline).
        #[arg(long)]
        cpus: Option<String>,
        /// States to inject at (numbers, Linux list format; default: all).
        #[arg(long)]
        states: Option<String>,
        /// Starts no new case after this many seconds.
        #[arg(long, value_name = "S")]
        max_seconds: Option<u64>,
        /// A preset file from `linux learn` (default: the built-in preset for this kernel).
        #[arg(long, value_name = "FILE")]
        preset_file: Option<PathBuf>,
        #[command(flatten)]
        json: JsonArg,
        #[command(flatten)]
        yes: YesArg,
    },
    /// Prints changes of the online, present and possible CPU sets as they happen (uevents on
    /// a netlink socket, each followed by a re-read of sysfs; polling where the socket is not
    /// allowed or with --poll).
    Watch(WatchArgs),
    /// Runs userspace cpuhp states on the kernel's CPUs: each startup on a thread pinned to its
    /// CPU when the kernel brings it online, the teardowns when it goes (after the fact), or
    /// before it goes with --offline (they may veto; the kernel's refusal undoes them).
    /// Exit 0 all done, 1 a callback failed or the kernel refused, 2 refused or bad input.
    Follow(FollowArgs),
    /// Compares a preset file with a built-in preset: exit 0 identical, 1 different (one line per
    /// difference), 2 bad input.
    DiffPreset {
        /// The preset file (`linux learn -o`).
        file: PathBuf,
        /// The built-in preset.
        #[arg(long, default_value = "linux-6.1")]
        preset: String,
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

#[derive(ClapArgs, Debug)]
struct WatchArgs {
    /// Output format: a line per change, or JSON lines.
    #[arg(long, value_enum, default_value_t = WatchFormat::Timeline)]
    format: WatchFormat,
    /// Stops after N changes (follow: N reports).
    #[arg(long, value_name = "N")]
    count: Option<u64>,
    /// Stops after S seconds.
    #[arg(long, value_name = "S")]
    seconds: Option<f64>,
    /// Polls every MS milliseconds instead of listening for uevents.
    #[arg(long, value_name = "MS")]
    poll: Option<u64>,
}

#[derive(ClapArgs, Debug)]
struct FollowArgs {
    #[command(flatten)]
    watch: WatchArgs,
    /// The userspace states to install, in order.
    #[arg(long, value_delimiter = ',', default_value = "follow:a,follow:b")]
    states: Vec<String>,
    /// Makes a state's startup fail with ENOMEM on a CPU (repeatable).
    #[arg(long, value_name = "NAME@CPU")]
    fail_startup: Vec<String>,
    /// Makes a state's teardown refuse with EBUSY on a CPU: a veto (repeatable).
    #[arg(long, value_name = "NAME@CPU")]
    veto: Vec<String>,
    /// Appends `startup NAME cpu N` to FILE as each startup succeeds, with one write (in a test
    /// guest, tracefs's trace_marker: the kernel timestamps it against its own events).
    #[arg(long, value_name = "FILE")]
    mark: Option<PathBuf>,
    /// Takes this CPU offline in coordination: teardowns first, then `online` is written. Without
    /// --count or --seconds, exits afterwards.
    #[arg(long, value_name = "CPU")]
    offline: Option<u32>,
    #[command(flatten)]
    yes: YesArg,
}

/// The watch formats.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
enum WatchFormat {
    Timeline,
    Jsonl,
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
    if let Cmd::DiffPreset { file, preset } = &args.command {
        return diff_cmd(file, preset);
    }
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
        Cmd::Watch(w) => watch_cmd(io, w),
        Cmd::Follow(f) => follow_cmd(io, f),
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
        Cmd::Learn { cpu, output, yes } => learn_cmd(&mut *io, *cpu, output, yes.yes),
        Cmd::DiffPreset { file, preset } => diff_cmd(file, preset),
        Cmd::Check {
            preset_file,
            yes,
            ops,
        } => check_cmd(&mut *io, preset_file.as_deref(), ops, yes.yes),
        Cmd::Sweep {
            cpus,
            states,
            max_seconds,
            preset_file,
            json,
            yes,
        } => sweep_cmd(
            &mut *io,
            SweepArgs {
                cpus: cpus.as_deref(),
                states: states.as_deref(),
                max_seconds: *max_seconds,
                preset_file: preset_file.as_deref(),
                json: json.json,
                yes: yes.yes,
            },
        ),
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
        Err(f) => {
            let (e, report) = (f.error, f.report);
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

fn learn_cmd(io: &mut dyn SysfsIo, cpu: u32, output: &std::path::Path, yes: bool) -> u8 {
    for op in [Op::Offline(vec![cpu]), Op::Online(vec![cpu])] {
        if let Err(e) = plan(io, &op) {
            return fail(&e);
        }
    }
    eprintln!(
        "plan: record offline {cpu} then online {cpu}; write {}",
        output.display()
    );
    if let Err(code) = confirm(yes) {
        return code;
    }
    match cpuhp_linux::learn(io, cpu, "") {
        Ok(f) => match std::fs::write(output, f.to_json()) {
            Ok(()) => {
                let called = f
                    .states
                    .iter()
                    .filter(|s| s.startup.is_some() || s.teardown.is_some())
                    .count();
                println!(
                    "wrote {}: {} states, {called} with a traced callback, kernel {}",
                    output.display(),
                    f.states.len(),
                    f.kernel
                );
                0
            }
            Err(e) => {
                eprintln!("error: write {}: {e}", output.display());
                2
            }
        },
        Err(e) => fail(&e),
    }
}

fn diff_cmd(file: &std::path::Path, preset: &str) -> u8 {
    let Some(p) = cpuhp::preset::by_name(preset) else {
        eprintln!("error: no built-in preset {preset:?}");
        return 2;
    };
    let f = match std::fs::read_to_string(file) {
        Ok(t) => match cpuhp_linux::PresetFile::parse(&t) {
            Ok(f) => f,
            Err(e) => {
                eprintln!("error: {e}");
                return 2;
            }
        },
        Err(e) => {
            eprintln!("error: read {}: {e}", file.display());
            return 2;
        }
    };
    let d = f.diff(p);
    if d.is_empty() {
        println!(
            "identical: {} states ({} vs {preset})",
            f.states.len(),
            f.kernel
        );
        0
    } else {
        for l in &d {
            println!("{l}");
        }
        println!("{} differences ({} vs {preset})", d.len(), f.kernel);
        1
    }
}

fn check_cmd(
    io: &mut dyn SysfsIo,
    preset_file: Option<&std::path::Path>,
    words: &[String],
    yes: bool,
) -> u8 {
    let ops = match parse_ops(words) {
        Ok(o) => o,
        Err(e) => return fail(&e),
    };
    let preset = match choose_preset(io, preset_file) {
        Ok(p) => p,
        Err(code) => return code,
    };
    if let Some(first) = ops.first() {
        if let Err(e) = plan(io, first) {
            return fail(&e);
        }
    }
    eprintln!(
        "plan: check {} against preset {} ({})",
        ops.iter()
            .map(ToString::to_string)
            .collect::<Vec<_>>()
            .join(" then "),
        preset.name,
        preset.kernel
    );
    if let Err(code) = confirm(yes) {
        return code;
    }
    match cpuhp_linux::check(io, &ops, preset, "") {
        Ok(c) => {
            print!("{}", c.report(3));
            print_report(&c.kernel.report);
            u8::from(c.first_difference.is_some())
        }
        Err(e) => fail(&e),
    }
}

/// The learned preset, or the built-in one for the kernel's release; `Err(2)` when neither.
fn choose_preset(
    io: &dyn SysfsIo,
    preset_file: Option<&std::path::Path>,
) -> Result<&'static cpuhp::preset::Preset, u8> {
    Ok(match preset_file {
        Some(f) => match std::fs::read_to_string(f)
            .map_err(|e| Error::Usage(format!("read {}: {e}", f.display())))
            .and_then(|t| cpuhp_linux::PresetFile::parse(&t))
            .and_then(|p| p.to_preset())
        {
            Ok(p) => p,
            Err(e) => {
                eprintln!("error: {e}");
                return Err(2);
            }
        },
        None => {
            let release = cpuhp_linux::probe(io)
                .ok()
                .and_then(|p| p.kernel.value)
                .unwrap_or_default();
            match cpuhp_linux::preset_for_kernel(&release) {
                Some(p) => p,
                None => {
                    eprintln!(
                        "error: no built-in preset for kernel {release:?}: learn one (`cpuhp linux learn`) and pass --preset-file"
                    );
                    return Err(2);
                }
            }
        }
    })
}

struct SweepArgs<'a> {
    cpus: Option<&'a str>,
    states: Option<&'a str>,
    max_seconds: Option<u64>,
    preset_file: Option<&'a std::path::Path>,
    json: bool,
    yes: bool,
}

fn sweep_cmd(io: &mut dyn SysfsIo, a: SweepArgs<'_>) -> u8 {
    let flag = interrupt_flag();
    let preset = match choose_preset(io, a.preset_file) {
        Ok(p) => p,
        Err(code) => return code,
    };
    let cpus = match a.cpus {
        Some(l) => match cpuhp_linux::parse_cpus(l) {
            Ok(c) => c,
            Err(e) => return fail(&e),
        },
        None => match cpuhp_linux::CpuInfo::read(io) {
            Ok(info) => {
                let stay = info.must_stay();
                match info
                    .online_files
                    .iter()
                    .filter(|c| info.online.contains(*c) && !stay.contains(*c))
                    .last()
                {
                    Some(c) => vec![c.0],
                    None => {
                        eprintln!("error: refused: no CPU may go offline");
                        return 2;
                    }
                }
            }
            Err(e) => return fail(&e),
        },
    };
    let states = match a.states.map(cpuhp_linux::parse_cpus) {
        None => None,
        Some(Ok(s)) => Some(s),
        Some(Err(_)) => {
            eprintln!("error: --states: not a list of state numbers (e.g. 199,201-210)");
            return 2;
        }
    };
    eprintln!(
        "plan: sweep CPU {} over {} states, both directions, against preset {} ({}); every case restored",
        cpus.iter()
            .map(u32::to_string)
            .collect::<Vec<_>>()
            .join(","),
        states
            .as_ref()
            .map_or("all".to_string(), |s| s.len().to_string()),
        preset.name,
        preset.kernel
    );
    if let Err(code) = confirm(a.yes) {
        return code;
    }
    let bar = if std::io::stderr().is_terminal() {
        indicatif::ProgressBar::new(0)
    } else {
        indicatif::ProgressBar::hidden()
    };
    let r = cpuhp_linux::sweep(
        io,
        &cpus,
        states.as_deref(),
        preset,
        a.max_seconds.map(std::time::Duration::from_secs),
        Some(&flag),
        |done, planned| {
            bar.set_length(planned as u64);
            bar.set_position(done as u64);
        },
    );
    bar.finish_and_clear();
    let s = match r {
        Ok(s) => s,
        Err(e) => return fail(&e),
    };
    if a.json {
        print_json(&s);
    } else {
        print!("{}", s.table());
        for c in s.cases.iter().filter(|c| !c.matches) {
            print!(
                "\ncpu {} state {} {} {}:\n{}",
                c.cpu,
                c.state,
                c.name,
                c.direction,
                c.difference.as_deref().unwrap_or("")
            );
        }
    }
    if s.stopped.as_deref() == Some("interrupted") {
        eprintln!("interrupted: every case run was restored");
        130
    } else {
        u8::from(s.cases.iter().any(|c| !c.matches))
    }
}

/// Microseconds since the Unix epoch, and `HH:MM:SS.uuuuuu` (UTC).
fn stamp(t: std::time::SystemTime) -> (u128, String) {
    let us = t
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_micros());
    let s = us / 1_000_000;
    let clock = format!(
        "{:02}:{:02}:{:02}.{:06}",
        s / 3600 % 24,
        s / 60 % 60,
        s % 60,
        us % 1_000_000
    );
    (us, clock)
}

/// The watcher a `watch` or `follow` asked for.
fn open_watcher(
    io: Box<dyn SysfsIo>,
    w: &WatchArgs,
) -> Result<cpuhp_linux::CpuWatcher<Box<dyn SysfsIo>>, Error> {
    let watcher = match w.poll {
        Some(ms) => {
            cpuhp_linux::CpuWatcher::polling(io, std::time::Duration::from_millis(ms.max(1)))?
        }
        None => cpuhp_linux::CpuWatcher::new(io)?,
    };
    if let Some(why) = watcher.fallback() {
        eprintln!("warning: polling every second: {why}");
    }
    Ok(watcher)
}

/// When to stop: after `--seconds`, or on SIGINT/SIGTERM.
struct Stop {
    deadline: Option<std::time::Instant>,
    flag: Arc<AtomicBool>,
}

impl Stop {
    fn new(w: &WatchArgs) -> Result<Stop, Error> {
        let deadline = match w.seconds {
            Some(s) if s.is_finite() && s >= 0.0 => {
                Some(std::time::Instant::now() + std::time::Duration::from_secs_f64(s.min(1e9)))
            }
            Some(s) => return Err(Error::Usage(format!("--seconds {s}: not a duration"))),
            None => None,
        };
        Ok(Stop {
            deadline,
            flag: interrupt_flag(),
        })
    }

    /// How long the next wait may take; `None` when it is time to stop. Short waits, so that a
    /// signal is noticed even where a wait is not interrupted by it.
    fn next_wait(&self) -> Option<std::time::Duration> {
        if self.flag.load(std::sync::atomic::Ordering::SeqCst) {
            return None;
        }
        let slice = std::time::Duration::from_millis(250);
        match self.deadline {
            Some(d) => {
                let left = d.saturating_duration_since(std::time::Instant::now());
                (!left.is_zero()).then(|| left.min(slice))
            }
            None => Some(slice),
        }
    }
}

fn print_sets<I: SysfsIo>(w: &cpuhp_linux::CpuWatcher<I>, format: WatchFormat) {
    let s = w.sets();
    let (us, clock) = stamp(std::time::SystemTime::now());
    match format {
        WatchFormat::Timeline => println!(
            "{clock}  sets: online {} · present {} · possible {} · source {}",
            s.online,
            s.present,
            s.possible,
            w.source()
        ),
        WatchFormat::Jsonl => println!(
            "{}",
            serde_json::json!({
                "ts_us": us as u64, "event": "sets", "online": s.online.to_string(),
                "present": s.present.to_string(), "possible": s.possible.to_string(),
                "source": w.source(),
            })
        ),
    }
}

fn print_change(c: &cpuhp_linux::CpuChange, format: WatchFormat) {
    let (us, clock) = stamp(c.at);
    match format {
        WatchFormat::Timeline => println!(
            "{clock}  cpu {} {}  ({})  online {}",
            c.cpu, c.action, c.cause, c.online
        ),
        WatchFormat::Jsonl => {
            let (cause, seqnum) = match c.cause {
                cpuhp_linux::Cause::Uevent { seqnum } => ("uevent", seqnum),
                cpuhp_linux::Cause::Reread => ("reread", None),
            };
            println!(
                "{}",
                serde_json::json!({
                    "ts_us": us as u64, "event": "change", "cpu": c.cpu,
                    "action": c.action.to_string(), "cause": cause, "seqnum": seqnum,
                    "online": c.online.to_string(),
                })
            );
        }
    }
    let _ = std::io::stdout().flush();
}

fn watch_cmd(io: Box<dyn SysfsIo>, w: &WatchArgs) -> u8 {
    let stop = match Stop::new(w) {
        Ok(s) => s,
        Err(e) => return fail(&e),
    };
    let mut watcher = match open_watcher(io, w) {
        Ok(w) => w,
        Err(e) => return fail(&e),
    };
    print_sets(&watcher, w.format);
    let mut seen = 0u64;
    while w.count.is_none_or(|n| seen < n) {
        let Some(limit) = stop.next_wait() else { break };
        match watcher.wait(Some(limit)) {
            Ok(Some(changes)) => {
                for c in &changes {
                    if w.count.is_some_and(|n| seen >= n) {
                        break;
                    }
                    print_change(c, w.format);
                    seen += 1;
                }
            }
            Ok(None) => break,
            Err(e) => return fail(&e),
        }
    }
    0
}

/// `NAME@CPU` pairs.
fn parse_at(items: &[String], what: &str) -> Result<Vec<(String, u32)>, Error> {
    items
        .iter()
        .map(|i| {
            i.rsplit_once('@')
                .and_then(|(n, c)| Some((n.to_string(), c.parse().ok()?)))
                .ok_or_else(|| Error::Usage(format!("--{what} {i:?}: expected NAME@CPU")))
        })
        .collect()
}

fn print_follow(r: &cpuhp_linux::FollowReport, format: WatchFormat) {
    let (us, clock) = stamp(std::time::SystemTime::now());
    match format {
        WatchFormat::Timeline => {
            for s in &r.steps {
                println!("{clock}    {s}");
            }
            println!("{clock}  {r}");
        }
        WatchFormat::Jsonl => {
            for s in &r.steps {
                println!(
                    "{}",
                    serde_json::json!({
                        "ts_us": us as u64, "event": "step", "cpu": s.cpu, "state": s.state.get(),
                        "name": s.name, "startup": s.startup,
                        "result": s.result.map_or_else(|e| e.to_string(), |()| "ok".into()),
                        "pinned": s.pinned, "ran_on": s.ran_on,
                    })
                );
            }
            let outcome = match &r.outcome {
                cpuhp_linux::Outcome::Done => "done",
                cpuhp_linux::Outcome::StartupFailed { .. } => "startup_failed",
                cpuhp_linux::Outcome::TeardownFailed { .. } => "teardown_failed",
                cpuhp_linux::Outcome::Vetoed { .. } => "vetoed",
                cpuhp_linux::Outcome::KernelRefused { .. } => "kernel_refused",
                cpuhp_linux::Outcome::Refused(_) => "refused",
            };
            println!(
                "{}",
                serde_json::json!({
                    "ts_us": us as u64, "event": "report", "cpu": r.cpu,
                    "kind": r.kind.to_string(), "outcome": outcome, "message": r.to_string(),
                })
            );
        }
    }
    let _ = std::io::stdout().flush();
}

/// A state whose callbacks succeed, but for the injected failures; a successful startup appends
/// a line to `mark`.
fn follow_state(
    name: &str,
    fail_on: Vec<u32>,
    veto_on: Vec<u32>,
    mark: Option<PathBuf>,
) -> cpuhp::Online {
    let name = name.to_string();
    cpuhp::Online::new()
        .startup(move |cpu: cpuhp::CpuId| {
            if fail_on.contains(&cpu.0) {
                return Err(cpuhp::Errno::ENOMEM);
            }
            if let Some(m) = &mark {
                let line = format!("startup {name} cpu {}\n", cpu.0);
                let w = std::fs::OpenOptions::new()
                    .append(true)
                    .open(m)
                    .and_then(|mut f| f.write_all(line.as_bytes()));
                if let Err(e) = w {
                    eprintln!("warning: --mark {}: {e}", m.display());
                }
            }
            Ok(())
        })
        .teardown(move |cpu: cpuhp::CpuId| {
            if veto_on.contains(&cpu.0) {
                Err(cpuhp::Errno::EBUSY)
            } else {
                Ok(())
            }
        })
}

fn follow_cmd(io: Box<dyn SysfsIo>, a: &FollowArgs) -> u8 {
    let w = &a.watch;
    let (fails, vetoes) = match (
        parse_at(&a.fail_startup, "fail-startup"),
        parse_at(&a.veto, "veto"),
    ) {
        (Ok(f), Ok(v)) => (f, v),
        (Err(e), _) | (_, Err(e)) => return fail(&e),
    };
    for (n, _) in fails.iter().chain(&vetoes) {
        if !a.states.contains(n) {
            return fail(&Error::Usage(format!(
                "no state {n:?} (states: {})",
                a.states.join(",")
            )));
        }
    }
    let stop = match Stop::new(w) {
        Ok(s) => s,
        Err(e) => return fail(&e),
    };
    let mut watcher = match open_watcher(io, w) {
        Ok(w) => w,
        Err(e) => return fail(&e),
    };
    print_sets(&watcher, w.format);
    let mut follower = match cpuhp_linux::Follower::new(watcher.sets()) {
        Ok(f) => f,
        Err(e) => return fail(&e),
    };
    let mut code = 0;
    for name in &a.states {
        let on = |list: &[(String, u32)]| {
            list.iter()
                .filter(|(n, _)| n == name)
                .map(|(_, c)| *c)
                .collect()
        };
        if let Err(r) = follower.add_state(
            name,
            follow_state(name, on(&fails), on(&vetoes), a.mark.clone()),
        ) {
            print_follow(&r, w.format);
            return 1;
        }
    }
    if let Some(cpu) = a.offline {
        let plan = match plan(watcher.io(), &Op::Offline(vec![cpu])) {
            Ok(p) => p,
            Err(e) => return fail(&e),
        };
        // stderr: stdout stays one JSON object per line with --format jsonl.
        eprint!("{plan}");
        if let Err(code) = confirm(a.yes.yes) {
            return code;
        }
        let r = follower.offline(watcher.io_mut(), cpu);
        print_follow(&r, w.format);
        code = match r.outcome {
            cpuhp_linux::Outcome::Done => 0,
            cpuhp_linux::Outcome::Refused(_) => 2,
            _ => 1,
        };
        if w.count.is_none() && w.seconds.is_none() {
            return code;
        }
    }
    let mut reports = 0u64;
    while w.count.is_none_or(|n| reports < n) {
        let Some(limit) = stop.next_wait() else { break };
        let changes = match watcher.wait(Some(limit)) {
            Ok(Some(c)) => c,
            Ok(None) => break,
            Err(e) => return fail(&e),
        };
        let mut done = Vec::new();
        for c in &changes {
            print_change(c, w.format);
            done.extend(follower.apply(c));
        }
        if !changes.is_empty() {
            // A safety net: whatever the changes missed, the sets say.
            done.extend(follower.sync(watcher.sets()));
        }
        for r in done {
            print_follow(&r, w.format);
            if r.outcome != cpuhp_linux::Outcome::Done {
                code = 1;
            }
            reports += 1;
        }
    }
    code
}
