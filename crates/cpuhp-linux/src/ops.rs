//! Safe operations: a [`Plan`] checked against the refusal rules, applied by a [`Transaction`]
//! that journals every write and, on an error, an interrupt or a panic, puts every CPU it touched
//! back where it found it and disarms every `fail` it armed.

use std::fmt;
use std::sync::atomic::{AtomicBool, Ordering};

use cpuhp::CpuId;
use serde::Serialize;

use crate::io::{Fs, IoError, SysfsIo};
use crate::probe::CpuInfo;
use crate::status::{StateRow, read_num, read_states, resolve_state};

/// An operation on the real machine.
///
/// # Examples
///
/// ```
/// use cpuhp_linux::Op;
/// assert_eq!(Op::Offline(vec![1, 3]).to_string(), "offline 1,3");
/// assert_eq!(Op::Target(2, "online".into()).to_string(), "target 2 online");
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Op {
    /// Write `0` to each CPU's `online`.
    Offline(Vec<u32>),
    /// Write `1` to each CPU's `online`.
    Online(Vec<u32>),
    /// Write a state (number or name) to a CPU's `hotplug/target`.
    Target(u32, String),
    /// Arm a one-shot failure: write a state to a CPU's `hotplug/fail` (disarmed again when the
    /// transaction ends).
    Fail(u32, u32),
}

impl fmt::Display for Op {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let list = |v: &[u32]| v.iter().map(u32::to_string).collect::<Vec<_>>().join(",");
        match self {
            Op::Offline(c) => write!(f, "offline {}", list(c)),
            Op::Online(c) => write!(f, "online {}", list(c)),
            Op::Target(c, s) => write!(f, "target {c} {s}"),
            Op::Fail(c, s) => write!(f, "fail {c} {s}"),
        }
    }
}

/// Parses the words of an operation: `offline 1,3-4`, `online 2`, `target 1 200`,
/// `target 1 sched:active`, `fail 1 211`.
///
/// # Errors
///
/// [`Error::Usage`](crate::Error::Usage) for an unknown verb, a bad CPU list or missing words.
///
/// # Examples
///
/// ```
/// use cpuhp_linux::{parse_op, Op};
/// assert_eq!(parse_op(&["offline", "1,3-4"])?, Op::Offline(vec![1, 3, 4]));
/// assert_eq!(parse_op(&["target", "2", "online"])?, Op::Target(2, "online".into()));
/// assert!(parse_op(&["reboot"]).is_err());
/// # Ok::<(), cpuhp_linux::Error>(())
/// ```
pub fn parse_op<S: AsRef<str>>(words: &[S]) -> Result<Op, crate::Error> {
    let w: Vec<&str> = words.iter().map(AsRef::as_ref).collect();
    let usage = |m: String| crate::Error::Usage(m);
    let num = |s: &str, what: &str| {
        s.parse::<u32>()
            .map_err(|_| usage(format!("{what}: not a number: {s:?}")))
    };
    match w.as_slice() {
        ["offline", list] => Ok(Op::Offline(parse_cpus(list)?)),
        ["online", list] => Ok(Op::Online(parse_cpus(list)?)),
        ["target", cpu, state] => Ok(Op::Target(num(cpu, "CPU")?, (*state).to_string())),
        ["fail", cpu, state] => Ok(Op::Fail(num(cpu, "CPU")?, num(state, "state")?)),
        _ => Err(usage(format!(
            "not an operation: {:?} (expected `offline CPUS`, `online CPUS`, `target CPU STATE` or `fail CPU STATE`)",
            w.join(" ")
        ))),
    }
}

