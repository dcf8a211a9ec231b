//! A run, rendered: a human timeline, Linux's ftrace text, Chrome/Perfetto trace-event JSON, or
//! JSON lines.

mod ftrace;
mod jsonl;
mod perfetto;
mod timeline;

use std::collections::BTreeMap;

use crate::check::Violation;
use crate::journal::Event;
use crate::run::{Record, RunEnd, StepRecord};
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
/// The whole run is known, so a fitted timeline's columns are as wide as its rows need; the
/// other formats are the text a [`Renderer`] gives, step by step, for the same run.
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
    if format == Format::Timeline {
        return timeline::render(rec, scenario, color, width);
    }
    let mut r = Renderer::new(scenario, format, color, width);
    r.setup_steps = rec.setup_steps;
    let mut out = String::new();
    r.begin(&mut out);
    for_each_chunk(rec, |c| r.chunk(c, &mut out));
    r.end(&ending(rec), &mut out);
    out
}

/// A run rendered as it goes: the text of each step as soon as [`run_streaming`] hands the step
/// on, then the end (a timeline's last lines and legend, the violations of JSON lines and
/// Perfetto, the end of Perfetto's document). Put together, the pieces are what [`render_with`]
/// gives for the whole [`Record`]; a fitted timeline sizes its columns from the scenario rather
/// than from the run, never narrower than the run needs (so they may be wider), and the same for
/// the runs of the examples.
///
/// [`run_streaming`]: crate::run_streaming
///
/// # Examples
///
/// ```
/// use cpuhp_scenario::{render, run, run_streaming, Format, Renderer, Scenario, Width};
///
/// let s = Scenario::parse("s.toml", "ops = [\"down 1\", \"up 1\"]\n[machine]\ncpus = 2\n")?;
/// let mut r = Renderer::new(&s, Format::Ftrace, false, Width::Columns(100));
/// let mut pieces = Vec::new();
/// let end = run_streaming(&s, false, |step, names| pieces.push(r.step(step, names)));
/// pieces.push(r.finish(&end));
/// assert_eq!(pieces.concat(), render(&run(&s, false), &s, Format::Ftrace, false));
/// assert!(pieces[0].starts_with("# tracer: nop"));
/// # Ok::<(), cpuhp_scenario::ParseError>(())
/// ```
pub struct Renderer<'s> {
    scenario: &'s Scenario,
    setup_steps: usize,
    started: bool,
    /// The last step given, by number: where a run that stopped early stopped.
    last: Option<(usize, String)>,
    inner: Inner,
}

enum Inner {
    Timeline(timeline::Timeline),
    Ftrace(ftrace::Ftrace),
    Perfetto(perfetto::Perfetto),
    Jsonl,
}

