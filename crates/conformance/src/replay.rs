//! Replaying a recorded trace: re-enact its inputs on a simulated machine of the recording's
//! kernel and produce the complete file as this implementation would have printed it; then
//! compare.
//!
//! The format, line by line: input lines (`CMD`, `PARAM`, `INFO`,
//! `BOOTARG`, `DMESG`) are acted on and echoed exactly as recorded; readout lines (`ONLINE`,
//! `CPUSTATE`, `STATE`, `KERNEL`, `PRESENT`, `HAS_ONLINE_FILE`) mark where the script read sysfs
//! and are answered from our machine; output lines (`HPORACLE`, `INSMOD`, `RMMOD`, `WRITE`,
//! `WARN`) are produced by the actions; `TRACE` runs are answered with our tracepoint text.
//!
//! * **The kernel.** The recording's `KERNEL` line picks the preset (`6.1.x` → `linux-6.1`,
//!   `6.12.x` → `linux-6.12`; any other kernel is an error). Without one, [`Options::kernel`]
//!   decides, or else every kernel preset is tried and the one agreeing longest with the
//!   recording is used ([`Output::kernel_inferred`] says so).
//! * **Boot recordings.** A `BOOTARG cpuhp.parallel=…` line makes the recording one of the boot
//!   bring-up: the machine starts with the states the kernel has at `smp_init`
//!   ([`crate::boot`]) and the secondary CPUs are brought up as that kernel does — kicked in
//!   parallel first where the kernel has a kick state and the parameter does not say 0, one
//!   after the other otherwise. `DMESG` lines are the kernel's log as recorded (the simulator
//!   has none) and are echoed.
//! * **Interleaving.** Trace lines of different contexts (the control side, and each CPU's own
//!   thread) interleave as timing has it. A `TRACE` run matches when every context's lines come
//!   in the same order as recorded; the recorded interleaving is then kept.
//!
//! Two inputs are not in the file and are inferred:
//! * **Where tracing started.** A `TRACE` run covers a suffix of the actions (`CMD` lines) since
//!   the previous `PARAM` or `TRACE` line; the replay takes the longest suffix whose trace equals
//!   the recording, or all of them if none does (and then reports the difference).
//! * **Whether warnings were captured.** Linux prints warnings our replay reports as `WARN` lines
//!   (the recordings here contain none, though Linux 6.1 warns, e.g., on a duplicate notifier
//!   registration). So `WARN` lines are compared only when the recording contains any; they are
//!   compared by position and CPU, not by source location.

use std::fmt;
use std::sync::{Arc, Mutex, MutexGuard};

use cpuhp::preset::{self, Preset};
use cpuhp::sim::Machine;
use cpuhp::{Context, CpuId, Errno, StateId, Topology, TraceEvent};

use crate::hporacle::Hporacle;
use crate::module::LogEntry;
use crate::notifier_cases::SharedLog;
use crate::{ChainKind, ModuleParams, OracleLog};

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// How to replay.
///
/// # Examples
///
/// ```
/// use conformance::{replay::Options, ChainKind};
///
/// let o = Options { blocking: ChainKind::Atomic, ..Options::default() };
/// assert_eq!(o.cpus, 4);
/// assert!(o.kernel.is_none());
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Options {
    /// The chain kind playing the module's blocking notifier chain.
    pub blocking: ChainKind,
    /// The chain kind playing the module's raw notifier chain.
    pub raw: ChainKind,
    /// CPUs of the simulated machine (the recordings ran with `-smp 4`).
    pub cpus: u32,
    /// The kernel preset for a recording without a `KERNEL` line (`None`: the kernel preset that
    /// agrees longest with the recording). A `KERNEL` line always wins.
    pub kernel: Option<&'static Preset>,
}

impl Default for Options {
    fn default() -> Options {
        Options {
            blocking: ChainKind::Blocking,
            raw: ChainKind::Raw,
            cpus: 4,
            kernel: None,
        }
    }
}

/// A line of the trace file that the replay cannot act on.
///
/// # Examples
///
/// ```
/// use conformance::replay::{replay, Options};
///
/// let err = replay("CMD reboot\n", &Options::default()).unwrap_err();
/// assert_eq!(err.line, 1);
/// assert!(err.to_string().contains("CMD reboot"));
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ParseError {
    /// 1-based line number.
    pub line: usize,
    /// The line.
    pub text: String,
    /// What was expected there.
    pub expected: &'static str,
}

