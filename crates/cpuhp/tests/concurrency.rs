//! Hotplug operations on different CPUs from several threads, racing with instance and state
//! installation and removal, on the threaded simulator: no callback is lost or doubled, callbacks
//! for one CPU never overlap, and the end state is consistent. Bounded: fixed operation counts.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering::SeqCst};
use std::sync::{Arc, Mutex};

use cpuhp::preset::DEMO;
use cpuhp::sim::Machine;
use cpuhp::{CpuId, Online, OnlineMulti, Prepare, Slot, StateId, Topology};

const CPUS: u32 = 6;
const ONLINE: StateId = StateId(99);

/// (state name, instance, cpu) → up; plus what went wrong.
#[derive(Default)]
struct Ledger {
    up: HashMap<(String, u64, u32), bool>,
    errors: Vec<String>,
}

struct Shared {
    ledger: Mutex<Ledger>,
    /// A callback for this CPU is running.
    busy: Vec<AtomicBool>,
}

impl Shared {
    fn record(&self, name: &str, inst: u64, cpu: CpuId, up: bool) {
        if self.busy[cpu.index()].swap(true, SeqCst) {
            self.ledger
                .lock()
                .unwrap()
                .errors
                .push(format!("two callbacks at once for CPU {cpu}"));
        }
        {
            let mut l = self.ledger.lock().unwrap();
            let was =
                l.up.insert((name.to_string(), inst, cpu.0), up)
                    .unwrap_or(false);
            if was == up {
                l.errors.push(format!(
                    "{name}/{inst} on CPU {cpu}: {} twice",
                    if up { "startup" } else { "teardown" }
                ));
            }
        }
        std::thread::yield_now();
        self.busy[cpu.index()].store(false, SeqCst);
    }
}

fn online_cbs(name: String, sh: &Arc<Shared>) -> Online {
    let (a, b, n2) = (sh.clone(), sh.clone(), name.clone());
    Online::new()
        .startup(move |cpu| {
            a.record(&name, 0, cpu, true);
            Ok(())
        })
        .teardown(move |cpu| {
            b.record(&n2, 0, cpu, false);
            Ok(())
        })
}

#[test]
fn operations_race_without_losing_or_doubling_callbacks() {
    let m = Arc::new(Machine::new(&DEMO, Topology::new(CPUS)).unwrap());
    let sh = Arc::new(Shared {
        ledger: Mutex::default(),
        busy: (0..CPUS).map(|_| AtomicBool::new(false)).collect(),
    });
    m.setup_state(
        Slot::OnlineDyn,
        "fixed-online",
        online_cbs("fixed-online".into(), &sh),
    )
    .unwrap();
    let (a, b) = (sh.clone(), sh.clone());
    m.setup_state(
        Slot::PrepareDyn,
        "fixed-prepare",
        Prepare::new()
            .startup(move |cpu| {
                a.record("fixed-prepare", 0, cpu, true);
                Ok(())
            })
            .teardown(move |cpu| b.record("fixed-prepare", 0, cpu, false)),
    )
    .unwrap();
    let (a, b) = (sh.clone(), sh.clone());
    let multi = m
        .setup_state(
            Slot::OnlineDyn,
            "multi",
            OnlineMulti::<u64>::new()
                .startup(move |cpu, i: &u64| {
                    a.record("multi", *i, cpu, true);
                    Ok(())
                })
                .teardown(move |cpu, i: &u64| {
                    b.record("multi", *i, cpu, false);
                    Ok(())
                }),
        )
        .unwrap();

    let live = std::thread::scope(|s| {
        for cpus in [[1u32, 2], [3, 4], [5, 1]] {
            let m = m.clone();
            s.spawn(move || {
                for round in 0..25 {
                    let cpu = CpuId(cpus[round % 2]);
                    // Operations queue on the machine's locks, and a CPU already where it is
                    // asked to go (CPU 1 is shared by two threads) is a no-op: every one succeeds.
                    let down = m.cpu_down(cpu, StateId::OFFLINE).map_err(|e| e.kind());
                    let up = m.cpu_up(cpu, ONLINE).map_err(|e| e.kind());
                    assert_eq!((down, up), (Ok(()), Ok(())), "round {round}, CPU {cpu}");
                }
            });
        }
        let instances = {
            let m = m.clone();
            s.spawn(move || {
                let mut live = Vec::new();
                for i in 0..40u64 {
                    if i % 3 == 2 {
                        if let Some((id, _)) = live.pop() {
                            m.remove_instance(multi, id).unwrap();
                        }
                    } else {
                        live.push((m.add_instance(multi, i).unwrap(), i));
                    }
                }
                live
            })
        };
        {
            let (m, sh) = (m.clone(), sh.clone());
            s.spawn(move || {
                for i in 0..20 {
                    let name = format!("transient-{i}");
                    let st = m
                        .setup_state(Slot::OnlineDyn, name.clone(), online_cbs(name, &sh))
                        .unwrap();
                    m.remove_state(st).unwrap();
                }
            });
        }
        instances.join().unwrap()
    });
    let live: Vec<u64> = live.into_iter().map(|(_, tag)| tag).collect();

    let l = sh.ledger.lock().unwrap();
    assert!(l.errors.is_empty(), "{:?}", l.errors);
    // Removed states and instances are down everywhere; live ones are up exactly where the CPU
    // reached their state.
    for ((name, inst, cpu), up) in &l.up {
        let at = m.cpu_status(CpuId(*cpu)).unwrap().unwrap().state;
        let expected = match m.with(|hp| hp.find_state(name)).unwrap() {
            Some(_) if name == "multi" && !live.contains(inst) => false,
            Some(state) => at >= state,
            None => false,
        };
        assert_eq!(*up, expected, "{name}/{inst} on CPU {cpu} (at {at})");
    }
    let online = m.online_mask().unwrap();
    for c in 0..CPUS {
        let st = m.cpu_status(CpuId(c)).unwrap().unwrap();
        assert_eq!(
            online.contains(CpuId(c)),
            st.state == ONLINE,
            "CPU {c} at {}",
            st.state
        );
    }
}

