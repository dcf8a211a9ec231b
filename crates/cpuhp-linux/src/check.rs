//! `linux check`: an operation recorded on the kernel, the same operation on the simulator
//! booted with a preset, compared callback by callback.

use std::fmt::Write as _;

use cpuhp::preset::Preset;

use crate::io::SysfsIo;
use crate::ops::{execute, plan, Op};
use crate::record::{record, Call, Recording};
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
        for (i, l) in self.simulator_lines.iter().enumerate().skip(at + 1).take(context) {
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
/// As [`record`]; the simulator cannot boot the preset or reach the kernel's starting states.
///
/// # Examples
///
/// ```
/// use cpuhp_linux::{check, Op, SimKernel};
///
/// let mut k = SimKernel::new(&cpuhp::preset::LINUX_6_1, 3)?;
/// let c = check(&mut k, &[Op::Offline(vec![2])], &cpuhp::preset::DEMO, "doc")?;
/// assert!(c.first_difference.is_some(), "another kernel's table");
/// assert!(c.report(2).starts_with("FAIL: callback 2 differs"));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn check(
    io: &mut dyn SysfsIo,
    ops: &[Op],
    preset: &Preset,
    tag: &str,
) -> Result<Check, crate::Error> {
    let kernel = record(io, ops, None, tag)?;
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
            execute(&mut sim, &p, None).map_err(|(e, _)| e)?;
        }
    }
    let simulator = record(&mut sim, ops, None, tag)?;
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
