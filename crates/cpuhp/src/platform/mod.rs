//! The boundary between the state machine and the world.
//!
//! The core decides *what* runs *where*; a [`Platform`] makes it happen: runs work on a CPU's
//! hotplug thread, boots a CPU (which runs its STARTING callbacks on itself), stops one (which runs
//! its DYING callbacks), and receives trace events. The simulator's platform uses one OS thread
//! per CPU; a kernel's uses its own threads and `stop_machine`; [`Inline`] runs everything on the
//! calling thread.
//!
//! **Contract:** each method runs its closure exactly once (unless it reports a failure before
//! running it) and returns only after the closure has finished — the closure borrows the state
//! machine. One call is one hand-off: the core hands over a whole section at a time, never one
//! state at a time.

#[cfg(feature = "std")]
pub mod sim;

use crate::{CpuId, Errno, TraceEvent};

/// What the state machine needs from the machine it runs on.
///
/// # Examples
///
/// A platform that counts hand-offs and runs everything inline:
///
/// ```
/// use std::sync::atomic::{AtomicUsize, Ordering};
/// use cpuhp::{CpuId, Errno, Platform};
///
/// #[derive(Default)]
/// struct Counting(AtomicUsize);
/// impl Platform for Counting {
///     fn run_on_ap(&self, _cpu: CpuId, work: &mut (dyn FnMut() + Send)) {
///         self.0.fetch_add(1, Ordering::Relaxed);
///         work();
///     }
///     fn start_cpu(&self, _cpu: CpuId, starting: &mut (dyn FnMut() + Send)) -> Result<(), Errno> {
///         starting();
///         Ok(())
///     }
///     fn stop_cpu(&self, _cpu: CpuId, dying: &mut (dyn FnMut() + Send)) -> Result<(), Errno> {
///         dying();
///         Ok(())
///     }
/// }
/// ```
pub trait Platform: Sync {
    /// Runs `work` on `cpu`'s hotplug thread and waits for it to finish.
    fn run_on_ap(&self, cpu: CpuId, work: &mut (dyn FnMut() + Send));

    /// Boots `cpu`: it runs `starting` on itself with interrupts off, then idles, online.
    ///
    /// # Errors
    ///
    /// The CPU did not come up (`starting` did not run).
    fn start_cpu(&self, cpu: CpuId, starting: &mut (dyn FnMut() + Send)) -> Result<(), Errno>;

    /// Stops `cpu` (`stop_machine`): it runs `dying` on itself with interrupts off, then dies.
    ///
    /// # Errors
    ///
    /// The CPU refused to die (`dying` did not run).
    fn stop_cpu(&self, cpu: CpuId, dying: &mut (dyn FnMut() + Send)) -> Result<(), Errno>;

    /// Starts booting `cpu` without waiting for it (Linux 6.5's split startup: the startup of
    /// `CPUHP_BP_KICK_AP`); a later [`start_cpu`](Self::start_cpu) waits for it to be alive. The
    /// default does nothing: `start_cpu` boots the CPU from scratch.
    ///
    /// # Errors
    ///
    /// The CPU cannot be kicked.
    fn kick_cpu(&self, cpu: CpuId) -> Result<(), Errno> {
        let _ = cpu;
        Ok(())
    }

    /// An operation starts with tasks frozen (suspend/resume) or not: callbacks may ask (Linux's
    /// `cpuhp_tasks_frozen`). The default does nothing.
    fn set_tasks_frozen(&self, frozen: bool) {
        let _ = frozen;
    }

    /// The hotplug thread of `cpu` (inside [`run_on_ap`](Self::run_on_ap)) is about to run a
    /// STARTING-section callback (`disabled`), or has run it: Linux disables interrupts around it.
    /// The default does nothing.
    #[inline]
    fn set_irqs_disabled(&self, cpu: CpuId, disabled: bool) {
        let _ = (cpu, disabled);
    }

    /// Whether `CPU_POST_DEAD` waits for
    /// [`Hotplug::deliver_post_dead`](crate::Hotplug::deliver_post_dead) instead of going out at
    /// the end of the operation that killed the CPU. Linux sends it once the hotplug lock is
    /// released, so that its notifiers may take the lock's read side: a platform that runs
    /// operations under such a lock answers `true` and delivers after releasing it. The default,
    /// `false`, suits a platform without one.
    fn defers_post_dead(&self) -> bool {
        false
    }

