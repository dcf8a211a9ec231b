//! The seed patch's story in one run: a CPU notifier chain where one callback vetoes
//! `CPU_UP_PREPARE`, and the cancel event reaches exactly the callbacks that said OK.
//!
//! Run with `cargo run --release -p notifier --example veto`.

use std::sync::Mutex;

use notifier::{
    AtomicChain, BlockingChain, Chain, Errno, FnBlock, NotifyResult, RawChain, Verdict,
};

const CPU_UP_PREPARE: u64 = 0x3;
const CPU_UP_CANCELED: u64 = 0x4;

fn event_name(event: u64) -> &'static str {
    match event {
        CPU_UP_PREPARE => "CPU_UP_PREPARE",
        CPU_UP_CANCELED => "CPU_UP_CANCELED",
        _ => "?",
    }
}

/// What each callback saw, in order.
static LOG: Mutex<Vec<String>> = Mutex::new(Vec::new());

fn log(name: &str, event: u64, cpu: u32, ret: NotifyResult) -> NotifyResult {
    LOG.lock().unwrap().push(format!(
        "  {name:<10} {:<16} cpu{cpu}  -> {ret}",
        event_name(event)
    ));
    ret
}

fn workqueue(event: u64, cpu: &u32) -> NotifyResult {
    log("workqueue", event, *cpu, NotifyResult::OK)
}
fn timers(event: u64, cpu: &u32) -> NotifyResult {
    log("timers", event, *cpu, NotifyResult::OK)
}
/// Refuses to bring CPU 2 up: out of memory for its per-CPU buffers.
fn slab(event: u64, cpu: &u32) -> NotifyResult {
    let ret = match (event, *cpu) {
        (CPU_UP_PREPARE, 2) => Verdict::Errno(Errno::ENOMEM).into(),
        _ => NotifyResult::OK,
    };
    log("slab", event, *cpu, ret)
}
fn topology(event: u64, cpu: &u32) -> NotifyResult {
    log("topology", event, *cpu, NotifyResult::OK)
}

static WORKQUEUE: FnBlock<u64, u32> = FnBlock::new(workqueue, 40);
static TIMERS: FnBlock<u64, u32> = FnBlock::new(timers, 30);
static SLAB: FnBlock<u64, u32> = FnBlock::new(slab, 20);
static TOPOLOGY: FnBlock<u64, u32> = FnBlock::new(topology, 10);

fn bring_up<C: Chain<u64, u32>>(kind: &str, chain: &C, cpu: u32, reversed: bool) {
    LOG.lock().unwrap().clear();
    let ret = if reversed {
        chain.call_robust_reversed(CPU_UP_PREPARE, CPU_UP_CANCELED, &cpu)
    } else {
        chain.call_robust(CPU_UP_PREPARE, CPU_UP_CANCELED, &cpu)
    };
    let order = if reversed {
        "reverse rollback"
    } else {
        "Linux's forward rollback"
    };
    println!("{kind}: cpu_up({cpu}), {order}");
    for line in LOG.lock().unwrap().iter() {
        println!("{line}");
    }
    match ret.error() {
        None => println!("  => cpu{cpu} is prepared ({ret})\n"),
        Some(e) => println!(
            "  => veto: cpu_up({cpu}) fails with -{e} ({}); slab and topology got no cancel\n",
            e.to_neg()
        ),
    }
}

fn register_all<C: Chain<u64, u32>>(chain: &C) -> Result<(), notifier::RegisterError> {
    for block in [&TOPOLOGY, &SLAB, &WORKQUEUE, &TIMERS] {
        chain.register(block)?.keep();
    }
    Ok(())
}

fn main() -> Result<(), notifier::RegisterError> {
    println!("A CPU notifier chain: workqueue(40), timers(30), slab(20), topology(10).");
    println!("slab vetoes CPU_UP_PREPARE for cpu2 with ENOMEM.\n");

    let raw = RawChain::new();
    register_all(&raw)?;
    bring_up("RawChain", &raw, 1, false);
    bring_up("RawChain", &raw, 2, false);

    let atomic = AtomicChain::new();
    register_all(&atomic)?;
    bring_up(
        "AtomicChain (lock-free, one snapshot for both walks)",
        &atomic,
        2,
        false,
    );
    bring_up("AtomicChain", &atomic, 2, true);

    let blocking = BlockingChain::new();
    register_all(&blocking)?;
    bring_up("BlockingChain", &blocking, 2, false);
    Ok(())
}