impl fmt::Display for ParseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "line {}: `{}`: expected {}",
            self.line, self.text, self.expected
        )
    }
}

impl std::error::Error for ParseError {}

/// One line of our output, with the deliberate difference (if any) that happened just before it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OutLine {
    /// The text.
    pub text: String,
    /// A deliberate difference from Linux recorded right before this line.
    pub note: Option<&'static str>,
}

/// The complete file as this implementation produced it.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Output {
    /// Every line, inputs echoed.
    pub lines: Vec<OutLine>,
    /// The preset replayed on (`linux-6.1`, `linux-6.12`).
    pub kernel: &'static str,
    /// The recording has no `KERNEL` line and no kernel was given: [`Output::kernel`] is the
    /// kernel preset that agreed longest with it.
    pub kernel_inferred: bool,
}

impl fmt::Display for Output {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for l in &self.lines {
            writeln!(f, "{}", l.text)?;
        }
        Ok(())
    }
}

/// How a replay compares with the recording.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Verdict {
    /// Every line equal.
    Pass {
        /// Lines compared.
        lines: usize,
    },
    /// The first difference comes after a documented, deliberate difference from Linux.
    Deliberate {
        /// Index (0-based) of the first differing line.
        at: usize,
        /// The recording's line there (`None`: the recording ended).
        expected: Option<String>,
        /// Ours (`None`: ours ended).
        got: Option<String>,
        /// The deliberate difference.
        reason: &'static str,
    },
    /// A difference nothing explains.
    Mismatch {
        /// Index (0-based) of the first differing line.
        at: usize,
        /// The recording's line there (`None`: the recording ended).
        expected: Option<String>,
        /// Ours (`None`: ours ended).
        got: Option<String>,
    },
}

/// The state of a replay in progress.
struct Player {
    preset: &'static Preset,
    machine: Machine,
    log: SharedLog,
    trace: Arc<Mutex<Vec<String>>>,
    module: Option<Hporacle>,
    opts: Options,
    out: Vec<OutLine>,
    pending_note: Option<&'static str>,
    /// Trace lines of each action since the last `PARAM`/`TRACE` line.
    window: Vec<Vec<String>>,
}

impl Player {
    fn push(&mut self, text: String) {
        let note = self.pending_note.take();
        self.out.push(OutLine { text, note });
    }

    /// Moves the module's log to the output.
    fn drain_log(&mut self) {
        let entries = lock(&self.log).take_entries();
        for e in entries {
            match e {
                LogEntry::Line(l) => self.push(l),
                LogEntry::Note(n) => {
                    self.pending_note.get_or_insert(n);
                }
            }
        }
    }

    /// Runs one traced action, keeping its trace lines in the window.
    fn traced<R>(&mut self, action: impl FnOnce(&mut Player) -> R) -> R {
        lock(&self.trace).clear();
        let r = action(self);
        let lines = std::mem::take(&mut *lock(&self.trace));
        self.window.push(lines);
        r
    }

    fn read(&self, path: &str) -> Result<String, Errno> {
        self.machine
            .sysfs_read(path)
            .map(|s| s.trim_end().to_string())
    }
}

fn event_line(ev: &TraceEvent<'_>) -> Option<String> {
    let ctx = match ev {
        TraceEvent::Enter { context, .. } | TraceEvent::Exit { context, .. } => *context,
        _ => return None,
    };
    let ctx = match ctx {
        Context::Control => "bp",
        Context::ApThread => "ap",
        // Linux records nothing here: RCU is not watching a CPU that is booting or dying.
        Context::ApAtomic => return None,
    };
    Some(format!("TRACE ctx={ctx} {ev}"))
}

