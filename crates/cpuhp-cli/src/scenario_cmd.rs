//! `cpuhp demo`, `cpuhp run SCENARIO.toml` and `cpuhp explore SCENARIO.toml`.

use std::io::{IsTerminal, Write};
use std::path::{Path, PathBuf};

use anstyle::{AnsiColor, Effects, Style};
use clap::{Args as ClapArgs, ValueEnum};
use cpuhp_scenario::{ExploreOptions, Format, Renderer, Scenario, Width, explore, run_streaming};

/// Exit codes.
pub const OK: u8 = 0;
/// An invariant broke.
pub const VIOLATION: u8 = 1;
/// Bad usage or input.
pub const BAD_INPUT: u8 = 2;

const ERROR: Style = AnsiColor::Red.on_default().effects(Effects::BOLD);

/// The output formats of `run` and `demo`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum OutputFormat {
    /// A readable timeline, one line per callback with the rule that applied.
    Timeline,
    /// Linux's ftrace text (`cpuhp_enter`/`cpuhp_multi_enter`/`cpuhp_exit`).
    Ftrace,
    /// Chrome trace-event JSON for the Perfetto UI (ui.perfetto.dev → Open trace file).
    Perfetto,
    /// One JSON object per event.
    Jsonl,
}

impl OutputFormat {
    fn format(self) -> Format {
        match self {
            OutputFormat::Timeline => Format::Timeline,
            OutputFormat::Ftrace => Format::Ftrace,
            OutputFormat::Perfetto => Format::Perfetto,
            OutputFormat::Jsonl => Format::Jsonl,
        }
    }
}

/// Options shared by `run` and `demo`.
#[derive(ClapArgs, Debug)]
pub struct RenderArgs {
    /// Output format.
    #[arg(long, short, value_enum, default_value_t = OutputFormat::Timeline)]
    format: OutputFormat,
    /// Write the output to this file instead of standard output.
    #[arg(long, short)]
    output: Option<PathBuf>,
    /// Run every callback on the calling thread instead of one OS thread per CPU (same events,
    /// faster).
    #[arg(long)]
    inline: bool,
    /// Timeline: one line per event with its rule spelled out, however wide (default: fit the
    /// terminal, or 100 columns when not on one, with a legend at the end).
    #[arg(long)]
    wide: bool,
}

impl RenderArgs {
    /// How wide the timeline may be.
    fn width(&self) -> Width {
        if self.wide {
            return Width::Wide;
        }
        let term = console::Term::stdout();
        match term.size_checked() {
            Some((_, cols)) if self.output.is_none() && term.is_term() => {
                Width::Columns(usize::from(cols))
            }
            _ => Width::Columns(100),
        }
    }
}

/// Arguments of `cpuhp run`.
#[derive(ClapArgs, Debug)]
pub struct RunArgs {
    /// The scenario (TOML; `cpuhp ops` lists every key and operation, examples/ has examples).
    scenario: PathBuf,
    /// Boot the machine with a preset file written by `cpuhp linux learn` instead of the
    /// scenario's `preset`.
    #[arg(long, value_name = "FILE")]
    preset_file: Option<PathBuf>,
    #[command(flatten)]
    render: RenderArgs,
}

/// Arguments of `cpuhp explore`.
#[derive(ClapArgs, Debug)]
pub struct ExploreArgs {
    /// The scenario (TOML).
    scenario: PathBuf,
    /// Worker threads (default: one per core).
    #[arg(long, short)]
    jobs: Option<usize>,
    /// Only single failures: skip injecting a second failure into each rollback.
    #[arg(long)]
    no_rollback_failures: bool,
    /// Try failure points on every CPU, not one representative per class of interchangeable
    /// CPUs (the reference the reduction is checked against; slow on large machines).
    #[arg(long)]
    no_symmetry: bool,
    /// Skip the runs where a failing callback panics instead of returning its errno.
    #[arg(long)]
    no_panics: bool,
    /// Run every case from boot instead of from the baseline's checkpoint before its failure
    /// (the reference the checkpoints are checked against; the same cases, slower).
    #[arg(long)]
    no_checkpoints: bool,
    /// Print every run as JSON instead of the summary table.
    #[arg(long)]
    json: bool,
}

fn load(path: &Path) -> Result<Scenario, u8> {
    let name = path.display().to_string();
    let text = std::fs::read_to_string(path).map_err(|e| {
        anstream::eprintln!(
            "{} cannot read {name}: {e}",
            ERROR.render().to_string() + "error:" + &ERROR.render_reset().to_string()
        );
        BAD_INPUT
    })?;
    Scenario::parse(&name, &text).map_err(|e| {
        anstream::eprintln!("{e}");
        BAD_INPUT
    })
}