/// Parses a CPU list in Linux's format (`0,2-3`) into ascending CPU numbers.
///
/// # Errors
///
/// [`Error::Usage`](crate::Error::Usage) for anything else.
///
/// # Examples
///
/// ```
/// assert_eq!(cpuhp_linux::parse_cpus("3,1-2")?, [1, 2, 3]);
/// assert!(cpuhp_linux::parse_cpus("2-1").is_err());
/// # Ok::<(), cpuhp_linux::Error>(())
/// ```
pub fn parse_cpus(list: &str) -> Result<Vec<u32>, crate::Error> {
    let bad = || crate::Error::Usage(format!("not a CPU list: {list:?} (e.g. 1,3-4)"));
    let hi = list
        .split([',', '-'])
        .map(|n| n.trim().parse::<u32>().map_err(|_| bad()))
        .collect::<Result<Vec<_>, _>>()?
        .into_iter()
        .max()
        .ok_or_else(bad)?;
    if hi >= 8192 {
        return Err(bad());
    }
    let m = cpuhp::CpuMask::parse_list(list, hi + 1).ok_or_else(bad)?;
    if m.weight() == 0 {
        return Err(bad());
    }
    Ok(m.iter().map(|c| c.0).collect())
}

/// One write a plan makes.
///
/// # Examples
///
/// ```
/// use cpuhp_linux::{plan, Op, SimKernel};
/// let p = plan(&SimKernel::new(&cpuhp::preset::LINUX_6_1, 2)?, &Op::Offline(vec![1]))?;
/// assert_eq!((p.writes[0].value.as_str(), p.writes[0].before.as_str()), ("0", "1\n"));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Write {
    /// The CPU.
    pub cpu: u32,
    /// The file, relative to `/sys/devices/system/cpu`.
    pub file: String,
    /// What is written.
    pub value: String,
    /// What the file held before (when the plan was made).
    pub before: String,
}

/// The writes of an operation, checked against the refusal rules.
///
/// # Examples
///
/// ```
/// use cpuhp_linux::{plan, Op, SimKernel};
/// let p = plan(&SimKernel::new(&cpuhp::preset::LINUX_6_1, 2)?, &Op::Offline(vec![1]))?;
/// assert_eq!(p.to_string(), "plan: offline 1\n  write 0 > cpu1/online  (was 1)\n");
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Plan {
    /// The operation, as the user wrote it.
    pub op: String,
    /// The writes, in order.
    pub writes: Vec<Write>,
}

impl fmt::Display for Plan {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "plan: {}", self.op)?;
        if self.writes.is_empty() {
            writeln!(f, "  nothing to write")?;
        }
        for w in &self.writes {
            writeln!(
                f,
                "  write {} > {}  (was {})",
                w.value,
                w.file,
                w.before.trim()
            )?;
        }
        Ok(())
    }
}

/// The number of the state below which a CPU is offline: `cpu:teardown` (its teardown stops the
/// CPU); without it, the top (online) state.
fn offline_below(states: &[StateRow]) -> u32 {
    states
        .iter()
        .find(|r| r.name == "cpu:teardown")
        .or(states.last())
        .map_or(u32::MAX, |r| r.number)
}

