//! Debian's Linux 6.1 (`6.1.0-56-amd64`) on x86_64, as recorded in `crates/conformance/data`:
//! `states_baseline.txt` gives the numbers and names; `trace_cpuhp*.txt` give the callback
//! symbols of every state the kernel steps through (and how many instances its multi-instance
//! states have); the STARTING-section callbacks, which Linux does not trace, are from
//! `kernel/cpu.c` of 6.1.
//!
//! Dynamic ranges: `CPUHP_BP_PREPARE_DYN` = 70..=90 (70 is `fork:vm_stack_cache`, so the next
//! PREPARE state gets 71), `CPUHP_AP_ONLINE_DYN` = 201..=231 (201..=210 are taken at boot, so the
//! next ONLINE state gets 211) — as the recordings show.

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
    single(9, "x86/mce:dead", N, s("mce_cpu_dead")),
    single(11, "slub:dead", N, s("slub_cpu_dead")),
    single(13, "mm/writeback:dead", N, s("page_writeback_cpu_online")),
    single(15, "mm/vmstat:dead", N, s("vmstat_cpu_dead")),
    single(16, "softirq:dead", N, s("takeover_tasklets")),
    single(21, "irq_poll:dead", N, s("irq_poll_cpu_dead")),
    single(22, "block/softirq:dead", N, s("blk_softirq_cpu_dead")),
    multi(23, "block/bio:dead", N, s("bio_cpu_dead"), 2),
    single(24, "acpi/cpu-drv:dead", N, s("acpi_soft_cpu_dead")),
    multi(26, "block/mq:dead", N, s("blk_mq_hctx_notify_dead"), 0),
    single(27, "fs/buffer:dead", N, s("buffer_exit_cpu_dead")),
    single(28, "printk:dead", N, s("console_cpu_notify")),
    single(29, "mm/memctrl:dead", N, s("memcg_hotplug_cpu_dead")),
    single(31, "lib/percpu_cnt:dead", N, s("percpu_counter_cpu_dead")),
    single(32, "lib/radix:dead", N, s("radix_tree_cpu_dead")),
    single(
        33,
        "mm/page_alloc:pcp",
        s("page_alloc_cpu_online"),
        s("page_alloc_cpu_dead"),
    ),
    single(34, "net/dev:dead", N, s("dev_cpu_dead")),
    multi(36, "iommu/iova:dead", N, s("iova_cpuhp_dead"), 0),
    single(40, "random:prepare", s("random_prepare_cpu"), N),
    single(41, "workqueue:prepare", s("workqueue_prepare_cpu"), N),
    single(43, "hrtimers:prepare", s("hrtimers_prepare_cpu"), N),
    single(
        46,
        "smpcfd:prepare",
        s("smpcfd_prepare_cpu"),
        s("smpcfd_dead_cpu"),
    ),
    single(47, "relay:prepare", s("relay_prepare_cpu"), N),
    single(48, "slab:prepare", N, N),
    single(
        50,
        "RCU/tree:prepare",
        s("rcutree_prepare_cpu"),
        s("rcutree_dead_cpu"),
    ),
    single(
        59,
        "base/topology:prepare",
        s("topology_add_dev"),
        s("topology_remove_dev"),
    ),
    multi(62, "trace/RB:prepare", s("trace_rb_cpu_prepare"), N, 3),
    single(
        64,
        "mm/zswap:prepare",
        s("zswap_dstmem_prepare"),
        s("zswap_dstmem_dead"),
    ),
    multi(
        65,
        "mm/zswap_pool:prepare",
        s("zswap_cpu_comp_prepare"),
        s("zswap_cpu_comp_dead"),
        1,
    ),
    single(
        68,
        "timers:prepare",
        s("timers_prepare_cpu"),
        s("timers_dead_cpu"),
    ),
    single(70, "fork:vm_stack_cache", N, s("free_vm_stack_cache")),
    cant_stop(single(91, "cpu:bringup", s("bringup_cpu"), s("finish_cpu"))),
    single(92, "idle:dead", N, N),
    cant_stop(single(93, "ap:offline", N, N)),
    single(
        94,
        "sched:starting",
        s("sched_cpu_starting"),
        s("sched_cpu_dying"),
    ),
    single(95, "RCU/tree:dying", N, s("rcutree_dying_cpu")),
    single(148, "smpcfd:dying", N, s("smpcfd_dying_cpu")),
    single(149, "hrtimers:dying", N, s("hrtimers_cpu_dying")),
    single(152, "ap:online", N, N),
    cant_stop(single(153, "cpu:teardown", N, s("takedown_cpu"))),
    single(155, "sched:waitempty", N, s("sched_cpu_wait_empty")),
    single(
        156,
        "smpboot/threads:online",
        s("smpboot_unpark_threads"),
        s("smpboot_park_threads"),
    ),
    single(158, "irq/affinity:online", s("irq_affinity_online_cpu"), N),
    multi(
        159,
        "block/mq:online",
        s("blk_mq_hctx_notify_online"),
        s("blk_mq_hctx_notify_offline"),
        0,
    ),
    single(
        162,
        "perf:online",
        s("perf_event_init_cpu"),
        s("perf_event_exit_cpu"),
    ),
    // `watchdog_enable`/`watchdog_disable`: `WARN_ON_ONCE(cpu != smp_processor_id());` (in 6.12
    // only with the hard-lockup detector on, which a guest without a perf NMI does not have).
    own_cpu(
        single(
            196,
            "lockup_detector:online",
            s("lockup_detector_online_cpu"),
            s("lockup_detector_offline_cpu"),
        ),
        OwnCpu::WarnsOnce,
        OwnCpu::WarnsOnce,
    ),
    // `workqueue_offline_cpu`: `if (WARN_ON(cpu != smp_processor_id())) return -1;`
    own_cpu(
        single(
            197,
            "workqueue:online",
            s("workqueue_online_cpu"),
            s("workqueue_offline_cpu"),
        ),
        OwnCpu::Any,
        OwnCpu::Refuses,
    ),
    single(198, "random:online", s("random_online_cpu"), N),
    single(
        199,
        "RCU/tree:online",
        s("rcutree_online_cpu"),
        s("rcutree_offline_cpu"),
    ),
    single(
        200,
        "base/cacheinfo:online",
        s("cacheinfo_cpu_online"),
        s("cacheinfo_cpu_pre_down"),
    ),
    single(
        201,
        "mm/writeback:online",
        s("page_writeback_cpu_online"),
        N,
    ),
    single(
        202,
        "mm/vmstat:online",
        s("vmstat_cpu_online"),
        s("vmstat_cpu_down_prep"),
    ),
    // No instance (nothing uses padata in the guest), so the recordings never show its callbacks;
    // the teardown is the kernel's (`padata_cpu_offline`, which replaced `padata:dead`): a `fail`
    // armed here fires going down, as the real-kernel sweep shows.
    multi(
        203,
        "padata:online",
        s("padata_cpu_online"),
        s("padata_cpu_offline"),
        0,
    ),
    single(204, "mm/compaction:online", s("kcompactd_cpu_online"), N),
    multi(
        205,
        "io-wq/online",
        s("io_wq_cpu_online"),
        s("io_wq_cpu_offline"),
        0,
    ),
    single(206, "lib/percpu_cnt:online", s("compute_batch_value"), N),
    single(207, "acpi/cpu-drv:online", s("acpi_soft_cpu_online"), N),
    single(
        208,
        "leds/trigger:starting",
        s("ledtrig_online_cpu"),
        s("ledtrig_prepare_down_cpu"),
    ),
    single(
        209,
        "x86/mce:online",
        s("mce_cpu_online"),
        s("mce_cpu_pre_down"),
    ),
    single(210, "printk:online", s("console_cpu_notify"), N),
    single(
        235,
        "sched:active",
        s("sched_cpu_activate"),
        s("sched_cpu_deactivate"),
    ),
    single(236, "online", N, N),
];

/// Linux 6.1 on x86_64 (Debian `6.1.0-56-amd64`), the kernel the conformance traces were
/// recorded on.
///
/// # Examples
///
/// ```
/// use cpuhp::{preset::LINUX_6_1, Hotplug, Inline, Topology};
///
/// let hp = Hotplug::new(&LINUX_6_1, Topology::new(4), Inline)?;
/// assert_eq!(hp.state_name(cpuhp::StateId(91)), Some("cpu:bringup"));
/// # Ok::<(), cpuhp::Error>(())
/// ```
pub const LINUX_6_1: Preset = Preset {
    name: "linux-6.1",
    kernel: "6.1.0-56-amd64",
    layout: Layout {
        bp_kick_ap: None,
        bringup_cpu: StateId(91),
        ap_idle_dead: StateId(92),
        ap_offline: StateId(93),
        ap_online: StateId(152),
        teardown_cpu: StateId(153),
        ap_online_idle: StateId(154),
        ap_active: StateId(235),
        online: StateId(236),
        prepare_dyn: (StateId(70), StateId(90)),
        online_dyn: (StateId(201), StateId(231)),
    },
    states: STATES,
    boot_cpu_target: StateId(0),
    boot_cpu_hotpluggable: false,
    state_control: false,
};
