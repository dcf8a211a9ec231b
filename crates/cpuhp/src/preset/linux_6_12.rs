//! Debian's Linux 6.12 (`6.12.117+deb12-amd64`) on x86_64, as recorded in the conformance data
//! (`crates/conformance/data/linux-6.12`): `states_baseline.txt` gives the numbers and names;
//! `trace_cpuhp.txt` gives the callback symbols of every state the kernel steps through (and how
//! many instances its multi-instance states have); the STARTING-section callbacks and the
//! multi-instance states without instances, which no trace shows, are from the 6.12 source.
//!
//! What changed since 6.1: the table was renumbered (states were added and removed in front of
//! the dynamic ranges); bring-up is split into `cpu:kick_ap` (`cpuhp_kick_ap_alive`: start the CPU
//! booting, do not wait) and `cpu:bringup` (`cpuhp_bringup_ap`: wait for it), which lets the boot
//! bring CPUs up in parallel; and the boot CPU's `hotplug/target` reads `online` (236).
//!
//! Dynamic ranges: `CPUHP_BP_PREPARE_DYN` = 64..=84 (64 `fork:vm_stack_cache` and 65
//! `crash/cpuhp` are taken at boot, so the next PREPARE state gets 66), `CPUHP_AP_ONLINE_DYN` =
//! 192..=232 (192..=201 are taken at boot, so the next ONLINE state gets 202) — as the recordings
//! show.

use super::{OwnCpu, Preset, PresetState, cant_stop, multi, own_cpu, single};
use crate::{Layout, StateId};

const N: Option<&str> = None;