/// Makes the plan of an operation, refusing (with [`Error::Refused`](crate::Error::Refused))
/// to take offline a CPU without an `online` file, the last online CPU or the last housekeeping
/// CPU (online, neither isolated nor `nohz_full`). Writes nothing.
///
/// # Errors
///
/// `Refused`; `Usage` for an unknown CPU or state; an unreadable file.
///
/// # Examples
///
/// ```
/// use cpuhp_linux::{plan, Error, Op, SimKernel};
///
/// let k = SimKernel::new(&cpuhp::preset::LINUX_6_1, 2)?;
/// let p = plan(&k, &Op::Offline(vec![1]))?;
/// assert_eq!(p.writes[0].file, "cpu1/online");
/// assert!(matches!(plan(&k, &Op::Offline(vec![0])), Err(Error::Refused(_))));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn plan(io: &dyn SysfsIo, op: &Op) -> Result<Plan, crate::Error> {
    let info = CpuInfo::read(io)?;
    let known = |cpu: u32| {
        if cpu < info.nr_cpus && io.exists(Fs::Cpu, &format!("cpu{cpu}")) {
            Ok(())
        } else {
            Err(crate::Error::Usage(format!(
                "no CPU {cpu} (possible: 0-{})",
                info.nr_cpus - 1
            )))
        }
    };
    let before = |file: &str| io.read(Fs::Cpu, file).map_err(crate::Error::Io);
    let mut writes = Vec::new();
    // The CPUs this operation takes offline, for the refusal rules.
    let mut going: Vec<u32> = Vec::new();
    match op {
        Op::Offline(cpus) | Op::Online(cpus) => {
            let up = matches!(op, Op::Online(_));
            for &c in cpus {
                known(c)?;
                let file = format!("cpu{c}/online");
                if !info.online_files.contains(CpuId(c)) {
                    return Err(crate::Error::Refused(format!(
                        "CPU {c} has no online file ({}): it cannot be taken offline or online",
                        io.display(Fs::Cpu, &file)
                    )));
                }
                if !up {
                    going.push(c);
                }
                writes.push(Write {
                    cpu: c,
                    before: before(&file)?,
                    file,
                    value: if up { "1" } else { "0" }.into(),
                });
            }
        }
        Op::Target(c, state) => {
            known(*c)?;
            let states = read_states(io)?;
            let n = resolve_state(&states, state)?;
            let file = format!("cpu{c}/hotplug/target");
            if !io.exists(Fs::Cpu, &file) {
                return Err(crate::Error::Refused(format!(
                    "CPU {c} has no {}",
                    io.display(Fs::Cpu, &file)
                )));
            }
            if n < offline_below(&states) && info.online.contains(CpuId(*c)) {
                going.push(*c);
            }
            writes.push(Write {
                cpu: *c,
                before: before(&file)?,
                file,
                value: n.to_string(),
            });
        }
        Op::Fail(c, state) => {
            known(*c)?;
            let file = format!("cpu{c}/hotplug/fail");
            if !io.exists(Fs::Cpu, &file) {
                return Err(crate::Error::Refused(format!(
                    "CPU {c} has no {}",
                    io.display(Fs::Cpu, &file)
                )));
            }
            writes.push(Write {
                cpu: *c,
                before: before(&file)?,
                file,
                value: state.to_string(),
            });
        }
    }
    let stays = |mask: &cpuhp::CpuMask| mask.iter().any(|c| !going.contains(&c.0));
    if !going.is_empty() && !stays(&info.online) {
        return Err(crate::Error::Refused(format!(
            "{op}: would take the last online CPU offline"
        )));
    }
    let was_housekeeping = going.iter().any(|c| info.housekeeping.contains(CpuId(*c)));
    if was_housekeeping && !stays(&info.housekeeping) {
        return Err(crate::Error::Refused(format!(
            "{op}: would take the last housekeeping CPU offline (housekeeping: {}; isolated: {}; nohz_full: {})",
            info.housekeeping, info.isolated, info.nohz_full
        )));
    }
    Ok(Plan {
        op: op.to_string(),
        writes,
    })
}

/// One write the transaction made.
///
/// # Examples
///
/// ```
/// use cpuhp_linux::{execute, plan, Op, SimKernel};
/// let mut k = SimKernel::new(&cpuhp::preset::LINUX_6_1, 2)?;
/// let p = plan(&k, &Op::Offline(vec![1]))?;
/// let j = &execute(&mut k, &p, None)?.journal[0];
/// assert_eq!((j.value.as_str(), j.result.as_str(), j.restore), ("0", "ok", false));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct JournalEntry {
    /// The file, as the user would name it.
    pub file: String,
    /// What was written.
    pub value: String,
    /// `ok`, or the error (`EBUSY`, …).
    pub result: String,
    /// Written while restoring.
    pub restore: bool,
}

