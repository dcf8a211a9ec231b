//! What a scenario is: a machine, the subsystems on it (cpuhp states, multi-instance drivers,
//! legacy CPU notifiers) with their planned failures, and the operations to run.
//!
//! Usually parsed from TOML ([`Scenario::parse`]); every field is public so that a test can also
//! build one in Rust.

use std::ops::Range;

use cpuhp::legacy::CpuEvent;
use cpuhp::{Errno, Section, SmtControl};

/// A whole scenario.
///
/// # Examples
///
/// ```
/// use cpuhp_scenario::Scenario;
///
/// let s = Scenario::parse("demo.toml", r#"
///     [machine]
///     cpus = 2
///     [[state]]
///     name = "drv/online"
///     section = "online"
///     ops = ["down 1", "up 1"]
/// "#).unwrap_err();
/// // `ops` belongs at the top level, not inside a state:
/// assert!(s.to_string().contains("unknown field `ops`"));
/// ```
#[derive(Clone, Debug, PartialEq)]
pub struct Scenario {
    /// The machine.
    pub machine: MachineSpec,
    /// cpuhp states, in installation order.
    pub states: Vec<StateSpec>,
    /// Legacy CPU notifiers, in registration order.
    pub notifiers: Vec<NotifierSpec>,
    /// The operations, in order.
    pub ops: Vec<OpSpec>,
    /// Planned platform failures: CPUs that fail to boot, kicks that fail, CPUs that refuse to
    /// stop.
    pub faults: Vec<FaultSpec>,
}

/// Which preset state table the machine boots with.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PresetName {
    /// `cpuhp::preset::DEMO`: only the core's states (and a kick state for parallel bring-up).
    Demo,
    /// `cpuhp::preset::LINUX_6_1`: the 65 states of a Linux 6.1 x86_64 kernel.
    Linux61,
    /// `cpuhp::preset::LINUX_6_12`: the state table of a Linux 6.12 x86_64 kernel.
    Linux612,
    /// A preset loaded at run time, e.g. from a file `cpuhp linux learn` wrote (`cpuhp run
    /// --preset-file`); scenario files name only the built-in ones.
    Loaded(&'static cpuhp::preset::Preset),
}

impl PresetName {
    /// Every preset, with its name in scenario files.
    pub const ALL: [(&'static str, PresetName); 3] = [
        ("demo", PresetName::Demo),
        ("linux-6.1", PresetName::Linux61),
        ("linux-6.12", PresetName::Linux612),
    ];

    /// The preset itself.
    ///
    /// # Examples
    ///
    /// ```
    /// use cpuhp_scenario::PresetName;
    /// assert!(PresetName::Linux61.preset().kernel.starts_with("6.1"));
    /// ```
    pub fn preset(self) -> &'static cpuhp::preset::Preset {
        match self {
            PresetName::Demo => &cpuhp::preset::DEMO,
            PresetName::Linux61 => &cpuhp::preset::LINUX_6_1,
            PresetName::Linux612 => &cpuhp::preset::LINUX_6_12,
            PresetName::Loaded(p) => p,
        }
    }
}

/// The simulated machine.
#[derive(Clone, Debug, PartialEq)]
pub struct MachineSpec {
    /// CPUs, all present and booted.
    pub cpus: u32,
    /// Hardware threads per core.
    pub threads_per_core: u32,
    /// SMT control at boot.
    pub smt: SmtControl,
    /// The state table the machine boots with.
    pub preset: PresetName,
}

/// Where a state goes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SlotSpec {
    /// The lowest free dynamic slot of its section (PREPARE or ONLINE).
    Dynamic,
    /// This state number.
    Fixed(u32),
}

/// A planted bug in a state's callbacks, for `explore` to find.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Bug {
    /// A failing startup keeps what it acquired (it fails after allocating).
    LeakOnFailure,
    /// The teardown does not release what the startup acquired.
    TeardownLeaks,
}

impl Bug {
    /// Every bug, with its name in scenario files.
    pub const ALL: [(&'static str, Bug); 2] = [
        ("leak-on-failure", Bug::LeakOnFailure),
        ("teardown-leaks", Bug::TeardownLeaks),
    ];

    /// Its name in scenario files.
    ///
    /// # Examples
    ///
    /// ```
    /// assert_eq!(cpuhp_scenario::Bug::LeakOnFailure.name(), "leak-on-failure");
    /// ```
    pub fn name(self) -> &'static str {
        Bug::ALL
            .iter()
            .find(|(_, b)| *b == self)
            .map_or("", |(n, _)| n)
    }
}

/// A cpuhp state and its callbacks. Each callback that succeeds acquires (startup) or releases
/// (teardown) one unit of the subsystem's per-CPU (per-instance) resource; `explore` checks that
/// accounting.
#[derive(Clone, Debug, PartialEq)]
pub struct StateSpec {
    /// Its name (`subsys:what`), unique in the scenario.
    pub name: String,
    /// Its section.
    pub section: Section,
    /// Its slot.
    pub slot: SlotSpec,
    /// It has a startup callback.
    pub startup: bool,
    /// It has a teardown callback.
    pub teardown: bool,
    /// Multi-instance.
    pub multi: bool,
    /// For a multi-instance state: the instances added at setup, in order.
    pub instances: Vec<String>,
    /// Planned failures of its callbacks.
    pub fail: Vec<FailSpec>,
    /// A planted bug.
    pub bug: Option<Bug>,
    /// Where the state is declared in the scenario file.
    pub span: Option<Range<usize>>,
}

