//! Parsing the kernel's `cpuhp` tracepoints as tracefs prints them, and the per-state latency
//! table.
//!
//! The kernel's format strings (`include/trace/events/cpuhp.h`):
//! `cpuhp_enter` / `cpuhp_multi_enter`: `cpu: %04u target: %3d step: %3d (%ps)`;
//! `cpuhp_exit`: ` cpu: %04u  state: %3d step: %3d ret: %d`; behind the usual
//! `TASK-PID [CPU] FLAGS SECONDS.MICROS: ` prefix of `trace`.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use cpuhp::Context;
use serde::Serialize;

/// One tracepoint's fields.
///
/// # Examples
///
/// ```
/// use cpuhp_linux::{parse_trace, TracePoint};
/// let t = parse_trace("TRACE ctx=bp cpuhp_enter: cpu: 0001 target: 153 step: 236 (cpuhp_kick_ap_work)\n")?;
/// assert!(matches!(&t[0].point, TracePoint::Enter { step: 236, multi: false, .. }));
/// # Ok::<(), String>(())
/// ```
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(tag = "event", rename_all = "snake_case")]
pub enum TracePoint {
    /// `cpuhp_enter` (or `cpuhp_multi_enter` when `multi`).
    Enter {
        /// The CPU being brought up or down.
        cpu: u32,
        /// Its target.
        target: u32,
        /// The state whose callback runs.
        step: u32,
        /// The callback (`%ps`: the symbol, with ` [module]` for a module's).
        symbol: String,
        /// `cpuhp_multi_enter`.
        multi: bool,
    },
    /// `cpuhp_exit`.
    Exit {
        /// The CPU.
        cpu: u32,
        /// Its state after the callback.
        state: u32,
        /// The state whose callback ran.
        step: u32,
        /// 0 or a negative errno.
        ret: i32,
    },
}

/// One parsed line of `trace`.
///
/// # Examples
///
/// ```
/// let t = cpuhp_linux::parse_trace("TRACE ctx=ap cpuhp_exit: cpu: 0001 state: 234 step: 235 ret: 0\n")?;
/// assert_eq!((t[0].ts_us, t[0].context), (None, cpuhp::Context::ApThread));
/// # Ok::<(), String>(())
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TraceLine {
    /// The kernel's timestamp in microseconds (`None` for lines without one).
    pub ts_us: Option<u64>,
    /// The task that hit the tracepoint (`cpuhp/1`, `bash`).
    pub task: String,
    /// Where the callback ran: the CPU's hotplug thread (`cpuhp/N`), else the control side.
    pub context: Context,
    /// The tracepoint.
    pub point: TracePoint,
}

fn field<T: std::str::FromStr>(words: &[&str], name: &str) -> Option<T> {
    let i = words.iter().position(|w| *w == name)?;
    words.get(i + 1)?.parse().ok()
}

fn parse_point(text: &str) -> Option<TracePoint> {
    let (ev, rest) = text.split_once(':')?;
    let words: Vec<&str> = rest.split_whitespace().collect();
    match ev.trim() {
        name @ ("cpuhp_enter" | "cpuhp_multi_enter") => {
            let open = rest.find('(')?;
            let close = rest.rfind(')')?;
            Some(TracePoint::Enter {
                cpu: field(&words, "cpu:")?,
                target: field(&words, "target:")?,
                step: field(&words, "step:")?,
                symbol: rest.get(open + 1..close)?.to_string(),
                multi: name == "cpuhp_multi_enter",
            })
        }
        "cpuhp_exit" => Some(TracePoint::Exit {
            cpu: field(&words, "cpu:")?,
            state: field(&words, "state:")?,
            step: field(&words, "step:")?,
            ret: field(&words, "ret:")?,
        }),
        _ => None,
    }
}

/// `SECONDS.MICROS` → microseconds.
fn parse_ts(s: &str) -> Option<u64> {
    let (sec, us) = s.split_once('.')?;
    let us6 = format!("{:0<6}", us.get(..us.len().min(6))?);
    Some(sec.parse::<u64>().ok()? * 1_000_000 + us6.parse::<u64>().ok()?)
}

