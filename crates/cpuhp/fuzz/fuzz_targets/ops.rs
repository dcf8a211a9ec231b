//! Any bytes, read as a machine shape and an operation list (the language of
//! `tests/api_no_panic/lang.rs`, decoded by its `Decoder`), run on `Hotplug<Inline>`: no
//! operation panics, and the invariants hold after every step.

#![no_main]

#[path = "../../tests/api_no_panic/lang.rs"]
mod lang;

use cpuhp::preset::{DEMO, LINUX_6_1};
use cpuhp::{Hotplug, Inline, SmtControl, Topology};
use libfuzzer_sys::fuzz_target;

/// Operations per input, at most (a longer input is cut).
const MAX_OPS: usize = 256;

fuzz_target!(|data: &[u8]| {
    let mut d = lang::Decoder::new(data);
    let shape = d.byte();
    let preset = if shape & 0x80 != 0 { &LINUX_6_1 } else { &DEMO };
    let possible = u32::from(shape & 3) + 1;
    let present = u32::from((shape >> 2) & 3) + 1;
    let threads = u32::from((shape >> 4) & 1) + 1;
    let smt = match (shape >> 5) & 3 {
        0 | 1 => SmtControl::On,
        2 => SmtControl::Off,
        _ => SmtControl::ForceOff,
    };
    let topology = Topology::new(possible)
        .with_present(present)
        .with_threads_per_core(threads)
        .with_smt_control(smt);
    let mut hp = Hotplug::new(preset, topology, Inline).expect("booting a valid topology");
    let hook = lang::no_hook();
    let behs = d.notifier_behs();
    let mut env = lang::Env {
        model: lang::Model::of(&hp),
        blocks: lang::notifiers(&behs, &hook),
        hook,
    };
    if let Err(e) = lang::check(&hp, &env.model) {
        panic!("after boot: {e}");
    }
    let mut ops = Vec::new();
    while !d.done() && ops.len() < MAX_OPS {
        let op = d.op();
        if let Err(e) = lang::exec(&mut hp, &mut env, &op) {
            ops.push(op);
            panic!("step {}: {e}\nops: {ops:#?}", ops.len() - 1);
        }
        ops.push(op);
    }
});
