//! `linux check`: an operation recorded on the kernel, the same operation on the simulator
//! booted with a preset, compared callback by callback.

use std::fmt::Write as _;
use std::sync::atomic::AtomicBool;
use std::time::{Duration, Instant};

use serde::Serialize;

use cpuhp::preset::Preset;

use crate::io::SysfsIo;
use crate::ops::{Op, execute, plan};
use crate::record::{Call, Recording, record_with};
use crate::sim::SimKernel;

/// One callback as a comparable line: `cpu 1 down 235 sched_cpu_deactivate ret 0 state 234 (cpu)`.
fn line(c: &Call) -> String {
    format!(
        "cpu {} {} {:3} {} ret {} state {} ({})",
        c.cpu,
        if c.bringup { "up  " } else { "down" },
        c.step,
        c.symbol,
        c.ret.map_or_else(|| "-".into(), |r| r.to_string()),
        c.state_after.map_or_else(|| "-".into(), |s| s.to_string()),
        match c.context {
            cpuhp::Context::Control => "control",
            _ => "cpu",
        }
    )
}

/// What a check found.
///
/// # Examples
///
/// ```
/// use cpuhp_linux::{check, Op, SimKernel};
/// let mut k = SimKernel::new(&cpuhp::preset::LINUX_6_1, 2)?;
/// let c = check(&mut k, &[Op::Offline(vec![1])], &cpuhp::preset::LINUX_6_1, "doc")?;
/// assert_eq!(c.first_difference, None);
/// assert_eq!(c.report(3), format!("PASS ({} callbacks)\n", c.kernel_lines.len()));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug)]
pub struct Check {
    /// The kernel's recording.
    pub kernel: Recording,
    /// The simulator's recording of the same operations from the same CPU states.
    pub simulator: Recording,
    /// The kernel's callbacks, one line each.
    pub kernel_lines: Vec<String>,
    /// The simulator's.
    pub simulator_lines: Vec<String>,
    /// The index of the first differing callback, if any.
    pub first_difference: Option<usize>,
}

impl Check {
    /// `PASS (N callbacks)`, or `FAIL: callback K differs (- kernel, + simulator)` with up to
    /// `context` callbacks before it and after it, as `cpuhp replay` shows a difference.
    pub fn report(&self, context: usize) -> String {
        let mut out = String::new();
        let Some(at) = self.first_difference else {
            let _ = writeln!(out, "PASS ({} callbacks)", self.kernel_lines.len());
            return out;
        };
        let _ = writeln!(
            out,
            "FAIL: callback {} differs (- kernel, + simulator)",
            at + 1
        );
        for (i, l) in self
            .kernel_lines
            .iter()
            .enumerate()
            .take(at)
            .skip(at.saturating_sub(context))
        {
            let _ = writeln!(out, "    {:>5}  {l}", i + 1);
        }
        let _ = writeln!(
            out,
            "  - {:>5}  {}",
            at + 1,
            self.kernel_lines
                .get(at)
                .map_or("<end of kernel recording>", String::as_str)
        );
        let _ = writeln!(
            out,
            "  + {:>5}  {}",
            at + 1,
            self.simulator_lines
                .get(at)
                .map_or("<end of simulation>", String::as_str)
        );
        for (i, l) in self
            .simulator_lines
            .iter()
            .enumerate()
            .skip(at + 1)
            .take(context)
        {
            let _ = writeln!(out, "  + {:>5}  {l}", i + 1);
        }
        out
    }
}

/// Picks the built-in preset for a kernel release (`6.1.*` → `linux-6.1`).
///
/// # Examples
///
/// ```
/// assert_eq!(cpuhp_linux::preset_for_kernel("6.1.0-56-amd64").map(|p| p.name), Some("linux-6.1"));
/// assert!(cpuhp_linux::preset_for_kernel("6.18.2").is_none());
/// ```
pub fn preset_for_kernel(release: &str) -> Option<&'static Preset> {
    (release == "6.1" || release.starts_with("6.1.") || release.starts_with("6.1-"))
        .then_some(&cpuhp::preset::LINUX_6_1)
}

/// Records `ops` on `io`, then runs them on a simulator booted with `preset`, with its CPUs
/// first put where the kernel's were, and compares the callbacks.
///
/// # Errors
///
/// As [`record`](crate::record()); the simulator cannot boot the preset or reach the kernel's starting states.
///
/// # Examples
///
/// ```
/// use cpuhp_linux::{check, Op, SimKernel};
///
/// let mut k = SimKernel::new(&cpuhp::preset::LINUX_6_1, 3)?;
/// let c = check(&mut k, &[Op::Offline(vec![2])], &cpuhp::preset::DEMO, "doc")?;
/// assert!(c.first_difference.is_some(), "another kernel's table");
/// assert!(c.report(2).starts_with("FAIL: callback "));
/// assert_eq!(c.kernel_lines[0], "cpu 2 down 236 cpuhp_kick_ap_work ret 0 state 153 (control)");
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn check(
    io: &mut dyn SysfsIo,
    ops: &[Op],
    preset: &Preset,
    tag: &str,
) -> Result<Check, crate::Error> {
    check_with(io, ops, preset, tag, None, true)
}