/// Re-enacts `input` and returns the complete file we produce.
///
/// # Errors
///
/// [`ParseError`] for a line the format does not have.
///
/// # Examples
///
/// ```
/// use conformance::replay::{replay, Options};
///
/// let out = replay("ONLINE 0-3\nCMD write /sys/devices/system/cpu/cpu1/online 0\nONLINE x\n", &Options::default())?;
/// assert_eq!(out.to_string(), "ONLINE 0-3\n\
///     CMD write /sys/devices/system/cpu/cpu1/online 0\n\
///     WRITE path=/sys/devices/system/cpu/cpu1/online val=0 rc=0 err=0\n\
///     ONLINE 0,2-3\n");
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn replay(input: &str, opts: &Options) -> Result<Output, ParseError> {
    if let Some(p) = recorded_kernel(input)? {
        return replay_on(input, opts, p);
    }
    if let Some(p) = opts.kernel {
        return replay_on(input, opts, p);
    }
    // No kernel named: the kernel preset that agrees longest with the recording (the first of
    // equals, so a kernel-independent recording replays on the oldest kernel).
    let mut best: Option<(usize, Output)> = None;
    for p in preset::ALL.iter().copied().filter(|p| kernel_preset(p)) {
        let out = replay_on(input, opts, p)?;
        let agree = match compare(input, &out) {
            Verdict::Pass { .. } => usize::MAX,
            Verdict::Deliberate { at, .. } | Verdict::Mismatch { at, .. } => at,
        };
        if best.as_ref().is_none_or(|(a, _)| agree > *a) {
            best = Some((agree, out));
        }
    }
    let (_, mut out) = best.ok_or(ParseError {
        line: 0,
        text: String::new(),
        expected: "a kernel preset to replay on",
    })?;
    out.kernel_inferred = true;
    Ok(out)
}

/// A preset modelling a real kernel (`linux-X.Y`), as opposed to the demo.
fn kernel_preset(p: &Preset) -> bool {
    p.name.starts_with("linux-")
}

/// The kernel preset for a release as `uname -r` prints it: `6.1.0-56-amd64` → `linux-6.1`,
/// `6.12.117+deb12-amd64` → `linux-6.12`.
///
/// # Examples
///
/// ```
/// use conformance::replay::preset_for_release;
///
/// assert_eq!(preset_for_release("6.12.117+deb12-amd64").map(|p| p.name), Some("linux-6.12"));
/// assert_eq!(preset_for_release("6.1.0-56-amd64").map(|p| p.name), Some("linux-6.1"));
/// assert!(preset_for_release("6.10.3").is_none());
/// assert!(preset_for_release("demo").is_none());
/// ```
pub fn preset_for_release(release: &str) -> Option<&'static Preset> {
    let mut parts = release.split(['.', '-', '+']);
    let (major, minor) = (parts.next()?, parts.next()?);
    if major.parse::<u32>().is_err() || minor.parse::<u32>().is_err() {
        return None;
    }
    preset::by_name(&format!("linux-{major}.{minor}")).filter(|p| kernel_preset(p))
}

/// The preset the recording's `KERNEL` line names, if it has one.
fn recorded_kernel(input: &str) -> Result<Option<&'static Preset>, ParseError> {
    let Some((i, line)) = input
        .lines()
        .enumerate()
        .find(|(_, l)| l.starts_with("KERNEL "))
    else {
        return Ok(None);
    };
    let release = line["KERNEL ".len()..].trim();
    preset_for_release(release)
        .map(Some)
        .ok_or_else(|| ParseError {
            line: i + 1,
            text: line.to_string(),
            expected: "a kernel this replay models (6.1.x or 6.12.x)",
        })
}

/// The boot recording's `cpuhp.parallel=` setting (`Some(None)`: unset), if it is one.
fn boot_parameter(input: &str) -> Result<Option<Option<bool>>, ParseError> {
    for (i, line) in input.lines().enumerate() {
        if let Some(rest) = line.strip_prefix("BOOTARG ") {
            let err = || ParseError {
                line: i + 1,
                text: line.to_string(),
                expected: "BOOTARG cpuhp.parallel=unset|0|1",
            };
            let value = rest.strip_prefix("cpuhp.parallel=").ok_or_else(err)?;
            return crate::boot::parse_parallel(value).map(Some).ok_or_else(err);
        }
    }
    Ok(None)
}