/// Where a CPU was when the transaction first touched it.
#[derive(Clone, Debug, PartialEq, Eq)]
struct Before {
    cpu: u32,
    online_file: Option<bool>,
    state: Option<u32>,
    fail_armed: bool,
}

/// How a transaction ended.
///
/// # Examples
///
/// ```
/// use cpuhp_linux::{execute, plan, Op, SimKernel};
/// let mut k = SimKernel::new(&cpuhp::preset::LINUX_6_1, 2)?;
/// let p = plan(&k, &Op::Offline(vec![1]))?;
/// let r = execute(&mut k, &p, None)?;
/// assert!(r.restored.is_empty() && r.not_restored.is_empty());
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Report {
    /// Every write, in order (the restoring ones flagged).
    pub journal: Vec<JournalEntry>,
    /// What was put back, one line per CPU (empty when nothing needed restoring).
    pub restored: Vec<String>,
    /// What could not be put back (the machine is not where it was).
    pub not_restored: Vec<String>,
}

/// Applies plans, journaling every write; restores on [`rollback`](Self::rollback), and on drop
/// unless [`commit`](Self::commit)ted — so a panic unwinding through it restores too.
///
/// # Examples
///
/// ```
/// use cpuhp_linux::{plan, Fs, Op, SimKernel, SysfsIo, Transaction};
///
/// let mut k = SimKernel::new(&cpuhp::preset::LINUX_6_1, 4)?;
/// let p = plan(&k, &Op::Offline(vec![1, 2]))?;
/// {
///     let mut tx = Transaction::new(&mut k, None);
///     tx.apply(&p)?;
///     let report = tx.rollback();
///     assert_eq!(report.restored, ["cpu1: online 1 (state 236)", "cpu2: online 1 (state 236)"]);
/// }
/// assert_eq!(k.read(Fs::Cpu, "online")?, "0-3\n");
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub struct Transaction<'a> {
    io: &'a mut dyn SysfsIo,
    interrupt: Option<&'a AtomicBool>,
    before: Vec<Before>,
    journal: Vec<JournalEntry>,
    done: bool,
}

impl fmt::Debug for Transaction<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Transaction")
            .field("journal", &self.journal)
            .finish_non_exhaustive()
    }
}

