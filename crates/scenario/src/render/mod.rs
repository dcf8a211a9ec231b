//! A run, rendered: a human timeline, Linux's ftrace text, Chrome/Perfetto trace-event JSON, or
//! JSON lines.

mod ftrace;
mod jsonl;
mod perfetto;
mod timeline;

use crate::run::Record;
use crate::scenario::Scenario;

/// An output format.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    /// A readable timeline: one line per callback, notifier event and step, each saying which
    /// rule applied.
    Timeline,
    /// Linux's ftrace text (`cpuhp_enter`, `cpuhp_multi_enter`, `cpuhp_exit`), which
    /// `trace-cmd`-style tools and the Perfetto UI read.
    Ftrace,
    /// Chrome trace-event JSON (opens in the Perfetto UI): one track per CPU and one for the
    /// control side.
    Perfetto,
    /// One JSON object per event.
    Jsonl,
}

impl Format {
    /// Every format, with its name on the command line.
    pub const ALL: [(&'static str, Format); 4] = [
        ("timeline", Format::Timeline),
        ("ftrace", Format::Ftrace),
        ("perfetto", Format::Perfetto),
        ("jsonl", Format::Jsonl),
    ];
}

/// How wide a timeline may be.
///
/// # Examples
///
/// ```
/// use cpuhp_scenario::{render_with, run, Format, Scenario, Width};
///
/// let s = Scenario::parse("s.toml", "ops = [\"down 1\"]\n[machine]\ncpus = 2\n")?;
/// let rec = run(&s, false);
/// let fitted = render_with(&rec, &s, Format::Timeline, false, Width::Columns(80));
/// assert!(fitted.lines().all(|l| l.chars().count() <= 80));
/// assert!(fitted.contains("legend"));
/// let wide = render_with(&rec, &s, Format::Timeline, false, Width::Wide);
/// assert!(wide.contains("walk · the scheduler stops using the CPU"));
/// # Ok::<(), cpuhp_scenario::ParseError>(())
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Width {
    /// Every line fits this many columns (at least 60): contexts abbreviated, each rule a short
    /// key that a legend at the end spells out, long text wrapped.
    Columns(usize),
    /// Each line spells out where it ran and its rule, however long it gets.
    Wide,
}

/// Renders a run; a timeline fits 100 columns ([`render_with`] chooses). `color`: ANSI colours
/// (timeline only; strip them when not on a terminal).
///
/// # Examples
///
/// ```
/// use cpuhp_scenario::{render, run, Format, Scenario};
///
/// let s = Scenario::parse("s.toml", "ops = [\"down 1\"]\n[machine]\ncpus = 2\n")?;
/// let text = render(&run(&s, false), &s, Format::Ftrace, false);
/// assert!(text.contains("cpuhp_enter: cpu: 0001 target:  61 step:  98 (sched_cpu_deactivate)"));
/// # Ok::<(), cpuhp_scenario::ParseError>(())
/// ```
pub fn render(rec: &Record, scenario: &Scenario, format: Format, color: bool) -> String {
    render_with(rec, scenario, format, color, Width::Columns(100))
}

/// [`render`] with the timeline's width: [`Width::Columns`] of a terminal, or [`Width::Wide`].
///
/// # Examples
///
/// ```
/// use cpuhp_scenario::{render_with, run, Format, Scenario, Width};
///
/// let s = Scenario::parse("s.toml", "ops = [\"down 1\"]\n[machine]\ncpus = 2\n")?;
/// let text = render_with(&run(&s, false), &s, Format::Timeline, false, Width::Columns(80));
/// assert!(text.contains("ctl = the control CPU"));
/// # Ok::<(), cpuhp_scenario::ParseError>(())
/// ```
pub fn render_with(
    rec: &Record,
    scenario: &Scenario,
    format: Format,
    color: bool,
    width: Width,
) -> String {
    match format {
        Format::Timeline => timeline::render(rec, scenario, color, width),
        Format::Ftrace => ftrace::render(rec),
        Format::Perfetto => perfetto::render(rec, scenario),
        Format::Jsonl => jsonl::render(rec),
    }
}