fn emit(text: &str, output: Option<&Path>) -> u8 {
    match output {
        Some(path) => match std::fs::write(path, text) {
            Ok(()) => OK,
            Err(e) => {
                eprintln!("error: cannot write {}: {e}", path.display());
                BAD_INPUT
            }
        },
        None => {
            let mut out = anstream::stdout();
            // A closed pipe (`| head`) is not an error worth reporting.
            let _ = out.write_all(text.as_bytes());
            OK
        }
    }
}

/// Runs the scenario and prints each step as soon as it has run: a long scenario shows its
/// first operations at once, and nothing of a step is kept once it is written.
fn run_and_render(s: &Scenario, args: &RenderArgs) -> u8 {
    let (out, color): (Box<dyn Write>, bool) = match &args.output {
        Some(path) => match std::fs::File::create(path) {
            Ok(f) => (Box::new(std::io::BufWriter::new(f)), false),
            Err(e) => {
                eprintln!("error: cannot write {}: {e}", path.display());
                return BAD_INPUT;
            }
        },
        None => {
            let auto = anstream::stdout();
            if auto.current_choice() == anstream::ColorChoice::Never {
                // Rendered without colours rather than stripped of them: the same text, cheaper.
                (
                    Box::new(std::io::BufWriter::new(std::io::stdout().lock())),
                    false,
                )
            } else {
                (Box::new(std::io::BufWriter::new(auto.lock())), true)
            }
        }
    };
    let mut renderer = Renderer::new(s, args.format.format(), color, args.width());
    let mut out = Output { out, failed: None };
    let end = run_streaming(s, !args.inline, |step, names| {
        if out.failed.is_none() {
            out.write(&renderer.step(step, names));
        }
    });
    out.write(&renderer.finish(&end));
    match (out.failed, &args.output) {
        (Some(e), Some(path)) => {
            eprintln!("error: cannot write {}: {e}", path.display());
            BAD_INPUT
        }
        _ if end.violations.is_empty() => OK,
        _ => VIOLATION,
    }
}

/// Where `run` writes, step by step.
struct Output {
    out: Box<dyn Write>,
    /// The first write error ends the output, not the run: a closed pipe (`| head`) is no error
    /// worth reporting, and the exit code still says whether every invariant held.
    failed: Option<std::io::Error>,
}

impl Output {
    fn write(&mut self, text: &str) {
        if self.failed.is_none() {
            if let Err(e) = self
                .out
                .write_all(text.as_bytes())
                .and_then(|()| self.out.flush())
            {
                self.failed = Some(e);
            }
        }
    }
}

/// `cpuhp demo`.
pub fn demo(args: &RenderArgs) -> u8 {
    // The embedded scenario is tested to parse.
    match Scenario::parse("demo.toml", cpuhp_scenario::DEMO_SCENARIO) {
        Ok(s) => run_and_render(&s, args),
        Err(e) => {
            eprintln!("{e}");
            BAD_INPUT
        }
    }
}

/// `cpuhp run`.
pub fn run_cmd(args: &RunArgs) -> u8 {
    let mut s = match load(&args.scenario) {
        Ok(s) => s,
        Err(code) => return code,
    };
    if let Some(f) = &args.preset_file {
        match crate::states::load_preset_file(f) {
            Ok(p) => s.machine.preset = cpuhp_scenario::PresetName::Loaded(p),
            Err(e) => {
                eprintln!("error: {e}");
                return BAD_INPUT;
            }
        }
    }
    run_and_render(&s, &args.render)
}

/// `cpuhp ops`: the scenario language, from the parser's own tables.
pub fn ops() -> u8 {
    emit(&cpuhp_scenario::reference(), None)
}

/// `cpuhp explore`.
pub fn explore_cmd(args: &ExploreArgs) -> u8 {
    let s = match load(&args.scenario) {
        Ok(s) => s,
        Err(code) => return code,
    };
    let mut options = ExploreOptions {
        rollback_failures: !args.no_rollback_failures,
        symmetry: !args.no_symmetry,
        panics: !args.no_panics,
        checkpoints: !args.no_checkpoints,
        ..ExploreOptions::default()
    };
    if let Some(j) = args.jobs {
        options.jobs = j.max(1);
    }
    let bar = if std::io::stderr().is_terminal() {
        indicatif::ProgressBar::new(0)
    } else {
        indicatif::ProgressBar::hidden()
    };
    bar.set_style(
        indicatif::ProgressStyle::with_template(
            "{prefix:>17} {bar:40} {pos}/{len} runs ({rate}, eta {eta})",
        )
        .map(|style| {
            // Whole runs per second: indicatif's `{per_sec}` shows four decimals.
            style.with_key(
                "rate",
                |state: &indicatif::ProgressState, w: &mut dyn std::fmt::Write| {
                    let _ = write!(w, "{:.0}/s", state.per_sec());
                },
            )
        })
        .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
    );
    // The panics exploration injects into callbacks are caught by the machine: keep their
    // messages off the terminal (any other panic is still printed).
    let default_hook = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        let injected = info
            .payload()
            .downcast_ref::<&str>()
            .is_some_and(|m| m.ends_with("injected panic"));
        if !injected {
            default_hook(info);
        }
    }));
    let phase = std::sync::Mutex::new(None);
    let found = explore(&s, &options, |p, done, total| {
        let mut current = phase.lock().unwrap_or_else(|e| e.into_inner());
        if *current != Some(p) {
            // A new phase: its own bar, from zero, with its total known from the start.
            *current = Some(p);
            bar.reset();
            bar.set_prefix(p.to_string());
            bar.set_length(total as u64);
        }
        bar.set_position(done as u64);
    });
    bar.finish_and_clear();
    if args.json {
        let text = serde_json::to_string_pretty(&found).unwrap_or_default();
        // As `run`: a closed pipe (`| head`) is not an error; the exit code still says whether
        // every invariant held.
        let _ = writeln!(std::io::stdout().lock(), "{text}");
    } else {
        print_summary(&found, options.errno);
    }
    if found.is_clean() { OK } else { VIOLATION }
}