fn parse_line(line: &str) -> Option<Result<TraceLine, String>> {
    let l = line.trim_end();
    if l.trim_start().starts_with('#') || l.trim().is_empty() {
        return None;
    }
    // A recording harness's form: `TRACE ctx=bp|ap <event>: …`.
    if let Some(rest) = l.strip_prefix("TRACE ") {
        let (ctx, text) = rest.split_once(' ')?;
        let context = if ctx == "ctx=ap" {
            Context::ApThread
        } else {
            Context::Control
        };
        return Some(
            parse_point(text)
                .map(|point| TraceLine {
                    ts_us: None,
                    task: ctx.trim_start_matches("ctx=").to_string(),
                    context,
                    point,
                })
                .ok_or_else(|| format!("not a cpuhp tracepoint: {l:?}")),
        );
    }
    // Only cpuhp events matter; other enabled events (none in a private instance) are skipped.
    let at = ["cpuhp_enter:", "cpuhp_multi_enter:", "cpuhp_exit:"]
        .iter()
        .filter_map(|e| l.find(&format!(": {e}")))
        .min()?;
    let (head, text) = (&l[..at], &l[at + 2..]);
    let bad = || format!("malformed trace line: {l:?}");
    let parsed = (|| {
        let words: Vec<&str> = head.split_whitespace().collect();
        let ts = parse_ts(words.last()?)?;
        let cpu_at = words
            .iter()
            .rposition(|w| w.starts_with('[') && w.ends_with(']'))?;
        let task_pid = words[..cpu_at].join(" ");
        let task = task_pid
            .rsplit_once('-')
            .map_or(task_pid.as_str(), |(t, _)| t)
            .to_string();
        let context = if task.starts_with("cpuhp/") {
            Context::ApThread
        } else {
            Context::Control
        };
        Some(TraceLine {
            ts_us: Some(ts),
            task,
            context,
            point: parse_point(text)?,
        })
    })();
    Some(parsed.ok_or_else(bad))
}

/// Parses the text of a tracefs `trace` file (comment lines and other events skipped), or the
/// `TRACE ctx=bp|ap …` lines of a recording.
///
/// # Errors
///
/// The first `cpuhp_*` line that does not parse, quoted.
///
/// # Examples
///
/// ```
/// use cpuhp_linux::{parse_trace, TracePoint};
///
/// let t = parse_trace(
///     "# tracer: nop\n\
///      \x20        cpuhp/1-19      [001] .....   402.123456: cpuhp_exit:  cpu: 0001  state: 234 step: 235 ret: 0\n",
/// )?;
/// assert_eq!(t[0].ts_us, Some(402_123_456));
/// assert_eq!(t[0].task, "cpuhp/1");
/// assert_eq!(t[0].point, TracePoint::Exit { cpu: 1, state: 234, step: 235, ret: 0 });
/// # Ok::<(), String>(())
/// ```
pub fn parse_trace(text: &str) -> Result<Vec<TraceLine>, String> {
    text.lines().filter_map(parse_line).collect()
}

/// A state's callbacks in one direction: how often they ran and how long they took (enter to
/// exit, kernel timestamps).
///
/// # Examples
///
/// ```
/// let t = cpuhp_linux::parse_trace(
///     "cpuhp/1-19 [001] ..... 1.000010: cpuhp_enter: cpu: 0001 target: 0 step: 235 (x)\n\
///      cpuhp/1-19 [001] ..... 1.000013: cpuhp_exit:  cpu: 0001  state: 234 step: 235 ret: 0\n",
/// )?;
/// let l = &cpuhp_linux::latency_table(&t)[0];
/// assert_eq!((l.step, l.bringup, l.calls, l.total_us), (235, false, 1, 3));
/// # Ok::<(), String>(())
/// ```
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Latency {
    /// The state.
    pub step: u32,
    /// Its callback.
    pub symbol: String,
    /// Startup (`true`) or teardown.
    pub bringup: bool,
    /// Calls.
    pub calls: u32,
    /// Total microseconds.
    pub total_us: u64,
    /// The slowest call, microseconds.
    pub max_us: u64,
}

