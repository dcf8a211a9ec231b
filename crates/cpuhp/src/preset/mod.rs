//! Presets: the state table of a real machine, as data.
//!
//! A preset names a [`Layout`] and lists the states a kernel has registered by the time user
//! space runs — numbers, names, and the symbols of their callbacks — so that a simulated machine
//! numbers its states (and hands out dynamic slots) exactly as that kernel does. The callbacks of
//! a preset do nothing and succeed; the core's own positions (`bringup_cpu`, `takedown_cpu`,
//! `sched:active`) get the core's real steps.

mod demo;
mod linux_6_1;
mod linux_6_12;

pub use demo::DEMO;
pub use linux_6_1::LINUX_6_1;
pub use linux_6_12::LINUX_6_12;

use crate::{Layout, StateId};

/// What a preset state's callbacks are.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum PresetKind {
    /// One callback per direction.
    Single,
    /// Multi-instance, with this many instances registered at boot.
    Multi(u32),
}

/// One state of a preset.
///
/// # Examples
///
/// ```
/// use cpuhp::preset::{PresetKind, PresetState, LINUX_6_1};
///
/// let rcu = LINUX_6_1.states.iter().find(|s| s.name == "RCU/tree:online").unwrap();
/// assert_eq!(rcu.number, 199);
/// assert_eq!(rcu.startup, Some("rcutree_online_cpu"));
/// assert_eq!(rcu.kind, PresetKind::Single);
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct PresetState {
    /// The state number.
    pub number: u32,
    /// Its name, as `hotplug/states` shows it.
    pub name: &'static str,
    /// The startup callback's symbol, if it has one.
    pub startup: Option<&'static str>,
    /// The teardown callback's symbol, if it has one.
    pub teardown: Option<&'static str>,
    /// Single or multi-instance.
    pub kind: PresetKind,
    /// Bring-up and tear-down cannot stop here (not a valid `hotplug/target`).
    pub cant_stop: bool,
    /// What the startup does on another CPU than its own ([`OwnCpu`]).
    pub startup_own_cpu: OwnCpu,
    /// What the teardown does on another CPU than its own.
    pub teardown_own_cpu: OwnCpu,
}

/// A machine's state space and boot-time states.
///
/// # Examples
///
/// ```
/// use cpuhp::preset::LINUX_6_1;
///
/// assert_eq!(LINUX_6_1.kernel, "6.1.0-56-amd64");
/// assert_eq!(LINUX_6_1.states.len(), 65);
/// assert!(LINUX_6_1.layout.validate().is_ok());
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Preset {
    /// Short name (`linux-6.1`).
    pub name: &'static str,
    /// What `uname -r` would print.
    pub kernel: &'static str,
    /// The state space.
    pub layout: Layout,
    /// The states registered at boot, ascending.
    pub states: &'static [PresetState],
    /// The boot CPU's `hotplug/target` after boot (Linux 6.1 never sets it: 0).
    pub boot_cpu_target: StateId,
    /// Whether the boot CPU has an `online` file (not on x86).
    pub boot_cpu_hotpluggable: bool,
    /// `CONFIG_CPU_HOTPLUG_STATE_CONTROL`: `hotplug/target` accepts intermediate states.
    pub state_control: bool,
}

/// Every preset, by name.
pub const ALL: &[&Preset] = &[&LINUX_6_1, &LINUX_6_12, &DEMO];

/// Looks a preset up by name.
///
/// # Examples
///
/// ```
/// assert!(cpuhp::preset::by_name("linux-6.1").is_some());
/// assert!(cpuhp::preset::by_name("linux-2.4").is_none());
/// ```
pub fn by_name(name: &str) -> Option<&'static Preset> {
    ALL.iter().copied().find(|p| p.name == name)
}

pub(crate) const fn single(
    number: u32,
    name: &'static str,
    startup: Option<&'static str>,
    teardown: Option<&'static str>,
) -> PresetState {
    PresetState {
        number,
        name,
        startup,
        teardown,
        kind: PresetKind::Single,
        cant_stop: false,
        startup_own_cpu: OwnCpu::Any,
        teardown_own_cpu: OwnCpu::Any,
    }
}

pub(crate) const fn multi(
    number: u32,
    name: &'static str,
    startup: Option<&'static str>,
    teardown: Option<&'static str>,
    instances: u32,
) -> PresetState {
    PresetState {
        number,
        name,
        startup,
        teardown,
        kind: PresetKind::Multi(instances),
        cant_stop: false,
        startup_own_cpu: OwnCpu::Any,
        teardown_own_cpu: OwnCpu::Any,
    }
}

/// What a preset's ONLINE-section callback does when it runs on another CPU than the one it is
/// for. They run on their CPU's hotplug thread; only after that thread's rollback failed does the
/// control side walk the ONLINE section by itself, and some callbacks check for it. (PREPARE
/// callbacks run on the control side by design and STARTING ones on the CPU itself: the setting
/// has no effect there.)
///
/// # Examples
///
/// ```
/// use cpuhp::preset::{OwnCpu, LINUX_6_1};
///
/// let wq = LINUX_6_1.states.iter().find(|s| s.name == "workqueue:online").unwrap();
/// assert_eq!((wq.startup_own_cpu, wq.teardown_own_cpu), (OwnCpu::Any, OwnCpu::Refuses));
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum OwnCpu {
    /// Runs anywhere (or does not check).
    #[default]
    Any,
    /// Warns once per boot and carries on (`WARN_ON_ONCE(cpu != smp_processor_id())`).
    WarnsOnce,
    /// Warns and fails with `EPERM` (`if (WARN_ON(cpu != smp_processor_id())) return -1;`).
    Refuses,
}

/// `s` with its callbacks checking that they run on their CPU.
pub(crate) const fn own_cpu(s: PresetState, startup: OwnCpu, teardown: OwnCpu) -> PresetState {
    PresetState {
        startup_own_cpu: startup,
        teardown_own_cpu: teardown,
        ..s
    }
}

pub(crate) const fn cant_stop(s: PresetState) -> PresetState {
    PresetState {
        cant_stop: true,
        ..s
    }
}