impl<'s> Renderer<'s> {
    /// A renderer of `scenario`'s run in `format`; `color` and `width` as for [`render_with`].
    ///
    /// # Examples
    ///
    /// ```
    /// use cpuhp_scenario::{run_streaming, Format, Renderer, Scenario, Width};
    ///
    /// let s = Scenario::parse("s.toml", "ops = [\"down 1\"]\n[machine]\ncpus = 2\n")?;
    /// let mut r = Renderer::new(&s, Format::Timeline, false, Width::Columns(80));
    /// let mut text = String::new();
    /// let end = run_streaming(&s, false, |step, names| text += &r.step(step, names));
    /// assert!(text.contains("── 1. down 1"));
    /// text += &r.finish(&end);
    /// assert!(text.ends_with("  walk sched  the scheduler starts (activate) or stops (deactivate) using the\n              CPU\n"));
    /// # Ok::<(), cpuhp_scenario::ParseError>(())
    /// ```
    pub fn new(scenario: &'s Scenario, format: Format, color: bool, width: Width) -> Renderer<'s> {
        let inner = match format {
            Format::Timeline => {
                let columns = match width {
                    Width::Columns(c) => Some(timeline::Columns::bound(scenario, c.max(60))),
                    Width::Wide => None,
                };
                Inner::Timeline(timeline::Timeline::new(color, width, columns))
            }
            Format::Ftrace => Inner::Ftrace(ftrace::Ftrace::default()),
            Format::Perfetto => Inner::Perfetto(perfetto::Perfetto::default()),
            Format::Jsonl => Inner::Jsonl,
        };
        // As the runner counts them: each state, each of its instances, each notifier.
        let setup_steps = scenario
            .states
            .iter()
            .map(|st| 1 + st.instances.len())
            .sum::<usize>()
            + scenario.notifiers.len();
        Renderer {
            scenario,
            setup_steps,
            started: false,
            last: None,
            inner,
        }
    }

    /// The text of one step (preceded, for the first, by what the format begins with).
    /// `state_names`: as [`run_streaming`](crate::run_streaming) gives them.
    ///
    /// # Examples
    ///
    /// ```
    /// use cpuhp_scenario::{run_streaming, Format, Renderer, Scenario, Width};
    ///
    /// let s = Scenario::parse("s.toml", "ops = [\"down 1\"]\n[machine]\ncpus = 2\n")?;
    /// let mut r = Renderer::new(&s, Format::Jsonl, false, Width::Wide);
    /// let mut first = String::new();
    /// run_streaming(&s, false, |step, names| first = r.step(step, names));
    /// assert!(first.starts_with(r#"{"event":"step","index":0,"what":"down 1","op":true}"#));
    /// # Ok::<(), cpuhp_scenario::ParseError>(())
    /// ```
    pub fn step(&mut self, step: &StepRecord, state_names: &BTreeMap<u32, String>) -> String {
        let mut out = String::new();
        self.begin(&mut out);
        self.last = Some((step.index, step.what().to_string()));
        self.chunk(
            &Chunk {
                events: &step.events,
                before: &step.states_before,
                after: &step.states_after,
                violations: &step.violations,
                state_names,
                setup_steps: self.setup_steps,
            },
            &mut out,
        );
        out
    }

    /// The text after the last step.
    ///
    /// # Examples
    ///
    /// ```
    /// use cpuhp_scenario::{run_streaming, Format, Renderer, Scenario, Width};
    ///
    /// let s = Scenario::parse("s.toml", "ops = [\"down 1\"]\n[machine]\ncpus = 2\n")?;
    /// let mut r = Renderer::new(&s, Format::Timeline, false, Width::Wide);
    /// let end = run_streaming(&s, false, |step, names| drop(r.step(step, names)));
    /// assert_eq!(r.finish(&end), "\nend: CPU 0 at 99, CPU 1 at 0\ninvariants: all held\n");
    /// # Ok::<(), cpuhp_scenario::ParseError>(())
    /// ```
    pub fn finish(&mut self, end: &RunEnd) -> String {
        let mut out = String::new();
        self.begin(&mut out);
        let stopped = end.stopped_at.map(|at| match &self.last {
            Some((i, what)) if *i == at => what.clone(),
            _ => String::new(),
        });
        self.end(
            &Ending {
                final_states: &end.final_states,
                stopped: stopped.as_deref(),
                violations: &end.violations,
                state_names: &end.state_names,
            },
            &mut out,
        );
        out
    }

    fn begin(&mut self, out: &mut String) {
        if std::mem::replace(&mut self.started, true) {
            return;
        }
        match &mut self.inner {
            Inner::Timeline(t) => t.start(self.scenario, out),
            Inner::Ftrace(f) => f.start(out),
            Inner::Perfetto(p) => p.start(self.scenario, out),
            Inner::Jsonl => {}
        }
    }

    fn chunk(&mut self, c: &Chunk<'_>, out: &mut String) {
        match &mut self.inner {
            Inner::Timeline(t) => t.step(self.scenario, c, out),
            Inner::Ftrace(f) => f.events(c.events, out),
            Inner::Perfetto(p) => p.events(c.events, c.state_names, out),
            Inner::Jsonl => jsonl::events(c.events, out),
        }
    }

    fn end(&mut self, e: &Ending<'_>, out: &mut String) {
        match &mut self.inner {
            Inner::Timeline(t) => t.finish(self.scenario, e, out),
            Inner::Ftrace(_) => {}
            Inner::Perfetto(p) => p.finish(e.violations, out),
            Inner::Jsonl => jsonl::violations(e.violations, out),
        }
    }
}

/// The events of one step (or events outside any step), with what the renderers need to know
/// about it.
pub(crate) struct Chunk<'a> {
    pub(crate) events: &'a [Event],
    /// Each CPU's state before and after the step (empty when unknown).
    pub(crate) before: &'a [u32],
    pub(crate) after: &'a [u32],
    /// The broken invariants reported after the step.
    pub(crate) violations: &'a [Violation],
    pub(crate) state_names: &'a BTreeMap<u32, String>,
    pub(crate) setup_steps: usize,
}

/// How a run ended, as the renderers need it.
pub(crate) struct Ending<'a> {
    pub(crate) final_states: &'a [u32],
    /// The step after which the run stopped early.
    pub(crate) stopped: Option<&'a str>,
    pub(crate) violations: &'a [Violation],
    pub(crate) state_names: &'a BTreeMap<u32, String>,
}

/// A whole record's events, a step at a time: from each `Step` event to its `StepDone` (or the
/// end), and any events between steps on their own.
pub(crate) fn for_each_chunk(rec: &Record, mut f: impl FnMut(&Chunk<'_>)) {
    let mut by_step: std::collections::HashMap<usize, Vec<Violation>> = Default::default();
    for v in &rec.violations {
        by_step.entry(v.step).or_default().push(v.clone());
    }
    let events = &rec.events;
    let mut i = 0;
    while i < events.len() {
        let (end, index) = match &events[i] {
            Event::Step { index, .. } => (
                events[i..]
                    .iter()
                    .position(|e| matches!(e, Event::StepDone { index: j, .. } if j == index))
                    .map_or(events.len(), |n| i + n + 1),
                Some(*index),
            ),
            _ => (
                events[i..]
                    .iter()
                    .position(|e| matches!(e, Event::Step { .. }))
                    .map_or(events.len(), |n| i + n),
                None,
            ),
        };
        let (before, after): (&[u32], &[u32]) = match index {
            // Where the CPUs stood before: after the step before, or after the boot.
            Some(k) => (
                match k.checked_sub(1) {
                    Some(p) => rec.states_after.get(p).map_or(&[], Vec::as_slice),
                    None => &rec.states_before,
                },
                rec.states_after.get(k).map_or(&[], Vec::as_slice),
            ),
            None => (&[], &[]),
        };
        f(&Chunk {
            events: &events[i..end],
            before,
            after,
            violations: index
                .and_then(|k| by_step.get(&k))
                .map_or(&[], Vec::as_slice),
            state_names: &rec.state_names,
            setup_steps: rec.setup_steps,
        });
        i = end;
    }
}

/// How a whole record ended.
pub(crate) fn ending(rec: &Record) -> Ending<'_> {
    Ending {
        final_states: &rec.final_states,
        stopped: rec
            .stopped_at
            .map(|at| rec.steps.get(at).map_or("", String::as_str)),
        violations: &rec.violations,
        state_names: &rec.state_names,
    }
}