/// Per state and direction, enter→exit time from the kernel's timestamps, slowest first.
/// Nested calls (the control side's `cpuhp_kick_ap_work` around the hotplug thread's walk)
/// include what they wait for.
///
/// # Examples
///
/// ```
/// use cpuhp_linux::{latency_table, parse_trace};
///
/// let t = parse_trace("TRACE ctx=ap cpuhp_enter: cpu: 0001 target: 0 step: 235 (x)\n")?;
/// assert!(latency_table(&t).is_empty(), "no timestamps, no latencies");
/// # Ok::<(), String>(())
/// ```
pub fn latency_table(lines: &[TraceLine]) -> Vec<Latency> {
    let mut open: Vec<(u32, u32, u64, String, bool)> = Vec::new();
    let mut acc: BTreeMap<(u32, bool, String), (u32, u64, u64)> = BTreeMap::new();
    for l in lines {
        let Some(ts) = l.ts_us else { continue };
        match &l.point {
            TracePoint::Enter {
                cpu,
                target,
                step,
                symbol,
                ..
            } => open.push((*cpu, *step, ts, symbol.clone(), step <= target)),
            TracePoint::Exit { cpu, step, .. } => {
                if let Some(i) = open.iter().rposition(|o| o.0 == *cpu && o.1 == *step) {
                    let (_, step, t0, symbol, up) = open.remove(i);
                    let d = ts.saturating_sub(t0);
                    let e = acc.entry((step, up, symbol)).or_insert((0, 0, 0));
                    e.0 += 1;
                    e.1 += d;
                    e.2 = e.2.max(d);
                }
            }
        }
    }
    let mut v: Vec<Latency> = acc
        .into_iter()
        .map(
            |((step, bringup, symbol), (calls, total_us, max_us))| Latency {
                step,
                symbol,
                bringup,
                calls,
                total_us,
                max_us,
            },
        )
        .collect();
    v.sort_by(|a, b| b.total_us.cmp(&a.total_us).then(a.step.cmp(&b.step)));
    v
}

/// The latency table as text: `STATE DIR CALLS TOTAL_US MAX_US CALLBACK`.
pub(crate) fn latency_text(v: &[Latency]) -> String {
    let mut out = String::from("STATE DIR      CALLS TOTAL_US   MAX_US CALLBACK\n");
    for l in v {
        let _ = writeln!(
            out,
            "{:5} {:<8} {:5} {:8} {:8} {}",
            l.step,
            if l.bringup { "up" } else { "down" },
            l.calls,
            l.total_us,
            l.max_us,
            l.symbol
        );
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_enter_with_module_symbol_and_multi() {
        let t = parse_trace(
            "            bash-1234    [000] .....  1.000005: cpuhp_multi_enter: cpu: 0002 target:   0 step: 214 (multi_teardown [hporacle])\n",
        )
        .unwrap();
        assert_eq!(t[0].context, Context::Control);
        assert_eq!(t[0].ts_us, Some(1_000_005));
        assert_eq!(
            t[0].point,
            TracePoint::Enter {
                cpu: 2,
                target: 0,
                step: 214,
                symbol: "multi_teardown [hporacle]".into(),
                multi: true
            }
        );
    }

    #[test]
    fn reports_malformed_lines() {
        let e = parse_trace("  bash-1 [000] ..... 1.0: cpuhp_exit: cpu: zz\n").unwrap_err();
        assert!(e.starts_with("malformed trace line"), "{e}");
    }

    #[test]
    fn task_with_dash_and_space() {
        let t = parse_trace(
            "  kworker/u8:2-x y-77 [001] ..... 5.5: cpuhp_exit:  cpu: 0001  state: 1 step: 2 ret: -16\n",
        )
        .unwrap();
        assert_eq!(t[0].task, "kworker/u8:2-x y");
        assert_eq!(t[0].ts_us, Some(5_500_000));
        assert!(matches!(t[0].point, TracePoint::Exit { ret: -16, .. }));
    }

    #[test]
    fn latencies_pair_nested_calls_slowest_first() {
        let t = parse_trace(
            "bash-1 [000] ..... 1.000000: cpuhp_enter: cpu: 0001 target:   0 step: 236 (kick)\n\
             cpuhp/1-19 [001] ..... 1.000010: cpuhp_enter: cpu: 0001 target:   0 step: 235 (deact)\n\
             cpuhp/1-19 [001] ..... 1.000013: cpuhp_exit:  cpu: 0001  state: 234 step: 235 ret: 0\n\
             bash-1 [000] ..... 1.000100: cpuhp_exit:  cpu: 0001  state: 0 step: 236 ret: 0\n",
        )
        .unwrap();
        let l = latency_table(&t);
        assert_eq!(l.len(), 2);
        assert_eq!((l[0].step, l[0].bringup, l[0].total_us), (236, false, 100));
        assert_eq!(
            (l[1].step, l[1].symbol.as_str(), l[1].max_us),
            (235, "deact", 3)
        );
    }
}
