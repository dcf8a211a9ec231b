//! `ThreadRcu`'s fallback flavour (`SeqCst` fences on both sides), forced before first use as a
//! kernel without membarrier, a seccomp filter or `NOTIFIER_THREAD_RCU=fences` would.

mod support;

use notifier::{RcuFlavour, ThreadRcu};
use support::grace;

#[test]
fn forced_fences_order_grace_periods() {
    assert_eq!(ThreadRcu::__force_fences(), RcuFlavour::Fences);
    assert_eq!(ThreadRcu::flavour(), RcuFlavour::Fences);
    let (slot, leave, reader) = grace::open_reader();
    grace::synchronize_waits_for(slot, leave, reader);
    grace::unregister_stress(2_000);
}