/// Replays `input` on `preset`.
fn replay_on(input: &str, opts: &Options, preset: &'static Preset) -> Result<Output, ParseError> {
    let boot = boot_parameter(input)?;
    let machine_preset = match boot {
        Some(_) => crate::boot::at_smp_init(preset).ok_or(ParseError {
            line: 0,
            text: preset.name.to_string(),
            expected: "a kernel whose boot-time states are known",
        })?,
        None => preset,
    };
    let machine =
        Machine::new(machine_preset, Topology::new(opts.cpus)).map_err(|e| ParseError {
            line: 0,
            text: e.to_string(),
            expected: "a machine to replay on",
        })?;
    if boot.is_some() {
        // The machine booted its CPUs untraced; take the secondaries back down so the traced
        // bring-up below starts, as at boot, with only the boot CPU up.
        for c in (1..opts.cpus).rev() {
            machine
                .cpu_down(CpuId(c), StateId::OFFLINE)
                .map_err(|e| ParseError {
                    line: 0,
                    text: e.to_string(),
                    expected: "a machine whose secondary CPUs can go down",
                })?;
        }
    }
    let log: SharedLog = Arc::new(Mutex::new(OracleLog::new()));
    let trace = Arc::new(Mutex::new(Vec::new()));
    {
        let (log, trace) = (log.clone(), trace.clone());
        let _ = machine.set_tracer(move |ev| match ev {
            TraceEvent::Warning {
                warning,
                cpu,
                context,
            } => {
                let on = if *context == Context::Control {
                    CpuId(0)
                } else {
                    *cpu
                };
                lock(&log).raw(format!(
                    "WARN cpu={on} at=kernel/cpu.c fn={}",
                    warning.linux_function()
                ));
            }
            TraceEvent::Divergence { divergence, .. } => lock(&log).note(divergence.explain()),
            _ => {
                if let Some(line) = event_line(&kernel_symbol(preset, *ev)) {
                    lock(&trace).push(line);
                }
            }
        });
    }
    let mut p = Player {
        preset,
        machine,
        log,
        trace,
        module: None,
        opts: *opts,
        out: Vec::new(),
        pending_note: None,
        window: Vec::new(),
    };
    if let Some(parallel) = boot {
        let cpus: Vec<CpuId> = (1..opts.cpus).map(CpuId).collect();
        let kick = preset.layout.bp_kick_ap.is_some();
        p.traced(|p| {
            // Linux 6.5+ brings the CPUs up in parallel unless `cpuhp.parallel=0`; without a
            // kick state (6.1) the kernel has no parallel bring-up and ignores the parameter.
            if kick && parallel != Some(false) {
                let _ = p.machine.bringup_cpus_parallel(&cpus);
            } else {
                for &c in &cpus {
                    let _ = p.machine.cpu_up(c, preset.layout.online);
                }
            }
        });
    }
    let lines: Vec<&str> = input.lines().collect();
    let mut i = 0;
    while i < lines.len() {
        let line = lines[i];
        let err = |expected| ParseError {
            line: i + 1,
            text: line.to_string(),
            expected,
        };
        let (kind, rest) = line.split_once(' ').unwrap_or((line, ""));
        match kind {
            "CMD" => {
                p.push(line.to_string());
                command(&mut p, rest).map_err(err)?;
            }
            "PARAM" => {
                p.push(line.to_string());
                if let Some(m) = &p.module {
                    lock(m.params())
                        .set(rest)
                        .map_err(|_| err("PARAM name=value of a module parameter"))?;
                }
                p.window.clear();
            }
            "INFO" | "BOOTARG" | "DMESG" => p.push(line.to_string()),
            "ONLINE" => {
                let online = p
                    .read("online")
                    .map_err(|_| err("a readable online mask"))?;
                p.push(format!("ONLINE {online}"));
            }
            "CPUSTATE" => {
                let cpu = field(rest, "cpu").ok_or_else(|| err("CPUSTATE cpu=N ..."))?;
                let get = |f: &str| {
                    p.read(&format!("cpu{cpu}/hotplug/{f}"))
                        .unwrap_or_else(|e| format!("-{}", e.code()))
                };
                let text = format!(
                    "CPUSTATE cpu={cpu} state={} target={} fail={}",
                    get("state"),
                    get("target"),
                    get("fail")
                );
                p.push(text);
            }
            "STATE" => {
                // One readout for the whole run of STATE lines: the whole table (it starts at
                // `offline`), only the module's (`grep hporacle`), or the states the script
                // looked up by name (their names are input, their numbers output).
                let mut j = i;
                let mut only_module = true;
                while j < lines.len() && lines[j].starts_with("STATE ") {
                    only_module &= lines[j].contains("hporacle");
                    j += 1;
                }
                let whole = lines[i] == "STATE num=0 name=offline";
                let states = p.machine.with(|hp| hp.states()).unwrap_or_default();
                if whole || only_module {
                    for (s, name) in states {
                        if !only_module || name.contains("hporacle") {
                            p.push(format!("STATE num={s} name={name}"));
                        }
                    }
                } else {
                    for l in &lines[i..j] {
                        let name = field(&l["STATE ".len()..], "name")
                            .ok_or_else(|| err("STATE num=N name=S"))?;
                        let num = states
                            .iter()
                            .find(|(_, n)| n == name)
                            .map_or("-".to_string(), |(s, _)| s.to_string());
                        p.push(format!("STATE num={num} name={name}"));
                    }
                }
                i = j;
                continue;
            }
            "KERNEL" => p.push(format!("KERNEL {}", p.preset.kernel)),
            "PRESENT" => {
                let present = p.read("present").unwrap_or_default();
                let possible = p.read("possible").unwrap_or_default();
                p.push(format!("PRESENT {present} POSSIBLE {possible}"));
            }
            "HAS_ONLINE_FILE" => {
                let cpu = field(rest, "cpu").ok_or_else(|| err("HAS_ONLINE_FILE cpu=N yes|no"))?;
                let has = if p.read(&format!("cpu{cpu}/online")).is_ok() {
                    "yes"
                } else {
                    "no"
                };
                p.push(format!("HAS_ONLINE_FILE cpu={cpu} {has}"));
            }
            "TRACE" => {
                let mut j = i;
                while j < lines.len() && lines[j].starts_with("TRACE ") {
                    j += 1;
                }
                let want: Vec<&str> = lines[i..j].to_vec();
                let candidates: Vec<Vec<String>> = (0..p.window.len())
                    .map(|start| p.window[start..].concat())
                    .collect();
                let chosen = candidates
                    .iter()
                    .find(|cand| cand.iter().map(String::as_str).eq(want.iter().copied()))
                    .cloned()
                    .or_else(|| {
                        // The same lines in every context, interleaved differently: timing, which
                        // the recording shows; keep its interleaving.
                        candidates
                            .iter()
                            .any(|cand| same_per_context(cand, &want))
                            .then(|| want.iter().map(|l| l.to_string()).collect())
                    })
                    .unwrap_or_else(|| p.window.concat());
                for l in chosen {
                    p.push(l);
                }
                p.window.clear();
                i = j;
                continue;
            }
            // Output of the actions above: produced, not read.
            "HPORACLE" | "INSMOD" | "RMMOD" | "WRITE" | "WARN" => {}
            "" => p.push(String::new()),
            _ => {
                return Err(err(
                    "a line kind of the recording format (CMD, PARAM, INFO, ONLINE, CPUSTATE, STATE, TRACE, ...)",
                ));
            }
        }
        i += 1;
    }
    p.drain_log();
    if let Some(m) = p.module.take() {
        // The machine goes away with the replay; the module's states with it.
        drop(m);
    }
    Ok(Output {
        lines: p.out,
        kernel: preset.name,
        kernel_inferred: false,
    })
}

