//! State-machine benchmarks (`cargo bench -p cpuhp-benches --bench hotplug`):
//!
//! * `roundtrip/*`: `cpu_down` + `cpu_up` of one CPU through 10 and 100 no-op ONLINE states, on
//!   the threaded simulator and inline (no threads), beside `bare/*`: the same callbacks called in
//!   a plain loop on one thread, and `handoff`: one bare hand-off to a simulated CPU and back.
//! * `boot/*`: booting 256 and 1024 simulated CPUs through 100 states.
//! * `instances/*`: adding 1,000 instances to a state on 64 CPUs.
//! * `bringup64/*`: bringing 63 simulated CPUs online that each take 1 ms to boot once kicked,
//!   one after the other (`cpu_up` each) and in parallel (`bringup_cpus_parallel`, Linux 6.5).

use std::hint::black_box;
use std::time::{Duration, Instant};

use cpuhp::preset::{DEMO, OwnCpu, PresetKind, PresetState};
use cpuhp::sim::Machine;
use cpuhp::{
    CpuId, Errno, Hotplug, Inline, Layout, Online, OnlineMulti, Platform, Slot, StateId, Topology,
};
use criterion::{Criterion, criterion_group, criterion_main};

const ONLINE: StateId = StateId(999);

/// The bare loop's callbacks.
type Bare = Vec<Box<dyn Fn(CpuId) -> Result<(), Errno>>>;

/// A roomy layout: PREPARE 1..=99, STARTING 103..=199, ONLINE 203..=998.
fn layout() -> Layout {
    Layout {
        bp_kick_ap: None,
        bringup_cpu: StateId(100),
        ap_idle_dead: StateId(101),
        ap_offline: StateId(102),
        ap_online: StateId(200),
        teardown_cpu: StateId(201),
        ap_online_idle: StateId(202),
        ap_active: StateId(998),
        online: ONLINE,
        prepare_dyn: (StateId(10), StateId(99)),
        online_dyn: (StateId(203), StateId(997)),
    }
}

/// A preset with the core's positions and `n` no-op ONLINE states registered at boot.
fn preset(n: u32) -> cpuhp::preset::Preset {
    let mut states: Vec<PresetState> = DEMO.states.to_vec();
    let l = layout();
    for s in &mut states {
        s.number = match s.name {
            "cpu:bringup" => l.bringup_cpu.0,
            "idle:dead" => l.ap_idle_dead.0,
            "ap:offline" => l.ap_offline.0,
            "ap:online" => l.ap_online.0,
            "cpu:teardown" => l.teardown_cpu.0,
            "sched:active" => l.ap_active.0,
            "online" => l.online.0,
            _ => s.number,
        };
    }
    for i in 0..n {
        let name: &'static str = Box::leak(format!("bench/{i}").into_boxed_str());
        states.push(PresetState {
            number: 300 + i,
            name,
            startup: Some("noop_up"),
            teardown: Some("noop_down"),
            kind: PresetKind::Single,
            cant_stop: false,
            startup_own_cpu: OwnCpu::Any,
            teardown_own_cpu: OwnCpu::Any,
        });
    }
    states.sort_by_key(|s| s.number);
    cpuhp::preset::Preset {
        name: "bench",
        kernel: "bench",
        layout: l,
        states: Box::leak(states.into_boxed_slice()),
        ..DEMO
    }
}

fn noop(cpu: CpuId) -> Result<(), Errno> {
    black_box(cpu);
    Ok(())
}