const fn s(name: &'static str) -> Option<&'static str> {
    Some(name)
}

const STATES: &[PresetState] = &[
    single(0, "offline", N, N),
    cant_stop(single(1, "threads:prepare", s("smpboot_create_threads"), N)),
    single(
        2,
        "perf:prepare",
        s("perf_event_init_cpu"),
        s("perf_event_exit_cpu"),
    ),
    single(8, "x86/mce:dead", N, s("mce_cpu_dead")),
    single(11, "slub:dead", N, s("slub_cpu_dead")),
    single(13, "mm/writeback:dead", N, s("page_writeback_cpu_online")),
    single(14, "mm/vmstat:dead", N, s("vmstat_cpu_dead")),
    single(15, "softirq:dead", N, s("takeover_tasklets")),
    single(20, "irq_poll:dead", N, s("irq_poll_cpu_dead")),
    single(21, "block/softirq:dead", N, s("blk_softirq_cpu_dead")),
    multi(22, "block/bio:dead", N, s("bio_cpu_dead"), 2),
    single(23, "acpi/cpu-drv:dead", N, s("acpi_soft_cpu_dead")),
    multi(25, "block/mq:dead", N, s("blk_mq_hctx_notify_dead"), 0),
    single(26, "fs/buffer:dead", N, s("buffer_exit_cpu_dead")),
    single(27, "printk:dead", N, s("console_cpu_notify")),
    single(28, "mm/memctrl:dead", N, s("memcg_hotplug_cpu_dead")),
    single(29, "lib/percpu_cnt:dead", N, s("percpu_counter_cpu_dead")),
    single(30, "lib/radix:dead", N, s("radix_tree_cpu_dead")),
    single(
        31,
        "mm/page_alloc:pcp",
        s("page_alloc_cpu_online"),
        s("page_alloc_cpu_dead"),
    ),
    single(32, "net/dev:dead", N, s("dev_cpu_dead")),
    multi(34, "iommu/iova:dead", N, s("iova_cpuhp_dead"), 0),
    single(37, "random:prepare", s("random_prepare_cpu"), N),
    single(38, "workqueue:prepare", s("workqueue_prepare_cpu"), N),
    single(40, "hrtimers:prepare", s("hrtimers_prepare_cpu"), N),
    single(
        42,
        "smpcfd:prepare",
        s("smpcfd_prepare_cpu"),
        s("smpcfd_dead_cpu"),
    ),
    single(43, "relay:prepare", s("relay_prepare_cpu"), N),
    single(
        45,
        "RCU/tree:prepare",
        s("rcutree_prepare_cpu"),
        s("rcutree_dead_cpu"),
    ),
    single(
        53,
        "base/topology:prepare",
        s("topology_add_dev"),
        s("topology_remove_dev"),
    ),
    multi(56, "trace/RB:prepare", s("trace_rb_cpu_prepare"), N, 3),
    single(
        57,
        "mm/zsmalloc:prepare",
        s("zs_cpu_prepare"),
        s("zs_cpu_dead"),
    ),
    single(
        61,
        "timers:prepare",
        s("timers_prepare_cpu"),
        s("timers_dead_cpu"),
    ),
    single(62, "tmigr:prepare", s("tmigr_cpu_prepare"), N),
    single(64, "fork:vm_stack_cache", N, s("free_vm_stack_cache")),
    single(
        65,
        "crash/cpuhp",
        s("crash_cpuhp_online"),
        s("crash_cpuhp_offline"),
    ),
    single(85, "cpu:kick_ap", s("cpuhp_kick_ap_alive"), N),
    cant_stop(single(
        86,
        "cpu:bringup",
        s("cpuhp_bringup_ap"),
        s("finish_cpu"),
    )),
    single(87, "idle:dead", N, N),
    cant_stop(single(88, "ap:offline", N, N)),
    single(
        89,
        "x86/cachectrl:starting",
        s("cache_ap_online"),
        s("cache_ap_offline"),
    ),
    single(
        90,
        "sched:starting",
        s("sched_cpu_starting"),
        s("sched_cpu_dying"),
    ),
    single(91, "RCU/tree:dying", N, s("rcutree_dying_cpu")),
    single(139, "smpcfd:dying", N, s("smpcfd_dying_cpu")),
    single(
        140,
        "hrtimers:dying",
        s("hrtimers_cpu_starting"),
        s("hrtimers_cpu_dying"),
    ),
    single(141, "tick:dying", N, s("tick_cpu_dying")),
    single(144, "ap:online", N, N),
    single(145, "cpu:teardown", N, s("takedown_cpu")),
    single(149, "sched:waitempty", N, s("sched_cpu_wait_empty")),
    single(
        150,
        "smpboot/threads:online",
        s("smpboot_unpark_threads"),
        s("smpboot_park_threads"),
    ),
    single(151, "irq/affinity:online", s("irq_affinity_online_cpu"), N),
    multi(
        152,
        "block/mq:online",
        s("blk_mq_hctx_notify_online"),
        s("blk_mq_hctx_notify_offline"),
        0,
    ),
    single(
        155,
        "perf:online",
        s("perf_event_init_cpu"),
        s("perf_event_exit_cpu"),
    ),
    single(
        186,
        "tmigr:online",
        s("tmigr_cpu_online"),
        s("tmigr_cpu_offline"),
    ),
    single(
        187,
        "lockup_detector:online",
        s("lockup_detector_online_cpu"),
        s("lockup_detector_offline_cpu"),
    ),
    // `workqueue_offline_cpu`: `if (WARN_ON(cpu != smp_processor_id())) return -1;`
    own_cpu(
        single(
            188,
            "workqueue:online",
            s("workqueue_online_cpu"),
            s("workqueue_offline_cpu"),
        ),
        OwnCpu::Any,
        OwnCpu::Refuses,
    ),
    single(189, "random:online", s("random_online_cpu"), N),
    single(
        190,
        "RCU/tree:online",
        s("rcutree_online_cpu"),
        s("rcutree_offline_cpu"),
    ),
    single(
        191,
        "base/cacheinfo:online",
        s("cacheinfo_cpu_online"),
        s("cacheinfo_cpu_pre_down"),
    ),
    single(
        192,
        "mm/writeback:online",
        s("page_writeback_cpu_online"),
        N,
    ),
    single(
        193,
        "mm/vmstat:online",
        s("vmstat_cpu_online"),
        s("vmstat_cpu_down_prep"),
    ),
    // No instance (nothing uses padata in the guest), so the recordings never show its callbacks;
    // the teardown is the kernel's (`padata_cpu_offline`, which replaced `padata:dead`): a `fail`
    // armed here fires going down, as the real-kernel sweep shows.
    multi(
        194,
        "padata:online",
        s("padata_cpu_online"),
        s("padata_cpu_offline"),
        0,
    ),
    single(195, "mm/compaction:online", s("kcompactd_cpu_online"), N),
    multi(
        196,
        "io-wq/online",
        s("io_wq_cpu_online"),
        s("io_wq_cpu_offline"),
        0,
    ),
    single(197, "lib/percpu_cnt:online", s("compute_batch_value"), N),
    single(
        198,
        "leds/trigger:starting",
        s("ledtrig_online_cpu"),
        s("ledtrig_prepare_down_cpu"),
    ),
    single(199, "acpi/cpu-drv:online", s("acpi_soft_cpu_online"), N),
    single(
        200,
        "x86/mce:online",
        s("mce_cpu_online"),
        s("mce_cpu_pre_down"),
    ),
    single(201, "printk:online", s("console_cpu_notify"), N),
    single(
        235,
        "sched:active",
        s("sched_cpu_activate"),
        s("sched_cpu_deactivate"),
    ),
    single(236, "online", N, N),
];

/// Linux 6.12 on x86_64 (Debian `6.12.117+deb12-amd64`): the second kernel the conformance
/// traces were recorded on.
///
/// # Examples
///
/// ```
/// use cpuhp::{preset::LINUX_6_12, Hotplug, Inline, StateId, Topology};
///
/// let hp = Hotplug::new(&LINUX_6_12, Topology::new(4), Inline)?;
/// assert_eq!(hp.state_name(StateId(85)), Some("cpu:kick_ap"));
/// assert_eq!(hp.state_name(StateId(86)), Some("cpu:bringup"));
/// // The boot CPU's target is set at boot.
/// assert_eq!(hp.sysfs_read("cpu0/hotplug/target").as_deref(), Ok("236\n"));
/// # Ok::<(), cpuhp::Error>(())
/// ```
pub const LINUX_6_12: Preset = Preset {
    name: "linux-6.12",
    kernel: "6.12.117+deb12-amd64",
    layout: Layout {
        bp_kick_ap: Some(StateId(85)),
        bringup_cpu: StateId(86),
        ap_idle_dead: StateId(87),
        ap_offline: StateId(88),
        ap_online: StateId(144),
        teardown_cpu: StateId(145),
        ap_online_idle: StateId(146),
        ap_active: StateId(235),
        online: StateId(236),
        prepare_dyn: (StateId(64), StateId(84)),
        online_dyn: (StateId(192), StateId(232)),
    },
    states: STATES,
    boot_cpu_target: StateId(236),
    boot_cpu_hotpluggable: false,
    state_control: false,
};