/// The event with the kernel's own symbol for a preset state. The core names its steps
/// (`bringup_cpu`, ...) as Linux 6.1 does; a kernel that renamed them (6.12's
/// `cpuhp_bringup_ap`) lists its symbol in the preset.
fn kernel_symbol<'a>(preset: &'a Preset, mut ev: TraceEvent<'a>) -> TraceEvent<'a> {
    if let TraceEvent::Enter {
        step,
        bringup,
        symbol,
        ..
    } = &mut ev
    {
        let named = preset
            .states
            .iter()
            .find(|s| s.number == step.get())
            .and_then(|s| if *bringup { s.startup } else { s.teardown });
        if let Some(name) = named {
            *symbol = name;
        }
    }
    ev
}

/// Which context a trace line belongs to: the control side, or one CPU's own thread.
fn trace_context(line: &str) -> (&str, &str) {
    let ctx = field(line, "ctx").unwrap_or("");
    let cpu = line
        .split_once("cpu: ")
        .map_or("", |(_, r)| r.split(' ').next().unwrap_or(""));
    if ctx == "bp" { ("bp", "") } else { (ctx, cpu) }
}

/// `ours` and `want` hold the same lines, in the same order within each context.
fn same_per_context(ours: &[String], want: &[&str]) -> bool {
    if ours.len() != want.len() {
        return false;
    }
    let mut keys: Vec<(&str, &str)> = want.iter().map(|l| trace_context(l)).collect();
    keys.sort_unstable();
    keys.dedup();
    keys.iter().all(|k| {
        let a = ours
            .iter()
            .map(String::as_str)
            .filter(|l| trace_context(l) == *k);
        let b = want.iter().copied().filter(|l| trace_context(l) == *k);
        a.eq(b)
    })
}