fn print_summary(found: &cpuhp_scenario::Exploration, errno: cpuhp::Errno) {
    let mut out = anstream::stdout();
    let bold = Style::new().effects(Effects::BOLD);
    let green = AnsiColor::Green.on_default();
    let _ = writeln!(
        out,
        "{}{:<4} {:<40} {:>7} {:>9} {:>12} {:>8} {:>7} {:>11}{}",
        bold.render(),
        "step",
        "",
        "points",
        "absorbed",
        "rolled back",
        "+double",
        "+panic",
        "violations",
        bold.render_reset()
    );
    for (i, step) in found.steps.iter().enumerate() {
        let singles: Vec<_> = found
            .cases
            .iter()
            .filter(|c| c.step == i && c.second.is_none() && !c.panic)
            .collect();
        let panics = found
            .cases
            .iter()
            .filter(|c| c.step == i && c.panic)
            .count();
        let doubles = found
            .cases
            .iter()
            .filter(|c| c.step == i && c.second.is_some())
            .count();
        let broken = found
            .cases
            .iter()
            .filter(|c| c.step == i && c.is_broken())
            .count();
        if singles.is_empty() && broken == 0 {
            continue;
        }
        let absorbed = singles.iter().filter(|c| !c.failed).count();
        let rolled = singles.len() - absorbed;
        let _ = writeln!(
            out,
            "{:<4} {:<40} {:>7} {:>9} {:>12} {:>8} {:>7} {:>11}",
            i + 1,
            step,
            singles.len(),
            absorbed,
            rolled,
            doubles,
            panics,
            broken
        );
    }
    let runs = found.cases.len();
    if !found.classes.is_empty() {
        let _ = writeln!(out);
    }
    for class in &found.classes {
        // Interchangeable CPUs: the others' failure points were not tried (`--no-symmetry` does).
        let _ = writeln!(out, "{class}");
    }
    let broken: Vec<_> = found.cases.iter().filter(|c| c.is_broken()).collect();
    let _ = writeln!(out);
    for v in &found.baseline {
        let _ = writeln!(
            out,
            "{}violation without any injected failure{} after step {}: {v}",
            ERROR.render(),
            ERROR.render_reset(),
            v.step + 1
        );
    }
    match found.first_violation() {
        None if found.baseline.is_empty() => {
            let _ = writeln!(
                out,
                "{}every invariant held in all {runs} runs{}",
                green.render(),
                green.render_reset()
            );
        }
        None => {}
        Some(c) => {
            let _ = writeln!(
                out,
                "{}{} of {runs} runs broke an invariant.{} The minimal one:",
                ERROR.render(),
                broken.len(),
                ERROR.render_reset()
            );
            let _ = writeln!(
                out,
                "  inject: {}{} — in step {} ({})",
                c.first,
                if c.panic {
                    " (the callback panics)"
                } else {
                    ""
                },
                c.step + 1,
                found.steps.get(c.step).map_or("", String::as_str)
            );
            if let Some(d) = &c.differs {
                let _ = writeln!(out, "  rolled back otherwise than with EIO: {d}");
            }
            if let Some(second) = &c.second {
                let _ = writeln!(out, "  and, during its rollback: {second}");
            }
            if !c.panic {
                // The same failures in the scenario's own words, to watch them with `run`.
                let _ = writeln!(out, "  to watch it with `cpuhp run`, add to the scenario:");
                for f in std::iter::once(&c.first).chain(&c.second) {
                    for line in f.as_scenario(errno).lines() {
                        let _ = writeln!(out, "    {line}");
                    }
                }
            }
            for v in &c.violations {
                let _ = writeln!(
                    out,
                    "  broken after step {} ({}): {v}",
                    v.step + 1,
                    found.steps.get(v.step).map_or("", String::as_str)
                );
            }
        }
    }
}
