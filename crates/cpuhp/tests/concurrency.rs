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
                    // Busy or already there: either is fine; errors must leave things consistent.
                    let _ = m.cpu_down(cpu, StateId::OFFLINE);
                    let _ = m.cpu_up(cpu, ONLINE);
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