/// Two threads handing work to the same simulated CPU at once through the shared platform
/// (`Machine::with` → `Hotplug::platform`, which is `Sync`): each job runs exactly once, on that
/// CPU's thread, and never alongside the other. Before the mailbox had a submit lock, the two
/// submitters overwrote each other's job and the first hand-off hung.
#[test]
fn concurrent_hand_offs_to_one_cpu_queue_instead_of_racing() {
    use cpuhp::Platform;
    use std::sync::atomic::AtomicUsize;

    let m = Machine::new(&DEMO, Topology::new(2)).unwrap();
    let (runs, overlaps, elsewhere) = (
        AtomicUsize::new(0),
        AtomicUsize::new(0),
        AtomicUsize::new(0),
    );
    let busy = AtomicBool::new(false);
    m.with(|hp| {
        let p = hp.platform();
        std::thread::scope(|s| {
            for _ in 0..2 {
                s.spawn(|| {
                    for _ in 0..500 {
                        p.run_on_ap(CpuId(1), &mut || {
                            if busy.swap(true, SeqCst) {
                                overlaps.fetch_add(1, SeqCst);
                            }
                            if cpuhp::sim::current_cpu() != Some(CpuId(1)) {
                                elsewhere.fetch_add(1, SeqCst);
                            }
                            runs.fetch_add(1, SeqCst);
                            busy.store(false, SeqCst);
                        });
                    }
                });
            }
        });
    })
    .unwrap();
    assert_eq!(
        (
            runs.load(SeqCst),
            overlaps.load(SeqCst),
            elsewhere.load(SeqCst)
        ),
        (1000, 0, 0)
    );
    // The machine still works afterwards.
    m.cpu_down(CpuId(1), StateId::OFFLINE).unwrap();
    assert_eq!(m.online_mask().unwrap().to_string(), "0");
}

/// The platform refuses CPUs the machine does not have instead of indexing out of bounds; work
/// for such a CPU runs on the caller (there is no thread to hand it to).
#[test]
fn the_simulator_platform_refuses_cpus_it_does_not_have() {
    use cpuhp::{Errno, Platform};

    let m = Machine::new(&DEMO, Topology::new(2)).unwrap();
    let r = m
        .with(|hp| {
            let p = hp.platform();
            let mut ran_on = None;
            p.run_on_ap(CpuId(9), &mut || ran_on = Some(cpuhp::sim::current_cpu()));
            (
                ran_on,
                p.kick_cpu(CpuId(9)),
                p.start_cpu(CpuId(9), &mut || unreachable!("CPU 9 has no thread")),
                p.stop_cpu(CpuId(9), &mut || unreachable!("CPU 9 has no thread")),
            )
        })
        .unwrap();
    assert_eq!(
        r,
        (
            Some(None),
            Err(Errno::EINVAL),
            Err(Errno::EINVAL),
            Err(Errno::EINVAL)
        )
    );
}