/// A planned failure of a callback.
#[derive(Clone, Debug, PartialEq)]
pub struct FailSpec {
    /// The startup (`true`) or the teardown.
    pub bringup: bool,
    /// Only on this CPU.
    pub cpu: Option<u32>,
    /// Only for this instance (multi-instance states).
    pub instance: Option<String>,
    /// What the callback returns.
    pub errno: Errno,
    /// Matching calls to let through first.
    pub after: u32,
    /// How many times it fails (`None`: every time).
    pub times: Option<u32>,
}

/// A legacy CPU notifier.
#[derive(Clone, Debug, PartialEq)]
pub struct NotifierSpec {
    /// Its name, unique in the scenario.
    pub name: String,
    /// Its priority (higher is called first).
    pub priority: i32,
    /// Planned vetoes of `CPU_UP_PREPARE` / `CPU_DOWN_PREPARE`.
    pub veto: Vec<VetoSpec>,
    /// Planned answers other than `NOTIFY_OK` (a veto is one too; `veto` is its shorthand).
    pub answer: Vec<AnswerSpec>,
    /// Where it is declared.
    pub span: Option<Range<usize>>,
}

/// A planned veto of a PREPARE event.
#[derive(Clone, Debug, PartialEq)]
pub struct VetoSpec {
    /// `CPU_UP_PREPARE` or `CPU_DOWN_PREPARE`.
    pub event: CpuEvent,
    /// Only for this CPU.
    pub cpu: Option<u32>,
    /// The veto's errno.
    pub errno: Errno,
    /// Matching events to let through first.
    pub after: u32,
    /// How many times it vetoes (`None`: every time).
    pub times: Option<u32>,
}

/// A planned answer of a notifier to an event: what its callback returns, with Linux's
/// semantics — `NOTIFY_DONE` and `NOTIFY_OK` let the walk go on, the stop bit ends it there (the
/// notifiers after it do not hear the event), and `NOTIFY_BAD` or an errno (`notifier_from_errno`)
/// on a PREPARE event is a veto.
///
/// # Examples
///
/// ```
/// use cpuhp::legacy::CpuEvent;
/// use cpuhp_scenario::Scenario;
/// use notifier::NotifyResult;
///
/// let s = Scenario::parse("s.toml", r#"
///     [machine]
///     cpus = 4
///     [[notifier]]
///     name = "b"
///     answer = [{ event = "up_prepare", cpu = 3, ret = "stop" }]
/// "#)?;
/// let a = &s.notifiers[0].answer[0];
/// assert_eq!((a.event, a.cpu, a.ret), (CpuEvent::UpPrepare, Some(3), NotifyResult::STOP));
/// # Ok::<(), cpuhp_scenario::ParseError>(())
/// ```
#[derive(Clone, Debug, PartialEq)]
pub struct AnswerSpec {
    /// The event answered (its `_FROZEN` variant too).
    pub event: CpuEvent,
    /// Only for this CPU.
    pub cpu: Option<u32>,
    /// What the notifier returns.
    pub ret: notifier::NotifyResult,
    /// Matching events to answer OK first.
    pub after: u32,
    /// How many times it answers so (`None`: every time).
    pub times: Option<u32>,
}

/// A platform step that can fail.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PlatformStep {
    /// Booting the CPU (`bringup_cpu`, state `CPUHP_BRINGUP_CPU`): it does not come up.
    Boot,
    /// Kicking the CPU to boot (`cpuhp_kick_ap_alive`, `CPUHP_BP_KICK_AP`; presets from Linux 6.5
    /// on).
    Kick,
    /// Stopping the CPU (`takedown_cpu`, `CPUHP_TEARDOWN_CPU`): it refuses to die.
    Stop,
}

