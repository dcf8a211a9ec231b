//! Profiling aid: 20,000 inline cpu_down+cpu_up round trips through 100 no-op ONLINE states.
use cpuhp::preset::DEMO;
use cpuhp::{CpuId, Errno, Hotplug, Inline, Online, Slot, StateId, Topology};
fn noop(cpu: CpuId) -> Result<(), Errno> {
    std::hint::black_box(cpu);
    Ok(())
}
fn main() {
    let mut hp = Hotplug::new(&DEMO, Topology::new(2), Inline).unwrap();
    for i in 0..25 {
        hp.setup_state(
            Slot::OnlineDyn,
            format!("s{i}"),
            Online::new().startup(noop).teardown(noop),
        )
        .unwrap();
    }
    for _ in 0..20_000 {
        hp.cpu_down(CpuId(1), StateId(0)).unwrap();
        hp.cpu_up(CpuId(1), StateId(99)).unwrap();
    }
}
