//! Forks: a copy of a machine between operations, to run on from where it stands instead of
//! from boot (`cpuhp explore` starts each faulty run from the baseline's copy at the operation
//! before its failure).
//!
//! A fork copies the engine's data — every CPU's state record, the masks, the state table with
//! its skip indices, the instance lists, the injected faults with what is left of their
//! counters, suspend and SMT state, the legacy chain's bookkeeping — and shares what cannot
//! change: the callbacks (`Fn + Send + Sync`, each with its symbol behind an `Arc`) and the
//! legacy notifier blocks.
//! Instance values are the caller's to copy (the engine cannot clone a `dyn Any`), so that each
//! machine owns its own and `remove_instance` hands them back. The legacy chain is rebuilt with
//! guards of its own: a panic one fork's notifier throws is reported by that fork only.

use alloc::boxed::Box;
use core::any::Any;

use notifier::Chain;

use crate::engine::hotplug::Hotplug;
use crate::legacy::Legacy;
use crate::{Error, ErrorKind, Platform};

impl<P: Platform> Hotplug<P> {
    /// A copy of this machine, on `platform`: it stands where this one stands (every CPU's
    /// state, the masks, the installed states and instances, the injected faults and how many
    /// calls each still lets through, suspend, SMT and the legacy notifiers), and from there the
    /// two run independently. Operations on the fork run the same callbacks and notifier blocks
    /// as the original (they are shared: a callback that keeps state of its own shares it too);
    /// `copy` makes each instance value the fork gets (values of type `()`, a preset's stand-in
    /// instances, are copied without it).
    ///
    /// Between operations (an operation holds the machine by `&mut`), the copy behaves as the
    /// original would: the same operations make the same calls, in the same order, with the same
    /// results, and fire the same faults. The platform's own state, if it has any, is not part of
    /// the machine and is not copied.
    ///
    /// `CPU_POST_DEAD` events due and not delivered yet (a platform that
    /// [defers](crate::Platform::defers_post_dead) them, before it delivered) are copied too, and
    /// each machine delivers its own: fork after delivering, or the shared notifiers hear them
    /// twice.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::WrongInstanceType`] if `copy` returns `None` or a value of another type than
    /// the one it was given.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::sync::atomic::{AtomicU32, Ordering::Relaxed};
    /// use cpuhp::{preset, CpuId, Errno, Fault, Hotplug, Inline, OnlineMulti, Slot, StateId, Topology};
    ///
    /// static CALLS: AtomicU32 = AtomicU32::new(0);
    /// let mut hp = Hotplug::new(&preset::DEMO, Topology::new(4), Inline)?;
    /// let s = hp.setup_state(Slot::OnlineDyn, "nic", OnlineMulti::<String>::new()
    ///     .startup(|_, _| { CALLS.fetch_add(1, Relaxed); Ok(()) }))?;
    /// let eth0 = hp.add_instance(s, "eth0".to_string())?;
    /// hp.cpu_down(CpuId(3), StateId::OFFLINE)?;
    /// hp.inject(Fault::startup(s, Errno::EBUSY).after(1).once());
    ///
    /// let copy = |v: &(dyn std::any::Any + Send + Sync)| {
    ///     v.downcast_ref::<String>().map(|s| Box::new(s.clone()) as Box<_>)
    /// };
    /// let mut fork = hp.fork(Inline, copy)?;
    /// assert_eq!(fork.online_mask().to_string(), "0-2");
    /// // The fault lets one call through, then fires: in each machine on its own.
    /// for m in [&mut hp, &mut fork] {
    ///     m.cpu_up(CpuId(3), StateId(99))?;
    ///     m.cpu_down(CpuId(3), StateId::OFFLINE)?;
    ///     assert_eq!(m.cpu_up(CpuId(3), StateId(99)).unwrap_err().errno(), Errno::EBUSY);
    /// }
    /// // Each owns its instance value.
    /// let back = fork.remove_instance(s, eth0)?;
    /// assert_eq!(back.downcast_ref::<String>().map(String::as_str), Some("eth0"));
    /// assert_eq!(hp.instances(s), [eth0]);
    /// // Uncopyable values: no fork.
    /// assert!(hp.fork(Inline, |_| None).is_err());
    /// # Ok::<(), cpuhp::Error>(())
    /// ```
    pub fn fork<Q: Platform>(
        &self,
        platform: Q,
        mut copy: impl FnMut(&(dyn Any + Send + Sync)) -> Option<Box<dyn Any + Send + Sync>>,
    ) -> Result<Hotplug<Q>, Error> {
        let mut core = self.core().clone();
        for inst in core.table.instances_mut() {
            let value: &(dyn Any + Send + Sync) = &*inst.value;
            let own = if value.is::<()>() {
                Some(Box::new(()) as Box<dyn Any + Send + Sync>)
            } else {
                copy(value)
            };
            own.ok_or(())
                .and_then(|v| inst.value.replace(v).map_err(drop))
                .map_err(|()| Error::new(ErrorKind::WrongInstanceType))?;
        }
        Ok(Hotplug::from_core(core, platform))
    }
}

