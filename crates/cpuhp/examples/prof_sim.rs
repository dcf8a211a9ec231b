//! Profiling aid: the distribution of simulator round-trip times (cpu_down + cpu_up of one CPU).
use cpuhp::preset::DEMO;
use cpuhp::sim::Machine;
use cpuhp::{CpuId, Online, Slot, StateId, Topology};
use std::time::Instant;
fn main() {
    // DEMO has 28 dynamic ONLINE slots.
    let states: u32 = std::env::args()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(10)
        .min(28);
    let m = Machine::new(&DEMO, Topology::new(2)).unwrap();
    for i in 0..states {
        m.setup_state(
            Slot::OnlineDyn,
            format!("s{i}"),
            Online::new().startup(|_| Ok(())).teardown(|_| Ok(())),
        )
        .unwrap();
    }
    let mut t: Vec<u128> = (0..20_000)
        .map(|_| {
            let s = Instant::now();
            m.cpu_down(CpuId(1), StateId(0)).unwrap();
            m.cpu_up(CpuId(1), StateId(99)).unwrap();
            s.elapsed().as_nanos()
        })
        .collect();
    t.sort();
    let q = |p: f64| t[((t.len() - 1) as f64 * p) as usize];
    println!(
        "{states} states: p10 {} ns, p50 {} ns, p90 {} ns, p99 {} ns",
        q(0.1),
        q(0.5),
        q(0.9),
        q(0.99)
    );
}
