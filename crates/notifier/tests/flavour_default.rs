//! `ThreadRcu`'s default flavour: membarrier on Linux when the kernel offers it. Sections opened
//! before the flavour was decided are waited for by the first (deciding) grace period.

mod support;

use notifier::{Rcu, RcuFlavour, ThreadRcu};
use support::grace;

/// What this process should get: membarrier where the kernel offers the private expedited
/// commands (unless the environment asks for fences), fences elsewhere.
fn expected() -> RcuFlavour {
    #[cfg(target_os = "linux")]
    {
        use rustix::thread::{MembarrierCommand as Cmd, membarrier_query};
        let q = membarrier_query();
        let forced = std::env::var_os("NOTIFIER_THREAD_RCU").is_some_and(|v| v == "fences");
        if !forced
            && q.contains_command(Cmd::PrivateExpedited)
            && q.contains_command(Cmd::RegisterPrivateExpedited)
        {
            return RcuFlavour::Membarrier;
        }
    }
    RcuFlavour::Fences
}

/// One test, in order: the flavour is decided once per process.
#[test]
fn default_flavour_orders_grace_periods() {
    // A section opened while the flavour is undecided (it used a full fence)...
    let (slot, leave, reader) = grace::open_reader();
    // ...is waited for by the grace period that decides the flavour.
    grace::synchronize_waits_for(slot, leave, reader);
    eprintln!("ThreadRcu flavour: {}", ThreadRcu::flavour());
    assert_eq!(ThreadRcu::flavour(), expected());
    assert_eq!(ThreadRcu::__force_fences(), expected(), "decided once");

    // Sections opened under the decided flavour.
    let (slot, leave, reader) = grace::open_reader();
    grace::synchronize_waits_for(slot, leave, reader);
    assert!(!ThreadRcu.in_read_section());
    grace::unregister_stress(2_000);
}