fn check_with(
    io: &mut dyn SysfsIo,
    ops: &[Op],
    preset: &Preset,
    tag: &str,
    interrupt: Option<&AtomicBool>,
    keep: bool,
) -> Result<Check, crate::Error> {
    let kernel = record_with(io, ops, interrupt, tag, keep)?;
    if matches!(kernel.outcome, Err(crate::Error::Interrupted)) {
        return Err(crate::Error::Interrupted);
    }
    let sim_err = |e: cpuhp::Error| crate::Error::Parse(format!("simulator: {e}"));
    let mut sim = SimKernel::new(preset, kernel.nr_cpus).map_err(sim_err)?;
    // The same starting point: CPUs the kernel had offline go offline first (untraced).
    let top = kernel.states.last().map_or(0, |r| r.number);
    for (c, &s) in kernel.states_before.iter().enumerate() {
        if s != top {
            let op = if s == 0 {
                Op::Offline(vec![c as u32])
            } else {
                Op::Target(c as u32, s.to_string())
            };
            let p = plan(&sim, &op)?;
            execute(&mut sim, &p, None).map_err(|f| f.error)?;
        }
    }
    let simulator = record_with(&mut sim, ops, None, tag, keep)?;
    let kernel_lines: Vec<String> = kernel.calls.iter().map(line).collect();
    let simulator_lines: Vec<String> = simulator.calls.iter().map(line).collect();
    let first_difference = (0..kernel_lines.len().max(simulator_lines.len()))
        .find(|&i| kernel_lines.get(i) != simulator_lines.get(i));
    Ok(Check {
        kernel,
        simulator,
        kernel_lines,
        simulator_lines,
        first_difference,
    })
}

/// One case of a sweep: a failure injected at one state in one direction.
///
/// # Examples
///
/// ```
/// use cpuhp_linux::{sweep, SimKernel};
/// let mut k = SimKernel::new(&cpuhp::preset::LINUX_6_1, 2)?;
/// let s = sweep(&mut k, &[1], Some(&[93]), &cpuhp::preset::LINUX_6_1, None, None, |_, _| {})?;
/// assert_eq!(s.cases[0].fail_refused.as_deref(), Some("EINVAL"), "STARTING states cannot fail");
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct SweepCase {
    /// The CPU operated.
    pub cpu: u32,
    /// The state whose callback was made to fail.
    pub state: u32,
    /// Its name.
    pub name: String,
    /// `up` (the startup fails while the CPU comes online) or `down`.
    pub direction: &'static str,
    /// The kernel refused the `fail` write (its errno): no such failure can be injected there.
    pub fail_refused: Option<String>,
    /// The operation's errno (`EAGAIN` when the injected failure fired), `None` if it succeeded.
    pub errno: Option<String>,
    /// The kernel's callbacks (its rollback included) equal the simulator's prediction.
    pub matches: bool,
    /// The first difference, as [`Check::report`] shows it.
    pub difference: Option<String>,
}

/// What a sweep did.
///
/// # Examples
///
/// ```
/// use cpuhp_linux::{sweep, SimKernel};
/// let mut k = SimKernel::new(&cpuhp::preset::LINUX_6_1, 2)?;
/// let s = sweep(&mut k, &[1], Some(&[235]), &cpuhp::preset::LINUX_6_1, None, None, |_, _| {})?;
/// assert_eq!((s.planned, s.cases.len(), s.stopped.as_deref()), (2, 2, None));
/// assert!(s.table().contains("  1   235 sched:active                   down EAGAIN  yes"));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Sweep {
    /// Every case run, in order.
    pub cases: Vec<SweepCase>,
    /// How many cases there were to run.
    pub planned: usize,
    /// Why it stopped early (`interrupted`, `time limit`), if it did.
    pub stopped: Option<String>,
}