impl<'a> Transaction<'a> {
    /// A transaction on `io`; `interrupt` (set by a SIGINT/SIGTERM handler) is checked before
    /// every write.
    pub fn new(io: &'a mut dyn SysfsIo, interrupt: Option<&'a AtomicBool>) -> Transaction<'a> {
        Transaction {
            io,
            interrupt,
            before: Vec::new(),
            journal: Vec::new(),
            done: false,
        }
    }

    /// The file system, for reads between writes (recording reads the trace).
    pub fn io(&mut self) -> &mut dyn SysfsIo {
        self.io
    }

    /// The writes so far.
    pub fn journal(&self) -> &[JournalEntry] {
        &self.journal
    }

    fn interrupted(&self) -> bool {
        self.interrupt.is_some_and(|f| f.load(Ordering::SeqCst))
    }

    fn remember(&mut self, cpu: u32) -> Result<(), crate::Error> {
        if self.before.iter().any(|b| b.cpu == cpu) {
            return Ok(());
        }
        let io: &dyn SysfsIo = self.io;
        self.before.push(Before {
            cpu,
            online_file: read_num::<u8>(io, &format!("cpu{cpu}/online"))?.map(|v| v != 0),
            state: read_num(io, &format!("cpu{cpu}/hotplug/state"))?,
            fail_armed: false,
        });
        Ok(())
    }

    /// Writes and journals one value.
    fn write(&mut self, file: &str, value: &str, restore: bool) -> Result<(), IoError> {
        let r = self.io.write(Fs::Cpu, file, value);
        self.journal.push(JournalEntry {
            file: self.io.display(Fs::Cpu, file),
            value: value.to_string(),
            result: match &r {
                Ok(()) => "ok".into(),
                Err(e) => e.errno.map_or_else(|| e.detail.clone(), |n| n.to_string()),
            },
            restore,
        });
        r
    }

    /// Applies a plan's writes in order.
    ///
    /// # Errors
    ///
    /// [`Error::Io`](crate::Error::Io) with the errno and the file of the first failed write;
    /// [`Error::Interrupted`](crate::Error::Interrupted) when the interrupt flag was set. The
    /// caller then [`rollback`](Self::rollback)s (or drops the transaction).
    pub fn apply(&mut self, plan: &Plan) -> Result<(), crate::Error> {
        for w in &plan.writes {
            if self.interrupted() {
                return Err(crate::Error::Interrupted);
            }
            self.remember(w.cpu)?;
            if w.file.ends_with("/hotplug/fail") && w.value != "-1" {
                if let Some(b) = self.before.iter_mut().find(|b| b.cpu == w.cpu) {
                    b.fail_armed = true;
                }
            }
            self.write(&w.file, &w.value, false)
                .map_err(crate::Error::Io)?;
        }
        if self.interrupted() {
            return Err(crate::Error::Interrupted);
        }
        Ok(())
    }

    /// Keeps the changes (and still disarms the `fail`s it armed: a one-shot failure left armed
    /// would fire in someone else's operation).
    pub fn commit(mut self) -> Report {
        self.done = true;
        let mut not_restored = Vec::new();
        for b in self.before.clone() {
            if b.fail_armed {
                if let Err(e) = self.write(&format!("cpu{}/hotplug/fail", b.cpu), "-1", true) {
                    not_restored.push(format!("cpu{}: fail not disarmed: {e}", b.cpu));
                }
            }
        }
        Report {
            journal: std::mem::take(&mut self.journal),
            restored: Vec::new(),
            not_restored,
        }
    }

    /// Puts every touched CPU back where it was and disarms every armed `fail`.
    pub fn rollback(mut self) -> Report {
        self.restore()
    }

    fn restore(&mut self) -> Report {
        self.done = true;
        let mut restored = Vec::new();
        let mut not_restored = Vec::new();
        for b in self.before.clone().iter().rev() {
            let c = b.cpu;
            if b.fail_armed {
                if let Err(e) = self.write(&format!("cpu{c}/hotplug/fail"), "-1", true) {
                    not_restored.push(format!("cpu{c}: fail not disarmed: {e}"));
                }
            }
            let online_file = format!("cpu{c}/online");
            let state_file = format!("cpu{c}/hotplug/state");
            let io: &dyn SysfsIo = self.io;
            let now_online = read_num::<u8>(io, &online_file)
                .ok()
                .flatten()
                .map(|v| v != 0);
            let now_state = read_num::<u32>(io, &state_file).ok().flatten();
            let mut changed = false;
            if let (Some(was), Some(now)) = (b.online_file, now_online) {
                if was != now {
                    changed = true;
                    if let Err(e) = self.write(&online_file, if was { "1" } else { "0" }, true) {
                        not_restored.push(format!("cpu{c}: {e}"));
                        continue;
                    }
                }
            }
            // `online` goes through the device model, which does not see `target` writes: a CPU
            // moved by `target` goes back by `target`.
            if let Some(was) = b.state {
                let io: &dyn SysfsIo = self.io;
                let now = read_num::<u32>(io, &state_file).ok().flatten();
                if now != Some(was) {
                    changed = true;
                    if let Err(e) =
                        self.write(&format!("cpu{c}/hotplug/target"), &was.to_string(), true)
                    {
                        not_restored.push(format!("cpu{c}: {e}"));
                        continue;
                    }
                }
            }
            let io: &dyn SysfsIo = self.io;
            let final_state = read_num::<u32>(io, &state_file).ok().flatten();
            let final_online = read_num::<u8>(io, &online_file)
                .ok()
                .flatten()
                .map(|v| v != 0);
            if final_state != b.state || final_online != b.online_file {
                not_restored.push(format!(
                    "cpu{c}: is at online {} state {}, was online {} state {}",
                    show(final_online),
                    show(final_state),
                    show(b.online_file),
                    show(b.state)
                ));
            } else if changed || b.fail_armed || now_state != b.state {
                restored.push(format!(
                    "cpu{c}: online {} (state {})",
                    show(b.online_file),
                    show(b.state)
                ));
            }
        }
        restored.reverse();
        Report {
            journal: std::mem::take(&mut self.journal),
            restored,
            not_restored,
        }
    }
}

