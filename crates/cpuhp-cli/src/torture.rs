//! `cpuhp torture`: random hotplug operations with random failures from several threads on one
//! simulated machine, every invariant checked as it goes.

use std::io::{IsTerminal, Write};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use anstyle::{AnsiColor, Effects, Style};
use clap::Args as ClapArgs;
use cpuhp_scenario::torture::{self, TortureConfig, TortureReport};

use crate::scenario_cmd::{BAD_INPUT, OK, VIOLATION};

const ERROR: Style = AnsiColor::Red.on_default().effects(Effects::BOLD);

/// Arguments of `cpuhp torture`.
#[derive(ClapArgs, Debug)]
pub struct Args {
    /// Threads issuing operations (default: 2 + the hardware threads).
    #[arg(long, short)]
    threads: Option<usize>,
    /// How long to run, in seconds.
    #[arg(long, short, default_value_t = 10.0)]
    seconds: f64,
    /// Seeds the threads' random choices (default: from the clock; printed either way).
    #[arg(long)]
    seed: Option<u64>,
    /// Simulated CPUs (1 to 64; an even count makes SMT sibling pairs).
    #[arg(long, short, default_value_t = 4)]
    cpus: u32,
    /// Print the report as JSON instead of the summary table.
    #[arg(long)]
    json: bool,
}

/// `cpuhp torture`.
pub fn run(args: &Args) -> u8 {
    if let Err(e) = check(args) {
        anstream::eprintln!("{}error:{} {e}", ERROR.render(), ERROR.render_reset());
        return BAD_INPUT;
    }
    let defaults = TortureConfig::default();
    let config = TortureConfig {
        threads: args.threads.unwrap_or(defaults.threads),
        cpus: args.cpus,
        duration: Duration::from_secs_f64(args.seconds),
        seed: args.seed.unwrap_or_else(clock_seed),
        ..defaults
    };
    // The panics the torture injects into callbacks are caught by the machine and counted in
    // the report: keep their messages off the terminal (any other panic is still printed).
    let default_hook = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        if info.payload().downcast_ref::<&str>() != Some(&torture::INJECTED_PANIC) {
            default_hook(info);
        }
    }));
    let total = config.duration.as_millis() as u64;
    let bar = if std::io::stderr().is_terminal() {
        indicatif::ProgressBar::new(total)
    } else {
        indicatif::ProgressBar::hidden()
    };
    bar.set_style(
        indicatif::ProgressStyle::with_template("{bar:40} {msg} (eta {eta})")
            .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
    );
    let report = torture::run(&config, |p| {
        bar.set_position((p.elapsed.as_millis() as u64).min(total));
        bar.set_message(format!("{} ops, {} violations", p.ops, p.violations));
    });
    bar.finish_and_clear();
    let mut out = anstream::stdout();
    // A closed pipe (`| head`) is not an error: the exit code still says whether the
    // invariants held.
    let _ = if args.json {
        writeln!(
            out,
            "{}",
            serde_json::to_string_pretty(&report).unwrap_or_default()
        )
    } else {
        write!(out, "{}", summary(&report))
    };
    if report.is_clean() { OK } else { VIOLATION }
}

fn check(args: &Args) -> Result<(), String> {
    if !(args.seconds > 0.0 && args.seconds <= 86_400.0) {
        return Err(format!(
            "--seconds {} must be more than 0 and at most 86400",
            args.seconds
        ));
    }
    if args.threads == Some(0) || args.threads.is_some_and(|t| t > 1024) {
        return Err("--threads must be 1 to 1024".to_string());
    }
    if !(1..=64).contains(&args.cpus) {
        return Err(format!("--cpus {} is not 1 to 64", args.cpus));
    }
    Ok(())
}

fn clock_seed() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(1, |d| d.as_nanos() as u64)
}

/// The summary table: operations by kind, errors, injected failures, then the verdict.
fn summary(r: &TortureReport) -> String {
    let bold = Style::new().effects(Effects::BOLD);
    let green = AnsiColor::Green.on_default();
    let mut s = String::new();
    let mut line = |text: String| {
        s.push_str(&text);
        s.push('\n');
    };
    line(format!(
        "torture: {} threads, {} CPUs, seed {}, {:.1} s",
        r.threads, r.cpus, r.seed, r.seconds
    ));
    line(String::new());
    line(format!(
        "{}{:<22} {:>9} {:>9}{}",
        bold.render(),
        "operation",
        "issued",
        "succeeded",
        bold.render_reset()
    ));
    for (kind, c) in &r.ops {
        line(format!("{kind:<22} {:>9} {:>9}", c.attempted, c.succeeded));
    }
    let ok: u64 = r.ops.values().map(|c| c.succeeded).sum();
    line(format!(
        "{}{:<22} {:>9} {:>9}{}  ({:.0} ops/s)",
        bold.render(),
        "total",
        r.total_ops(),
        ok,
        bold.render_reset(),
        r.ops_per_sec()
    ));
    line(String::new());
    line(format!("{}errors{}", bold.render(), bold.render_reset()));
    for (kind, n) in &r.errors {
        line(format!("  {kind:<28} {n:>9}"));
    }
    line(format!(
        "{}injected failures{}",
        bold.render(),
        bold.render_reset()
    ));
    for (kind, n) in &r.injected {
        line(format!("  {kind:<28} {n:>9}"));
    }
    if !r.warnings.is_empty() {
        line(format!("{}warnings{}", bold.render(), bold.render_reset()));
        for (kind, n) in &r.warnings {
            line(format!("  {kind:<28} {n:>9}"));
        }
    }
    line(String::new());
    line(format!(
        "rollbacks {}, rollback failures {} (+{} through sysfs, +{} unreported by freeze/thaw/SMT), fresh machines {}",
        r.rollbacks,
        r.rollback_failures,
        r.sysfs_rollback_failures,
        r.unreported_rollback_failures,
        r.reboots
    ));
    line(format!(
        "checks {} after operations and at {} quiescent points: {} of CPUs, {} skipped (CPUs a rollback failure left undefined)",
        r.checks, r.quiescent_checks, r.cpu_checks, r.excused_cpu_checks
    ));
    line(format!(
        "notifier events not checked: {} after a late registration, {} after an ignored rollback veto",
        r.late_events, r.veto_ignored_events
    ));
    line(String::new());
    match r.first_violation() {
        None => line(format!(
            "{}every invariant held{}",
            green.render(),
            green.render_reset()
        )),
        Some(v) => {
            line(format!(
                "{}{} violation(s); seed {}.{} The first:",
                ERROR.render(),
                r.violation_count,
                r.seed,
                ERROR.render_reset()
            ));
            line(format!("  {v}"));
            line(format!(
                "reproduce (one thread is deterministic): cpuhp torture --threads {} --cpus {} --seed {}",
                r.threads, r.cpus, r.seed
            ));
        }
    }
    s
}
