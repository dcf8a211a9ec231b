//! A small state space for examples, tests and benchmarks: the core's positions (with Linux
//! 6.5's split startup) and nothing else, with room for 19 and 28 dynamic states.

use super::{Preset, PresetState, cant_stop, single};
use crate::{Layout, StateId};

const STATES: &[PresetState] = &[
    single(0, "offline", None, None),
    single(29, "cpu:kick_ap", Some("cpuhp_kick_ap_alive"), None),
    cant_stop(single(
        30,
        "cpu:bringup",
        Some("bringup_cpu"),
        Some("finish_cpu"),
    )),
    single(31, "idle:dead", None, None),
    cant_stop(single(32, "ap:offline", None, None)),
    single(60, "ap:online", None, None),
    cant_stop(single(61, "cpu:teardown", None, Some("takedown_cpu"))),
    single(
        98,
        "sched:active",
        Some("sched_cpu_activate"),
        Some("sched_cpu_deactivate"),
    ),
    single(99, "online", None, None),
];

/// A minimal machine: PREPARE slots 1..=28 (dynamic 10..=28; 29 kicks the CPU, Linux 6.5's split
/// startup), STARTING 33..=59, ONLINE 63..=97 (dynamic 70..=97); no boot-time states but the
/// core's own.
///
/// # Examples
///
/// ```
/// use cpuhp::{preset::DEMO, Hotplug, Inline, Online, Slot, Topology};
///
/// let mut hp = Hotplug::new(&DEMO, Topology::new(2), Inline)?;
/// let s = hp.setup_state(Slot::OnlineDyn, "demo/online", Online::new().startup(|_| Ok(())))?;
/// assert_eq!(s.get(), 70);
/// # Ok::<(), cpuhp::Error>(())
/// ```
pub const DEMO: Preset = Preset {
    name: "demo",
    kernel: "demo",
    layout: Layout {
        bp_kick_ap: Some(StateId(29)),
        bringup_cpu: StateId(30),
        ap_idle_dead: StateId(31),
        ap_offline: StateId(32),
        ap_online: StateId(60),
        teardown_cpu: StateId(61),
        ap_online_idle: StateId(62),
        ap_active: StateId(98),
        online: StateId(99),
        prepare_dyn: (StateId(10), StateId(28)),
        online_dyn: (StateId(70), StateId(97)),
    },
    states: STATES,
    boot_cpu_target: StateId(99),
    boot_cpu_hotpluggable: false,
    state_control: true,
};