/// For each CPU and state, both directions: arm `fail`, operate, record, put everything back,
/// and compare the kernel's callbacks (its rollback) with the simulator booted with `preset`.
/// `progress(done, planned)` is called after each case. Stops starting cases after `max` or
/// when `interrupt` is set (the running case is restored either way).
///
/// # Errors
///
/// As [`check`]; a refused plan (the CPU cannot go offline).
///
/// # Examples
///
/// ```
/// use cpuhp_linux::{sweep, SimKernel};
///
/// let mut k = SimKernel::new(&cpuhp::preset::LINUX_6_1, 2)?;
/// let s = sweep(&mut k, &[1], Some(&[199, 235]), &cpuhp::preset::LINUX_6_1, None, None, |_, _| {})?;
/// assert_eq!(s.cases.len(), 4);
/// assert!(s.cases.iter().all(|c| c.matches && c.errno.as_deref() == Some("EAGAIN")));
/// assert_eq!(cpuhp_linux::read_status(&k)?[1].state, Some(236));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn sweep(
    io: &mut dyn SysfsIo,
    cpus: &[u32],
    states: Option<&[u32]>,
    preset: &Preset,
    max: Option<Duration>,
    interrupt: Option<&AtomicBool>,
    mut progress: impl FnMut(usize, usize),
) -> Result<Sweep, crate::Error> {
    let table = crate::status::read_states(io)?;
    let top = table.last().map_or(0, |r| r.number);
    let chosen: Vec<&crate::status::StateRow> = table
        .iter()
        .filter(|r| r.number != 0 && r.number != top)
        .filter(|r| states.is_none_or(|s| s.contains(&r.number)))
        .collect();
    let planned = cpus.len() * chosen.len() * 2;
    let start = Instant::now();
    let mut cases = Vec::new();
    let mut stopped = None;
    'all: for &cpu in cpus {
        plan(io, &Op::Offline(vec![cpu]))?;
        for r in &chosen {
            for up in [false, true] {
                if interrupt.is_some_and(|f| f.load(std::sync::atomic::Ordering::SeqCst)) {
                    stopped = Some("interrupted".to_string());
                    break 'all;
                }
                if max.is_some_and(|m| start.elapsed() >= m) {
                    stopped = Some("time limit".to_string());
                    break 'all;
                }
                let mut ops = Vec::new();
                if up {
                    ops.push(Op::Offline(vec![cpu]));
                }
                ops.push(Op::Fail(cpu, r.number));
                ops.push(if up {
                    Op::Online(vec![cpu])
                } else {
                    Op::Offline(vec![cpu])
                });
                let fail_at = ops.len() - 2;
                let c = match check_with(io, &ops, preset, "sweep", interrupt, false) {
                    Err(crate::Error::Interrupted) => {
                        stopped = Some("interrupted".to_string());
                        break 'all;
                    }
                    r => r?,
                };
                let errno_of = |e: &str| e.rsplit(": ").next().unwrap_or(e).to_string();
                let fail_refused = c
                    .kernel
                    .op_results
                    .get(fail_at)
                    .cloned()
                    .flatten()
                    .map(|e| errno_of(&e));
                cases.push(SweepCase {
                    cpu,
                    state: r.number,
                    name: r.name.clone(),
                    direction: if up { "up" } else { "down" },
                    errno: if fail_refused.is_some() {
                        None
                    } else {
                        c.kernel
                            .op_results
                            .last()
                            .cloned()
                            .flatten()
                            .map(|e| errno_of(&e))
                    },
                    fail_refused,
                    matches: c.first_difference.is_none(),
                    difference: c.first_difference.map(|_| c.report(2)),
                });
                progress(cases.len(), planned);
            }
        }
    }
    Ok(Sweep {
        cases,
        planned,
        stopped,
    })
}

impl Sweep {
    /// The summary table: `STATE NAME DIR ERRNO MATCH`, for the cases whose `fail` the kernel
    /// accepted, then a count line.
    pub fn table(&self) -> String {
        let mut out = String::from(
            "CPU STATE NAME                           DIR  ERRNO   ROLLBACK MATCHES\n",
        );
        for c in self.cases.iter().filter(|c| c.fail_refused.is_none()) {
            let _ = writeln!(
                out,
                "{:3} {:5} {:<30} {:<4} {:<7} {}",
                c.cpu,
                c.state,
                c.name,
                c.direction,
                c.errno.as_deref().unwrap_or("-"),
                if c.matches { "yes" } else { "no" }
            );
        }
        let accepted = self
            .cases
            .iter()
            .filter(|c| c.fail_refused.is_none())
            .count();
        let matched = self
            .cases
            .iter()
            .filter(|c| c.fail_refused.is_none() && c.matches)
            .count();
        let _ = writeln!(
            out,
            "{} cases run of {}; fail accepted in {accepted}, refused in {}; {matched} of {accepted} match the simulator{}",
            self.cases.len(),
            self.planned,
            self.cases.len() - accepted,
            self.stopped
                .as_ref()
                .map_or(String::new(), |s| format!("; stopped early: {s}"))
        );
        out
    }
}