fn roundtrip(c: &mut Criterion) {
    let mut g = c.benchmark_group("roundtrip");
    g.warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(3));
    for n in [10u32, 100] {
        let base = preset(0);
        let m = Machine::new(&base, Topology::new(2)).unwrap();
        let mut hp = Hotplug::new(&base, Topology::new(2), Inline).unwrap();
        for i in 0..n {
            m.setup_state(
                Slot::OnlineDyn,
                format!("s{i}"),
                Online::new().startup(noop).teardown(noop),
            )
            .unwrap();
            hp.setup_state(
                Slot::OnlineDyn,
                format!("s{i}"),
                Online::new().startup(noop).teardown(noop),
            )
            .unwrap();
        }
        g.bench_function(format!("sim/{n}"), |b| {
            b.iter(|| {
                m.cpu_down(CpuId(1), StateId::OFFLINE).unwrap();
                m.cpu_up(CpuId(1), ONLINE).unwrap();
            })
        });
        g.bench_function(format!("inline/{n}"), |b| {
            b.iter(|| {
                hp.cpu_down(CpuId(1), StateId::OFFLINE).unwrap();
                hp.cpu_up(CpuId(1), ONLINE).unwrap();
            })
        });
        let bare: Bare = (0..2 * n)
            .map(|_| Box::new(noop) as Box<dyn Fn(CpuId) -> Result<(), Errno>>)
            .collect();
        g.bench_function(format!("bare/{n}"), |b| {
            b.iter(|| {
                for f in &bare {
                    f(black_box(CpuId(1))).unwrap();
                }
            })
        });
    }
    let m = Machine::new(&preset(0), Topology::new(2)).unwrap();
    g.bench_function("handoff", |b| {
        b.iter_custom(|iters| {
            m.with(|hp| {
                let start = Instant::now();
                for _ in 0..iters {
                    hp.platform().run_on_ap(CpuId(1), &mut || {
                        black_box(());
                    });
                }
                start.elapsed()
            })
            .unwrap()
        })
    });
    g.finish();
}

fn boot(c: &mut Criterion) {
    let mut g = c.benchmark_group("boot");
    g.sample_size(10)
        .warm_up_time(Duration::from_millis(200))
        .measurement_time(Duration::from_secs(5));
    let p = preset(100);
    for cpus in [256u32, 1024] {
        g.bench_function(format!("sim/{cpus}cpus/100states"), |b| {
            b.iter(|| black_box(Machine::new(&p, Topology::new(cpus)).unwrap()))
        });
        g.bench_function(format!("inline/{cpus}cpus/100states"), |b| {
            b.iter(|| black_box(Hotplug::new(&p, Topology::new(cpus), Inline).unwrap()))
        });
    }
    g.finish();
}

fn instances(c: &mut Criterion) {
    let mut g = c.benchmark_group("instances");
    g.sample_size(10)
        .warm_up_time(Duration::from_millis(200))
        .measurement_time(Duration::from_secs(8));
    let p = preset(0);
    g.bench_function("sim/1000instances/64cpus", |b| {
        b.iter_custom(|iters| {
            let mut total = Duration::ZERO;
            for _ in 0..iters {
                let m = Machine::new(&p, Topology::new(64)).unwrap();
                let s = m
                    .setup_state(
                        Slot::OnlineDyn,
                        "multi",
                        OnlineMulti::<u32>::new().startup(|c, i| noop(CpuId(c.0 + *i))),
                    )
                    .unwrap();
                let start = Instant::now();
                for i in 0..1000u32 {
                    m.add_instance(s, i).unwrap();
                }
                total += start.elapsed();
            }
            total
        })
    });
    g.finish();
}

fn memory(_c: &mut Criterion) {
    println!(
        "per-CPU bookkeeping: {} bytes (independent of states and instances)",
        Hotplug::<Inline>::per_cpu_bytes()
    );
}

fn bringup64(c: &mut Criterion) {
    let mut g = c.benchmark_group("bringup64");
    g.sample_size(10).measurement_time(Duration::from_secs(8));
    let m = Machine::new(&DEMO, Topology::new(64)).unwrap();
    m.set_boot_delay(Duration::from_millis(1)).unwrap();
    let cpus: Vec<CpuId> = (1..64).map(CpuId).collect();
    let online = DEMO.layout.online;
    let down_all = || {
        for &cpu in &cpus {
            m.cpu_down(cpu, StateId::OFFLINE).unwrap();
        }
    };
    g.bench_function("serial", |b| {
        b.iter_custom(|iters| {
            let mut total = Duration::ZERO;
            for _ in 0..iters {
                down_all();
                let start = Instant::now();
                for &cpu in &cpus {
                    m.cpu_up(cpu, online).unwrap();
                }
                total += start.elapsed();
            }
            total
        })
    });
    g.bench_function("parallel", |b| {
        b.iter_custom(|iters| {
            let mut total = Duration::ZERO;
            for _ in 0..iters {
                down_all();
                let start = Instant::now();
                let done = m.bringup_cpus_parallel(&cpus).unwrap();
                total += start.elapsed();
                assert!(done.iter().all(|(_, r)| r.is_ok()));
            }
            total
        })
    });
    g.finish();
}

criterion_group!(benches, memory, roundtrip, boot, instances, bringup64);
criterion_main!(benches);