/// The value of `name=` in a line's fields.
fn field<'a>(rest: &'a str, name: &str) -> Option<&'a str> {
    rest.split(' ')
        .find_map(|f| f.strip_prefix(name)?.strip_prefix('='))
}

fn command(p: &mut Player, rest: &str) -> Result<(), &'static str> {
    if let Some(args) = rest.strip_prefix("insmod hporacle") {
        p.traced(|p| {
            let rc = match (&p.module, ModuleParams::parse(args.split(' '))) {
                (Some(_), _) | (None, Err(_)) => 1,
                (None, Ok(params)) => {
                    let (b, r) = (p.opts.blocking, p.opts.raw);
                    p.push("INSMOD rc=0".into());
                    p.module = Some(Hporacle::load(&p.machine, params, &p.log, b, r));
                    p.drain_log();
                    return;
                }
            };
            p.push(format!("INSMOD rc={rc}"));
        });
        Ok(())
    } else if rest == "rmmod hporacle" {
        p.traced(|p| match p.module.take() {
            Some(m) => {
                p.push("RMMOD rc=0".into());
                m.unload(&p.machine);
                p.drain_log();
            }
            None => p.push("RMMOD rc=1".into()),
        });
        Ok(())
    } else if let Some(args) = rest.strip_prefix("write ") {
        let (path, value) = args.split_once(' ').ok_or("CMD write PATH VALUE")?;
        p.traced(|p| {
            let r = p.machine.sysfs_write(path, value);
            p.drain_log();
            let (rc, name) = match r {
                Ok(()) => (0, "0".to_string()),
                Err(e) => (e.to_neg(), e.name().unwrap_or("(null)").to_string()),
            };
            p.push(format!("WRITE path={path} val={value} rc={rc} err={name}"));
        });
        Ok(())
    } else {
        Err("CMD insmod hporacle ..., CMD rmmod hporacle or CMD write PATH VALUE")
    }
}

/// Compares our output with the recording (see the module docs for `WARN` lines).
///
/// # Examples
///
/// ```
/// use conformance::replay::{compare, replay, Options, Verdict};
///
/// let rec = "ONLINE 0-3\n";
/// let ours = replay(rec, &Options::default())?;
/// assert_eq!(compare(rec, &ours), Verdict::Pass { lines: 1 });
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn compare(expected: &str, got: &Output) -> Verdict {
    let exp: Vec<&str> = expected.lines().collect();
    let with_warnings = exp.iter().any(|l| l.starts_with("WARN "));
    // Drop our WARN lines if the recording has none, carrying their notes forward.
    let mut ours: Vec<(&str, Option<&'static str>)> = Vec::new();
    let mut carried = None;
    for l in &got.lines {
        let note = l.note.or(carried.take());
        if !with_warnings && l.text.starts_with("WARN ") {
            carried = note;
            continue;
        }
        ours.push((&l.text, note));
    }
    let same = |e: &str, g: &str| {
        if e.starts_with("WARN ") && g.starts_with("WARN ") {
            e.split(' ').nth(1) == g.split(' ').nth(1)
        } else {
            e == g
        }
    };
    let n = exp.len().max(ours.len());
    for at in 0..n {
        let (e, g) = (exp.get(at).copied(), ours.get(at).map(|x| x.0));
        if let (Some(e), Some(g)) = (e, g) {
            if same(e, g) {
                continue;
            }
        }
        let reason = ours.iter().take(at + 1).find_map(|x| x.1);
        let (expected, got) = (e.map(str::to_string), g.map(str::to_string));
        return match reason {
            Some(reason) => Verdict::Deliberate {
                at,
                expected,
                got,
                reason,
            },
            None => Verdict::Mismatch { at, expected, got },
        };
    }
    Verdict::Pass { lines: n }
}