impl PlatformStep {
    /// Every step, with its name in scenario files.
    pub const ALL: [(&'static str, PlatformStep); 3] = [
        ("boot", PlatformStep::Boot),
        ("kick", PlatformStep::Kick),
        ("stop", PlatformStep::Stop),
    ];

    /// Its state on a preset (`None`: the preset has no kick state), and whether the startup
    /// (`true`) or the teardown fails.
    ///
    /// # Examples
    ///
    /// ```
    /// use cpuhp_scenario::PlatformStep;
    ///
    /// let (state, startup) = PlatformStep::Stop.state(&cpuhp::preset::DEMO).unwrap();
    /// assert_eq!((state.get(), startup), (61, false));
    /// assert_eq!(PlatformStep::Kick.state(&cpuhp::preset::LINUX_6_1), None);
    /// ```
    pub fn state(self, preset: &cpuhp::preset::Preset) -> Option<(cpuhp::StateId, bool)> {
        let l = &preset.layout;
        match self {
            PlatformStep::Boot => Some((l.bringup_cpu, true)),
            PlatformStep::Kick => l.bp_kick_ap.map(|k| (k, true)),
            PlatformStep::Stop => Some((l.teardown_cpu, false)),
        }
    }
}

/// A planned platform failure: a CPU that fails to boot, whose kick fails, or that refuses to
/// stop.
///
/// # Examples
///
/// ```
/// use cpuhp_scenario::{PlatformStep, Scenario};
///
/// let s = Scenario::parse("s.toml", r#"
///     [machine]
///     cpus = 4
///     [[fault]]
///     on = "boot"
///     cpu = 2
///     times = 1
/// "#)?;
/// assert_eq!(s.faults[0].on, PlatformStep::Boot);
/// assert_eq!(s.faults[0].errno, cpuhp::Errno::EIO);
/// # Ok::<(), cpuhp_scenario::ParseError>(())
/// ```
#[derive(Clone, Debug, PartialEq)]
pub struct FaultSpec {
    /// The step that fails.
    pub on: PlatformStep,
    /// Only for this CPU.
    pub cpu: Option<u32>,
    /// What the step returns.
    pub errno: Errno,
    /// Matching calls to let through first.
    pub after: u32,
    /// How many times it fails (`None`: every time).
    pub times: Option<u32>,
}

/// Where `up`/`down` stop.
///
/// # Examples
///
/// ```
/// use cpuhp_scenario::{Op, Scenario, Target};
///
/// let s = Scenario::parse("s.toml", r#"
///     ops = ["down 1 to sched:active", "up 1 to mydrv:online"]
///     [machine]
///     cpus = 2
///     [[state]]
///     name = "mydrv:online"
///     section = "online"
/// "#)?;
/// assert_eq!(s.ops[1].op, Op::Up { cpu: 1, target: Some(Target::Name("mydrv:online".into())) });
/// assert_eq!(s.ops[1].op.to_string(), "up 1 to mydrv:online");
/// # Ok::<(), cpuhp_scenario::ParseError>(())
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Target {
    /// A state number.
    Number(u32),
    /// A state's name: one of the scenario's, or of the preset's table.
    Name(String),
}

impl std::fmt::Display for Target {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Target::Number(n) => write!(f, "{n}"),
            Target::Name(s) => f.write_str(s),
        }
    }
}

/// One operation and where it is written.
#[derive(Clone, Debug, PartialEq)]
pub struct OpSpec {
    /// The operation.
    pub op: Op,
    /// Its text in the scenario file.
    pub span: Option<Range<usize>>,
}

/// An operation.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Op {
    /// `up CPU [to STATE]`: `cpu_up` to online or to a state (number or name).
    Up {
        /// The CPU.
        cpu: u32,
        /// The target state (`None`: online).
        target: Option<Target>,
    },
    /// `down CPU [to STATE]`: `cpu_down` to offline or to a state (number or name).
    Down {
        /// The CPU.
        cpu: u32,
        /// The target state (`None`: offline).
        target: Option<Target>,
    },
    /// `add-instance STATE NAME`.
    AddInstance {
        /// The multi-instance state.
        state: String,
        /// The new instance.
        name: String,
    },
    /// `remove-instance STATE NAME`.
    RemoveInstance {
        /// The multi-instance state.
        state: String,
        /// The instance.
        name: String,
    },
    /// `remove-state STATE`.
    RemoveState {
        /// The state.
        state: String,
    },
    /// `freeze`: `freeze_secondary_cpus`.
    Freeze,
    /// `thaw`: `thaw_secondary_cpus`.
    Thaw,
    /// `smt on|off|forceoff`.
    Smt(SmtControl),
    /// `parallel-up CPU…`: `bringup_cpus_parallel`.
    ParallelUp(Vec<u32>),
    /// `disable-hotplug`.
    DisableHotplug,
    /// `enable-hotplug`.
    EnableHotplug,
}

impl std::fmt::Display for Op {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let to = |t: &Option<Target>| t.as_ref().map(|t| format!(" to {t}")).unwrap_or_default();
        match self {
            Op::Up { cpu, target } => write!(f, "up {cpu}{}", to(target)),
            Op::Down { cpu, target } => write!(f, "down {cpu}{}", to(target)),
            Op::AddInstance { state, name } => write!(f, "add-instance {state} {name}"),
            Op::RemoveInstance { state, name } => write!(f, "remove-instance {state} {name}"),
            Op::RemoveState { state } => write!(f, "remove-state {state}"),
            Op::Freeze => f.write_str("freeze"),
            Op::Thaw => f.write_str("thaw"),
            Op::Smt(c) => write!(f, "smt {c}"),
            Op::ParallelUp(cpus) => {
                f.write_str("parallel-up")?;
                for c in cpus {
                    write!(f, " {c}")?;
                }
                Ok(())
            }
            Op::DisableHotplug => f.write_str("disable-hotplug"),
            Op::EnableHotplug => f.write_str("enable-hotplug"),
        }
    }
}