impl Clone for Legacy {
    /// The same notifiers in the same order, behind guards of the clone's own (their caught
    /// panics are the clone's), with the same per-CPU bookkeeping and the same `CPU_POST_DEAD`
    /// events due.
    fn clone(&self) -> Legacy {
        let mut l = Legacy::new(self.slots, 0);
        l.told = self.told.clone();
        l.post_dead_due = self.post_dead_due.clone();
        for g in &self.guards {
            let guard = l.guard(g.callback().block().clone());
            // Registered in registration order: with the same priorities, the chain's order
            // (priority, then first come) is the original's. A fresh block in a chain without
            // it cannot be refused.
            if l.chain.register(guard.clone()).map(|r| r.keep()).is_ok() {
                l.guards.push(guard);
            }
        }
        l
    }
}

#[cfg(test)]
mod tests {
    use alloc::string::{String, ToString};
    use alloc::sync::Arc;
    use alloc::vec::Vec;
    use core::any::Any;
    use std::sync::Mutex;

    use notifier::{NotifierBlock, NotifyResult};

    use crate::legacy::CpuAction;
    use crate::{CpuId, Errno, Fault, Hotplug, Inline, Online, Slot, StateId, Topology, preset};

    fn copy_string(v: &(dyn Any + Send + Sync)) -> Option<Box<dyn Any + Send + Sync>> {
        v.downcast_ref::<String>()
            .map(|s| Box::new(s.clone()) as Box<dyn Any + Send + Sync>)
    }

    /// A fork runs on as the original does: the same operations make the same calls (traced
    /// alike), the same notifier events and the same failures; the two are independent.
    #[test]
    fn a_fork_runs_on_as_the_original() {
        type Log = Arc<Mutex<Vec<String>>>;
        let log: Log = Log::default();
        let l2 = log.clone();
        let mut hp = Hotplug::new(&preset::LINUX_6_1, Topology::new(6), Inline).unwrap();
        let s = hp
            .setup_state(
                Slot::OnlineDyn,
                "x",
                Online::new()
                    .startup(move |c| {
                        l2.lock().unwrap().push(alloc::format!("up {}", c.0));
                        Ok(())
                    })
                    .teardown(|_| Ok(())),
            )
            .unwrap();
        let l3 = log.clone();
        let nb = Arc::new(NotifierBlock::new(
            move |a: CpuAction, c: &CpuId| {
                l3.lock().unwrap().push(alloc::format!("{a} {}", c.0));
                NotifyResult::OK
            },
            0,
        ));
        hp.enable_cpu_notifiers(None).unwrap();
        hp.register_cpu_notifier(nb).unwrap();
        hp.cpu_down(CpuId(4), StateId::OFFLINE).unwrap();
        hp.inject(
            Fault::startup(s, Errno::ENOMEM)
                .on_cpu(CpuId(5))
                .after(1)
                .once(),
        );
        let ops = |m: &mut Hotplug<Inline>| -> Vec<Result<(), Errno>> {
            let mut r = Vec::new();
            for _ in 0..2 {
                r.push(
                    m.cpu_down(CpuId(5), StateId::OFFLINE)
                        .map_err(|e| e.errno()),
                );
                r.push(m.cpu_up(CpuId(5), StateId(236)).map_err(|e| e.errno()));
            }
            r.push(m.cpu_up(CpuId(4), StateId(236)).map_err(|e| e.errno()));
            r.push(m.freeze_secondary_cpus(None).map_err(|e| e.errno()));
            r.push(m.thaw_secondary_cpus().map_err(|e| e.errno()));
            r
        };
        let mut fork = hp.fork(Inline, copy_string).unwrap();
        log.lock().unwrap().clear();
        let a = ops(&mut hp);
        let from_original = core::mem::take(&mut *log.lock().unwrap());
        let b = ops(&mut fork);
        let from_fork = core::mem::take(&mut *log.lock().unwrap());
        assert_eq!(a, b);
        assert!(a.contains(&Err(Errno::ENOMEM)));
        assert_eq!(from_original, from_fork);
        assert!(from_fork.iter().any(|e| e.starts_with("CPU_UP_PREPARE")));
        assert_eq!(hp.online_mask(), fork.online_mask());
        for c in 0..6 {
            assert_eq!(hp.cpu_status(CpuId(c)), fork.cpu_status(CpuId(c)));
        }
        // Independent: what one does is not seen by the other.
        fork.cpu_down(CpuId(2), StateId::OFFLINE).unwrap();
        assert!(hp.online_mask().contains(CpuId(2)));
        assert_eq!(fork.cpu_notifiers(), 1);
    }

    #[test]
    fn instance_values_are_copied_and_checked() {
        let mut hp = Hotplug::new(&preset::DEMO, Topology::new(2), Inline).unwrap();
        let s = hp
            .setup_state(
                Slot::OnlineDyn,
                "m",
                crate::OnlineMulti::<String>::new().startup(|_, _| Ok(())),
            )
            .unwrap();
        let i = hp.add_instance(s, "a".to_string()).unwrap();
        let mut fork = hp.fork(Inline, copy_string).unwrap();
        let v = fork.remove_instance(s, i).unwrap();
        assert_eq!(v.downcast_ref::<String>().unwrap(), "a");
        let v = hp.remove_instance(s, i).unwrap();
        assert_eq!(v.downcast_ref::<String>().unwrap(), "a");
        hp.add_instance(s, "b".to_string()).unwrap();
        // A copy of another type is refused.
        let e = hp.fork(
            Inline,
            |_| Some(Box::new(1u8) as Box<dyn Any + Send + Sync>),
        );
        assert_eq!(e.unwrap_err().kind(), crate::ErrorKind::WrongInstanceType);
    }
}