    /// Receives a trace event. The default ignores it.
    #[inline]
    fn trace(&self, event: &TraceEvent<'_>) {
        let _ = event;
    }
}

/// Runs everything on the calling thread; CPUs always start and stop. For tests, model checks
/// and embedders that drive the state machine from one context.
///
/// # Examples
///
/// ```
/// use cpuhp::{preset, Hotplug, Inline, Topology};
///
/// let hp = Hotplug::new(&preset::LINUX_6_1, Topology::new(4), Inline)?;
/// assert_eq!(hp.online_mask().to_string(), "0-3");
/// # Ok::<(), cpuhp::Error>(())
/// ```
#[derive(Clone, Copy, Debug, Default)]
pub struct Inline;

impl Platform for Inline {
    fn run_on_ap(&self, _cpu: CpuId, work: &mut (dyn FnMut() + Send)) {
        work();
    }

    fn start_cpu(&self, _cpu: CpuId, starting: &mut (dyn FnMut() + Send)) -> Result<(), Errno> {
        starting();
        Ok(())
    }

    fn stop_cpu(&self, _cpu: CpuId, dying: &mut (dyn FnMut() + Send)) -> Result<(), Errno> {
        dying();
        Ok(())
    }
}

/// Receives a machine's trace events: what [`Traced`] adds to [`Inline`]. Any
/// `Fn(&TraceEvent) + Send + Sync` closure is one.
///
/// # Examples
///
/// ```
/// use std::sync::atomic::{AtomicUsize, Ordering::Relaxed};
/// use cpuhp::{TraceEvent, Tracer};
///
/// struct Count(AtomicUsize);
/// impl Tracer for Count {
///     fn trace(&self, _: &TraceEvent<'_>) {
///         self.0.fetch_add(1, Relaxed);
///     }
/// }
/// # let _ = Count(AtomicUsize::new(0));
/// ```
pub trait Tracer: Send + Sync {
    /// One event, as [`Platform::trace`] receives it.
    fn trace(&self, event: &TraceEvent<'_>);
}

impl<F: Fn(&TraceEvent<'_>) + Send + Sync> Tracer for F {
    fn trace(&self, event: &TraceEvent<'_>) {
        self(event)
    }
}

/// [`Inline`] with its trace events handed to a [`Tracer`]: everything runs on the calling
/// thread. For simulators and tools that only want to see the walk.
///
/// # Examples
///
/// ```
/// use std::sync::Mutex;
/// use cpuhp::{preset, CpuId, Hotplug, StateId, Topology, TraceEvent, Traced};
///
/// let exits = Mutex::new(0);
/// let count = |e: &TraceEvent<'_>| {
///     if matches!(e, TraceEvent::Exit { .. }) {
///         *exits.lock().unwrap() += 1;
///     }
/// };
/// let mut hp = Hotplug::new(&preset::DEMO, Topology::new(2), Traced(&count))?;
/// hp.cpu_down(CpuId(1), StateId::OFFLINE)?;
/// assert!(*exits.lock().unwrap() > 0);
/// # Ok::<(), cpuhp::Error>(())
/// ```
#[derive(Clone, Copy, Debug, Default)]
pub struct Traced<T>(pub T);

impl<T: Tracer> Platform for Traced<T> {
    fn run_on_ap(&self, cpu: CpuId, work: &mut (dyn FnMut() + Send)) {
        Inline.run_on_ap(cpu, work);
    }

    fn start_cpu(&self, cpu: CpuId, starting: &mut (dyn FnMut() + Send)) -> Result<(), Errno> {
        Inline.start_cpu(cpu, starting)
    }

    fn stop_cpu(&self, cpu: CpuId, dying: &mut (dyn FnMut() + Send)) -> Result<(), Errno> {
        Inline.stop_cpu(cpu, dying)
    }

    fn trace(&self, event: &TraceEvent<'_>) {
        self.0.trace(event);
    }
}