fn show<T: fmt::Display>(v: Option<T>) -> String {
    v.map_or_else(
        || "-".into(),
        |v| match format!("{v}").as_str() {
            "true" => "1".into(),
            "false" => "0".into(),
            s => s.to_string(),
        },
    )
}

impl Drop for Transaction<'_> {
    fn drop(&mut self) {
        if !self.done {
            // Dropped without commit or rollback: an early return or a panic unwinding.
            let r = self.restore();
            for l in &r.restored {
                eprintln!("restored {l}");
            }
            for l in &r.not_restored {
                eprintln!("NOT restored {l}");
            }
        }
    }
}

/// Runs a plan in a transaction: keeps the changes on success; on an error or an interrupt
/// puts everything back and returns the error with the report.
///
/// # Errors
///
/// The first failed write or the interrupt, with the report of what was restored.
///
/// # Examples
///
/// ```
/// use cpuhp_linux::{execute, plan, Fs, Op, SimKernel, SysfsIo};
///
/// let mut k = SimKernel::new(&cpuhp::preset::LINUX_6_1, 4)?;
/// k.fail_path("write", Fs::Cpu, "cpu2/online", cpuhp::Errno::EBUSY);
/// let p = plan(&k, &Op::Offline(vec![1, 2]))?;
/// let failed = execute(&mut k, &p, None).unwrap_err();
/// let (err, report) = (failed.error, failed.report);
/// assert_eq!(err.to_string(), "write /sys/devices/system/cpu/cpu2/online: EBUSY");
/// assert_eq!(report.restored, ["cpu1: online 1 (state 236)"]);
/// assert_eq!(k.read(Fs::Cpu, "online")?, "0-3\n");
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn execute(
    io: &mut dyn SysfsIo,
    plan: &Plan,
    interrupt: Option<&AtomicBool>,
) -> Result<Report, Box<Failed>> {
    let mut tx = Transaction::new(io, interrupt);
    match tx.apply(plan) {
        Ok(()) => Ok(tx.commit()),
        Err(error) => Err(Box::new(Failed {
            error,
            report: tx.rollback(),
        })),
    }
}

/// A transaction that failed: why, and what was restored.
///
/// # Examples
///
/// ```
/// use cpuhp_linux::{execute, plan, Error, Op, SimKernel};
/// use std::sync::atomic::AtomicBool;
/// let mut k = SimKernel::new(&cpuhp::preset::LINUX_6_1, 2)?;
/// let p = plan(&k, &Op::Offline(vec![1]))?;
/// let f = execute(&mut k, &p, Some(&AtomicBool::new(true))).unwrap_err();
/// assert!(matches!(f.error, Error::Interrupted));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug)]
pub struct Failed {
    /// The failed write or the interrupt.
    pub error: crate::Error,
    /// The journal and what was restored.
    pub report: Report,
}

/// The error, then one line per CPU restored (or not).
impl fmt::Display for Failed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.error)?;
        for l in &self.report.restored {
            write!(f, "\nrestored {l}")?;
        }
        for l in &self.report.not_restored {
            write!(f, "\nNOT restored {l}")?;
        }
        Ok(())
    }
}

impl std::error::Error for Failed {}
