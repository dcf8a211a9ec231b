//! [`Machine`], its platform and its locks.
//!
//! # Locks (as Linux's)
//!
//! * The **add/remove lock** (`cpu_add_remove_lock`): taken first by hotplug operations and by
//!   `cpu_hotplug_disable`/`enable`; held across a whole freeze and while `CPU_POST_DEAD` goes out.
//! * The **hotplug lock** (`cpu_hotplug_lock`, a readers/writer lock): CPU hotplug operations take
//!   it for writing; [`Machine::cpus_read_lock`] takes it for reading and keeps the set of online
//!   CPUs stable while held; installing states and instances and registering notifiers take it
//!   for reading.
//! * The **state lock** (`cpuhp_state_mutex`, a mutex around the state machine): taken last by
//!   every operation.
//!
//! A CPU hotplug operation releases the hotplug lock before `CPU_POST_DEAD`, so POST_DEAD
//! notifiers may take the read side — the reason that event exists. No writer can be waiting for
//! it then: every writer needs the add/remove lock first.
//!
//! # No deadlocks
//!
//! Each thread knows which machine operation it works for (a CPU thread inherits it from the job
//! it runs). A machine operation started from inside a callback of the same machine, or a
//! hotplug operation from a thread holding the read side, would wait for itself: it fails with
//! `EDEADLK` instead. `cpus_read_lock` from a callback of a hotplug operation (which holds the
//! write side) fails likewise; from a callback of an operation holding the read side it is
//! granted at once, as Linux lends the lock to the CPU's hotplug thread. A `CPU_POST_DEAD`
//! notifier runs under the add/remove and state locks, so it may take the read side but not call
//! back into the machine (`EDEADLK`; Linux would let it install a state).

use std::borrow::Cow;
use std::cell::RefCell;
use std::fmt;
use std::marker::PhantomData;
use std::panic::AssertUnwindSafe;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use parking_lot::lock_api;

use super::cpu_thread::{CURRENT_CPU, CpuThread, Held, IRQS_OFF, OP, OpContext, TASKS_FROZEN};
use crate::legacy::LegacySlots;
use crate::preset::Preset;
use crate::{
    Callbacks, CpuId, CpuMask, CpuStatus, Errno, Error, ErrorKind, Hotplug, InstanceId, Platform,
    Slot, SmtControl, StateId, Topology, TraceEvent,
};

/// The simulated CPU the calling thread is, if it is one (a callback running on a CPU's
/// hotplug thread, or in its STARTING/DYING context).
///
/// # Examples
///
/// ```
/// assert_eq!(cpuhp::sim::current_cpu(), None); // the test's own thread is the control side
/// ```
pub fn current_cpu() -> Option<CpuId> {
    CURRENT_CPU.get()
}

/// Whether the calling thread is a simulated CPU with interrupts off (running STARTING or DYING
/// callbacks).
///
/// # Examples
///
/// ```
/// assert!(!cpuhp::sim::irqs_disabled());
/// ```
pub fn irqs_disabled() -> bool {
    IRQS_OFF.get()
}

/// Whether the hotplug operation the calling callback belongs to runs with tasks frozen
/// (suspend/resume; Linux's `cpuhp_tasks_frozen`).
///
/// # Examples
///
/// ```
/// assert!(!cpuhp::sim::tasks_frozen());
/// ```
pub fn tasks_frozen() -> bool {
    TASKS_FROZEN.get()
}

/// A blocking operation was attempted with interrupts off.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct AtomicContext {
    /// The CPU that was in atomic context.
    pub cpu: Option<CpuId>,
}

impl fmt::Display for AtomicContext {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.cpu {
            Some(c) => write!(
                f,
                "BUG: sleeping function called from invalid context on CPU {c}"
            ),
            None => f.write_str("BUG: sleeping function called from invalid context"),
        }
    }
}

impl std::error::Error for AtomicContext {}

/// Linux's `might_sleep()`: call it before blocking. Inside a STARTING or DYING callback
/// (interrupts off) it reports the bug instead of letting the block happen.
///
/// # Errors
///
/// [`AtomicContext`] when called with interrupts off.
///
/// # Examples
///
/// ```
/// assert!(cpuhp::sim::might_sleep().is_ok());
/// ```
pub fn might_sleep() -> Result<(), AtomicContext> {
    if irqs_disabled() {
        Err(AtomicContext { cpu: current_cpu() })
    } else {
        Ok(())
    }
}

type Tracer = Arc<dyn Fn(&TraceEvent<'_>) + Send + Sync>;

/// One-shot platform failures, and the simulated boot.
#[derive(Default)]
struct Boot {
    start_faults: Vec<(CpuId, Errno)>,
    stop_faults: Vec<(CpuId, Errno)>,
    /// When each CPU was kicked (split startup), if it was and has not booted since.
    kicked: Vec<Option<Instant>>,
    /// How long a CPU takes to boot once kicked.
    delay: Duration,
}

/// The simulator's [`Platform`]: one OS thread per possible CPU.
pub struct SimPlatform {
    cpus: Vec<CpuThread>,
    tracer: Option<Tracer>,
    boot: Mutex<Boot>,
}

impl fmt::Debug for SimPlatform {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SimPlatform")
            .field("cpus", &self.cpus.len())
            .finish_non_exhaustive()
    }
}

impl SimPlatform {
    fn boot(&self) -> MutexGuard<'_, Boot> {
        self.boot.lock().unwrap_or_else(|e| e.into_inner())
    }
}

fn take_fault(list: &mut Vec<(CpuId, Errno)>, cpu: CpuId) -> Option<Errno> {
    let at = list.iter().position(|&(c, _)| c == cpu)?;
    Some(list.remove(at).1)
}

/// Callable by anyone holding a `&SimPlatform` (`Hotplug::platform`), from any number of threads at
/// once: hand-offs to one CPU queue on its submit lock, and a CPU the machine does not have is
/// refused (`EINVAL`) or, for [`run_on_ap`](Platform::run_on_ap), which cannot fail, has its work
/// run on the calling thread. The state machine itself only names CPUs it has validated.
impl Platform for SimPlatform {
    fn run_on_ap(&self, cpu: CpuId, work: &mut (dyn FnMut() + Send)) {
        match self.cpus.get(cpu.index()) {
            Some(t) => t.run(work, false),
            None => work(),
        }
    }

    fn kick_cpu(&self, cpu: CpuId) -> Result<(), Errno> {
        if cpu.index() >= self.cpus.len() {
            return Err(Errno::EINVAL);
        }
        if let Some(e) = take_fault(&mut self.boot().start_faults, cpu) {
            return Err(e);
        }
        self.boot().kicked[cpu.index()] = Some(Instant::now());
        Ok(())
    }

    fn start_cpu(&self, cpu: CpuId, starting: &mut (dyn FnMut() + Send)) -> Result<(), Errno> {
        if cpu.index() >= self.cpus.len() {
            return Err(Errno::EINVAL);
        }
        let (kicked, delay) = {
            let mut boot = self.boot();
            if let Some(e) = take_fault(&mut boot.start_faults, cpu) {
                return Err(e);
            }
            (boot.kicked[cpu.index()].take(), boot.delay)
        };
        // The CPU boots for `delay` from its kick (now, if nobody kicked it): waiting for it here
        // is the control side waiting for the CPU to be alive.
        let alive = kicked.unwrap_or_else(Instant::now) + delay;
        let now = Instant::now();
        if alive > now {
            std::thread::sleep(alive - now);
        }
        self.cpus[cpu.index()].run(starting, true);
        Ok(())
    }

    fn stop_cpu(&self, cpu: CpuId, dying: &mut (dyn FnMut() + Send)) -> Result<(), Errno> {
        if cpu.index() >= self.cpus.len() {
            return Err(Errno::EINVAL);
        }
        if let Some(e) = take_fault(&mut self.boot().stop_faults, cpu) {
            return Err(e);
        }
        self.cpus[cpu.index()].run(dying, true);
        Ok(())
    }

    fn set_tasks_frozen(&self, frozen: bool) {
        TASKS_FROZEN.set(frozen);
    }

    fn set_irqs_disabled(&self, _cpu: CpuId, disabled: bool) {
        IRQS_OFF.set(disabled);
    }

    fn trace(&self, event: &TraceEvent<'_>) {
        if let Some(t) = &self.tracer {
            // The tracer runs in the middle of a walk: its panic must not leave the walk half
            // done. It loses that one event; the walk, and later events, go on.
            let _ = crate::engine::walk::guarded(|| t(event));
        }
    }
}

static NEXT_MACHINE: AtomicU64 = AtomicU64::new(1);

/// The read side of a hotplug lock, shareable with a thread-local table.
type ReadSide = lock_api::ArcRwLockReadGuard<parking_lot::RawRwLock, ()>;

/// A read side this thread holds through `cpus_read_lock`, and how many guards share it.
struct ReadHold {
    machine: u64,
    depth: u32,
    _side: ReadSide,
}

thread_local! {
    /// The hotplug-lock read sides this thread holds: released when the last guard goes,
    /// whatever the order the guards are dropped in (Linux's `cpus_read_lock` counts too).
    static READS: RefCell<Vec<ReadHold>> = const { RefCell::new(Vec::new()) };
}

fn read_depth(machine: u64) -> u32 {
    READS.with(|r| {
        r.borrow()
            .iter()
            .find(|h| h.machine == machine)
            .map_or(0, |h| h.depth)
    })
}

/// Counts one more guard on this thread's read side of `machine`, taking it with `take` first
/// if this thread does not hold it yet.
fn hold_read(machine: u64, take: impl FnOnce() -> ReadSide) {
    let held = READS.with(|r| {
        let mut r = r.borrow_mut();
        let hold = r.iter_mut().find(|h| h.machine == machine);
        hold.map(|h| h.depth += 1).is_some()
    });
    if !held {
        // Taken outside the `RefCell` borrow: it may block.
        let side = take();
        READS.with(|r| {
            r.borrow_mut().push(ReadHold {
                machine,
                depth: 1,
                _side: side,
            })
        });
    }
}

/// Counts one guard less; the last one releases the read side.
fn release_read(machine: u64) {
    let released = READS.with(|r| {
        let mut r = r.borrow_mut();
        let i = r.iter().position(|h| h.machine == machine)?;
        r[i].depth -= 1;
        (r[i].depth == 0).then(|| r.remove(i))
    });
    // Dropped outside the `RefCell` borrow.
    drop(released);
}

/// Marks the calling thread as working for an operation; restores the previous mark on drop.
struct OpMark(OpContext);

impl OpMark {
    fn enter(machine: u64, held: Held) -> OpMark {
        OpMark(OP.replace(OpContext { machine, held }))
    }

    fn set(&self, machine: u64, held: Held) {
        OP.set(OpContext { machine, held });
    }
}

impl Drop for OpMark {
    fn drop(&mut self) {
        OP.set(self.0);
    }
}

/// The read side of a machine's hotplug lock (Linux's `cpus_read_lock`, formerly
/// `get_online_cpus`): while it is held, no CPU goes up or down. Guards nest and may be dropped
/// in any order; the read side is released with the last one.
///
/// Not `Send`: a read side belongs to the thread that took it.
pub struct CpusReadGuard<'m> {
    machine: &'m Machine,
    /// Counted in this thread's `READS` (`false`: lent by the operation the callback runs in).
    counted: bool,
    _not_send: PhantomData<*const ()>,
}

impl fmt::Debug for CpusReadGuard<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CpusReadGuard")
            .field("machine", &self.machine.id)
            .finish_non_exhaustive()
    }
}

impl Drop for CpusReadGuard<'_> {
    fn drop(&mut self) {
        if self.counted {
            release_read(self.machine.id);
        }
    }
}

/// A simulated machine: CPUs as OS threads, the state machine behind the machine's locks.
///
/// # Examples
///
/// ```
/// use std::sync::{Arc, Mutex};
/// use cpuhp::{preset, sim::Machine, CpuId, Online, Slot, StateId, Topology};
///
/// let m = Machine::new(&preset::LINUX_6_1, Topology::new(4))?;
/// let ran_on = Arc::new(Mutex::new(Vec::new()));
/// let log = ran_on.clone();
/// let s = m.setup_state(Slot::OnlineDyn, "demo:online", Online::new().startup(move |cpu| {
///     log.lock().unwrap().push((cpu, cpuhp::sim::current_cpu()));
///     Ok(())
/// }))?;
/// assert_eq!(s, StateId(211));
/// // Each CPU's startup ran on that CPU's own thread.
/// assert!(ran_on.lock().unwrap().iter().all(|&(cpu, on)| on == Some(cpu)));
/// m.cpu_down(CpuId(2), StateId::OFFLINE)?;
/// assert_eq!(m.online_mask()?.to_string(), "0-1,3");
/// # Ok::<(), cpuhp::Error>(())
/// ```
pub struct Machine {
    id: u64,
    /// Linux's `cpu_add_remove_lock`: serialises hotplug operations and what decides whether
    /// they may run (disabling hotplug); outermost. Held across a whole freeze and while
    /// `CPU_POST_DEAD` goes out, so no writer can be waiting for the hotplug lock then.
    add_remove: Mutex<()>,
    /// Linux's `cpu_hotplug_lock`.
    hotplug_lock: Arc<parking_lot::RwLock<()>>,
    /// The state machine; its mutex is Linux's `cpu_add_remove_lock` (and `cpuhp_state_mutex`).
    hp: Mutex<Hotplug<SimPlatform>>,
    /// Threads between deciding to take a lock and having it: what [`Machine::lock_waiters`]
    /// reports, so tests observe a queued writer instead of guessing with a sleep.
    waiting_add_remove: AtomicUsize,
    waiting_write: AtomicUsize,
}

/// How many threads wait for each of a [`Machine`]'s locks ([`Machine::lock_waiters`]).
///
/// # Examples
///
/// ```
/// use cpuhp::{preset, sim::{LockWaiters, Machine}, Topology};
///
/// let m = Machine::new(&preset::DEMO, Topology::new(2))?;
/// assert_eq!(m.lock_waiters(), LockWaiters::default());
/// # Ok::<(), cpuhp::Error>(())
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct LockWaiters {
    /// Operations waiting for the add/remove lock (`cpu_add_remove_lock`): hotplug operations
    /// and `cpu_hotplug_disable`/`enable` queued behind the one under way.
    pub add_remove: usize,
    /// Hotplug operations waiting for the write side of the hotplug lock (`cpu_hotplug_lock`),
    /// that is, for every `cpus_read_lock` reader to leave. At most one: they hold the
    /// add/remove lock.
    pub hotplug_write: usize,
}

/// Counts a thread as waiting while it is alive.
struct Waiting<'a>(&'a AtomicUsize);

impl<'a> Waiting<'a> {
    fn new(counter: &'a AtomicUsize) -> Waiting<'a> {
        counter.fetch_add(1, Ordering::SeqCst);
        Waiting(counter)
    }
}

impl Drop for Waiting<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::SeqCst);
    }
}

impl fmt::Debug for Machine {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Machine")
            .field("id", &self.id)
            .finish_non_exhaustive()
    }
}

impl Machine {
    /// Boots a machine: one thread per possible CPU, the boot CPU up, every other present CPU
    /// brought up to online through the preset's states.
    ///
    /// # Errors
    ///
    /// As [`Hotplug::new`]; [`ErrorKind::Platform`] if a thread cannot be spawned.
    ///
    /// # Examples
    ///
    /// ```
    /// use cpuhp::{preset, sim::Machine, ErrorKind, Topology};
    ///
    /// let m = Machine::new(&preset::DEMO, Topology::new(2))?;
    /// assert_eq!(m.online_mask()?.to_string(), "0-1");
    /// let e = Machine::new(&preset::DEMO, Topology::new(0)).unwrap_err();
    /// assert_eq!(e.kind(), ErrorKind::InvalidCpu);
    /// # Ok::<(), cpuhp::Error>(())
    /// ```
    pub fn new(preset: &Preset, topology: Topology) -> Result<Machine, Error> {
        let id = NEXT_MACHINE.fetch_add(1, Ordering::Relaxed);
        // Refused before a thread is spawned: `Hotplug::new` would refuse it too, but only after
        // this machine had started one thread per possible CPU.
        if topology.possible > crate::engine::hotplug::MAX_CPUS {
            return Err(Error::new(ErrorKind::InvalidCpu));
        }
        let cpus = (0..topology.possible)
            .map(|c| CpuThread::spawn(CpuId(c)))
            .collect::<Result<Vec<_>, _>>()
            .map_err(|_| Error::new(ErrorKind::Platform))?;
        let platform = SimPlatform {
            cpus,
            tracer: None,
            boot: Mutex::new(Boot {
                kicked: vec![None; topology.possible as usize],
                ..Boot::default()
            }),
        };
        let _mark = OpMark::enter(id, Held::Write);
        let mut hp = Hotplug::new(preset, topology, platform)?;
        hp.defer_post_dead(true);
        Ok(Machine {
            id,
            add_remove: Mutex::new(()),
            hotplug_lock: Arc::new(parking_lot::RwLock::new(())),
            hp: Mutex::new(hp),
            waiting_add_remove: AtomicUsize::new(0),
            waiting_write: AtomicUsize::new(0),
        })
    }

    fn check_not_inside(&self) -> Result<(), Error> {
        if OP.get().machine == self.id {
            // A callback (or CPU_POST_DEAD notifier) of this machine calling back into it.
            return Err(Error::new(ErrorKind::WouldDeadlock));
        }
        Ok(())
    }

    fn lock_hp(&self) -> Result<MutexGuard<'_, Hotplug<SimPlatform>>, Error> {
        self.hp.lock().map_err(|_| Error::new(ErrorKind::Poisoned))
    }

    /// Checks that the calling thread may wait for the add/remove lock: not from inside this
    /// machine's callbacks, not while holding the read side (a writer holding the add/remove
    /// lock may be waiting for it).
    fn check_may_serialise(&self) -> Result<(), Error> {
        self.check_not_inside()?;
        if read_depth(self.id) > 0 {
            return Err(Error::new(ErrorKind::WouldDeadlock));
        }
        Ok(())
    }

    fn lock_add_remove(&self) -> MutexGuard<'_, ()> {
        let _waiting = Waiting::new(&self.waiting_add_remove);
        // It guards no data: a panic while it was held leaves nothing inconsistent.
        self.add_remove.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// How many threads are waiting for the add/remove lock and for the write side of the
    /// hotplug lock, right now: lets a test (or a debugger) see that a hotplug operation is
    /// queued behind a reader or another operation, instead of inferring it from time.
    ///
    /// # Examples
    ///
    /// ```
    /// use cpuhp::{preset, sim::Machine, CpuId, StateId, Topology};
    ///
    /// let m = Machine::new(&preset::DEMO, Topology::new(2))?;
    /// let guard = m.cpus_read_lock()?;
    /// std::thread::scope(|s| {
    ///     let writer = s.spawn(|| m.cpu_down(CpuId(1), StateId::OFFLINE));
    ///     // The writer queues behind the reader; it cannot finish until the guard goes.
    ///     while m.lock_waiters().hotplug_write == 0 {
    ///         std::thread::yield_now();
    ///     }
    ///     assert_eq!(m.online_mask().unwrap().to_string(), "0-1");
    ///     drop(guard);
    ///     writer.join().unwrap()
    /// })?;
    /// assert_eq!(m.online_mask()?.to_string(), "0");
    /// # Ok::<(), cpuhp::Error>(())
    /// ```
    pub fn lock_waiters(&self) -> LockWaiters {
        LockWaiters {
            add_remove: self.waiting_add_remove.load(Ordering::SeqCst),
            hotplug_write: self.waiting_write.load(Ordering::SeqCst),
        }
    }

    /// A hotplug operation: the add/remove lock, the hotplug lock's write side, the state
    /// machine; the write side is released before `CPU_POST_DEAD` goes out.
    fn write_op<R>(&self, f: impl FnOnce(&mut Hotplug<SimPlatform>) -> R) -> Result<R, Error> {
        self.check_may_serialise()?;
        let _add_remove = self.lock_add_remove();
        self.write_locked(f)
    }

    /// The part of a hotplug operation under the add/remove lock.
    fn write_locked<R>(&self, f: impl FnOnce(&mut Hotplug<SimPlatform>) -> R) -> Result<R, Error> {
        let write = {
            let _waiting = Waiting::new(&self.waiting_write);
            self.hotplug_lock.write()
        };
        let mut hp = self.lock_hp()?;
        let mark = OpMark::enter(self.id, Held::Write);
        TASKS_FROZEN.set(hp.tasks_frozen());
        let r = f(&mut hp);
        drop(write);
        mark.set(self.id, Held::PostDead);
        hp.deliver_post_dead();
        Ok(r)
    }

    /// An operation that decides whether hotplug operations may run (Linux's
    /// `cpu_maps_update_begin`): the add/remove lock, then the state machine.
    fn maps_op<R>(&self, f: impl FnOnce(&mut Hotplug<SimPlatform>) -> R) -> Result<R, Error> {
        self.check_may_serialise()?;
        let _add_remove = self.lock_add_remove();
        let mut hp = self.lock_hp()?;
        let _mark = OpMark::enter(self.id, Held::Read);
        Ok(f(&mut hp))
    }

    /// An operation that needs the online CPUs stable but does not change them (installing
    /// states and instances, registering notifiers, reading): the read side, then the state
    /// machine.
    fn read_op<R>(&self, f: impl FnOnce(&mut Hotplug<SimPlatform>) -> R) -> Result<R, Error> {
        self.check_not_inside()?;
        let _read = (read_depth(self.id) == 0).then(|| self.hotplug_lock.read());
        let mut hp = self.lock_hp()?;
        let _mark = OpMark::enter(self.id, Held::Read);
        TASKS_FROZEN.set(hp.tasks_frozen());
        Ok(f(&mut hp))
    }

    /// Takes the read side of the hotplug lock (Linux's `cpus_read_lock`): until the guard is
    /// dropped, no CPU goes up or down; hotplug operations wait. Nests.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::WouldDeadlock`] from a callback of a hotplug operation of this machine (it
    /// holds the write side) or with interrupts off (a STARTING/DYING callback may not sleep).
    ///
    /// # Examples
    ///
    /// ```
    /// use cpuhp::{preset, sim::Machine, CpuId, ErrorKind, StateId, Topology};
    ///
    /// let m = Machine::new(&preset::DEMO, Topology::new(2))?;
    /// let guard = m.cpus_read_lock()?;
    /// // This thread holds the read side: a hotplug operation would wait for it forever.
    /// assert_eq!(m.cpu_down(CpuId(1), StateId::OFFLINE).unwrap_err().kind(), ErrorKind::WouldDeadlock);
    /// drop(guard);
    /// m.cpu_down(CpuId(1), StateId::OFFLINE)?;
    /// # Ok::<(), cpuhp::Error>(())
    /// ```
    pub fn cpus_read_lock(&self) -> Result<CpusReadGuard<'_>, Error> {
        if irqs_disabled() {
            return Err(Error::new(ErrorKind::WouldDeadlock));
        }
        let op = OP.get();
        if op.machine == self.id {
            match op.held {
                Held::Write => return Err(Error::new(ErrorKind::WouldDeadlock)),
                // The operation holds the read side on this callback's behalf.
                Held::Read => {
                    return Ok(CpusReadGuard {
                        machine: self,
                        counted: false,
                        _not_send: PhantomData,
                    });
                }
                Held::PostDead | Held::None => {}
            }
        }
        hold_read(self.id, || self.hotplug_lock.read_arc());
        Ok(CpusReadGuard {
            machine: self,
            counted: true,
            _not_send: PhantomData,
        })
    }

    /// Runs `f` with exclusive access to the state machine — one serialised hotplug operation
    /// (both locks; `CPU_POST_DEAD` after).
    ///
    /// # Errors
    ///
    /// [`ErrorKind::WouldDeadlock`] from inside one of this machine's callbacks or with the read
    /// side held; [`ErrorKind::Poisoned`] after a panic that left the state machine mid-operation
    /// (not a callback's: those are caught where the callback runs; not `f`'s own either: it is
    /// resumed on the caller once the machine is released, and the machine stays usable).
    ///
    /// # Examples
    ///
    /// ```
    /// use cpuhp::{preset, sim::Machine, Topology};
    ///
    /// let m = Machine::new(&preset::LINUX_6_1, Topology::new(2))?;
    /// let n = m.with(|hp| hp.states().len())?;
    /// assert_eq!(n, 65);
    /// # Ok::<(), cpuhp::Error>(())
    /// ```
    pub fn with<R>(&self, f: impl FnOnce(&mut Hotplug<SimPlatform>) -> R) -> Result<R, Error> {
        // `f` can only panic between two operations of the machine (a panic inside one comes
        // from a callback, and is caught there): the machine is consistent, so the panic must not
        // poison it. It goes on to the caller once the machine is released.
        match self.write_op(|hp| std::panic::catch_unwind(AssertUnwindSafe(|| f(hp))))? {
            Ok(r) => Ok(r),
            Err(payload) => std::panic::resume_unwind(payload),
        }
    }

    /// [`Hotplug::cpu_up`].
    ///
    /// # Errors
    ///
    /// As [`Hotplug::cpu_up`], plus those of [`Machine::with`].
    ///
    /// # Examples
    ///
    /// ```
    /// use cpuhp::{preset, sim::Machine, CpuId, StateId, Topology};
    ///
    /// let m = Machine::new(&preset::DEMO, Topology::new(2))?;
    /// m.cpu_down(CpuId(1), StateId::OFFLINE)?;
    /// m.cpu_up(CpuId(1), StateId(99))?;
    /// assert_eq!(m.online_mask()?.to_string(), "0-1");
    /// # Ok::<(), cpuhp::Error>(())
    /// ```
    pub fn cpu_up(&self, cpu: CpuId, target: StateId) -> Result<(), Error> {
        self.write_op(|hp| hp.cpu_up(cpu, target))?
    }

    /// [`Hotplug::cpu_down`], with `CPU_POST_DEAD` after the hotplug lock is released.
    ///
    /// # Errors
    ///
    /// As [`Hotplug::cpu_down`], plus those of [`Machine::with`].
    ///
    /// # Examples
    ///
    /// ```
    /// use cpuhp::{preset, sim::Machine, CpuId, StateId, Topology};
    ///
    /// let m = Machine::new(&preset::DEMO, Topology::new(2))?;
    /// m.cpu_down(CpuId(1), StateId::OFFLINE)?;
    /// assert_eq!(m.online_mask()?.to_string(), "0");
    /// assert_eq!(m.cpu_status(CpuId(1))?.unwrap().state, StateId::OFFLINE);
    /// # Ok::<(), cpuhp::Error>(())
    /// ```
    pub fn cpu_down(&self, cpu: CpuId, target: StateId) -> Result<(), Error> {
        self.write_op(|hp| hp.cpu_down(cpu, target))?
    }

    /// [`Hotplug::setup_state`].
    ///
    /// # Errors
    ///
    /// As [`Hotplug::setup_state`], plus [`ErrorKind::WouldDeadlock`]/[`ErrorKind::Poisoned`].
    ///
    /// # Examples
    ///
    /// ```
    /// use cpuhp::{preset, sim::Machine, CpuId, Errno, Online, Slot, StateId, Topology};
    ///
    /// let m = Machine::new(&preset::DEMO, Topology::new(2))?;
    /// // The startup runs on each CPU's own thread.
    /// let on_own_thread = |cpu: CpuId| if cpuhp::sim::current_cpu() == Some(cpu) { Ok(()) } else { Err(Errno::EINVAL) };
    /// let s = m.setup_state(Slot::OnlineDyn, "demo:online", Online::new().startup(on_own_thread))?;
    /// assert_eq!(s, StateId(70));
    /// # Ok::<(), cpuhp::Error>(())
    /// ```
    pub fn setup_state(
        &self,
        slot: Slot,
        name: impl Into<Cow<'static, str>>,
        callbacks: impl Into<Callbacks>,
    ) -> Result<StateId, Error> {
        self.read_op(|hp| hp.setup_state(slot, name, callbacks))?
    }

    /// [`Hotplug::setup_state_nocalls`].
    ///
    /// # Errors
    ///
    /// As [`Hotplug::setup_state_nocalls`], plus [`ErrorKind::WouldDeadlock`]/[`ErrorKind::Poisoned`].
    ///
    /// # Examples
    ///
    /// ```
    /// use cpuhp::{preset, sim::Machine, CpuId, Errno, Online, Slot, StateId, Topology};
    ///
    /// let m = Machine::new(&preset::DEMO, Topology::new(2))?;
    /// m.setup_state_nocalls(Slot::OnlineDyn, "flaky", Online::new().startup(|_| Err(Errno::EIO)))?;
    /// // Not called now, but at the next bring-up:
    /// m.cpu_down(CpuId(1), StateId::OFFLINE)?;
    /// assert_eq!(m.cpu_up(CpuId(1), StateId(99)).unwrap_err().errno(), Errno::EIO);
    /// # Ok::<(), cpuhp::Error>(())
    /// ```
    pub fn setup_state_nocalls(
        &self,
        slot: Slot,
        name: impl Into<Cow<'static, str>>,
        callbacks: impl Into<Callbacks>,
    ) -> Result<StateId, Error> {
        self.read_op(|hp| hp.setup_state_nocalls(slot, name, callbacks))?
    }

    /// [`Hotplug::remove_state`].
    ///
    /// # Errors
    ///
    /// As [`Hotplug::remove_state`], plus [`ErrorKind::WouldDeadlock`]/[`ErrorKind::Poisoned`].
    ///
    /// # Examples
    ///
    /// ```
    /// use std::sync::atomic::{AtomicU32, Ordering::Relaxed};
    /// use cpuhp::{preset, sim::Machine, Online, Slot, Topology};
    ///
    /// static DOWN: AtomicU32 = AtomicU32::new(0);
    /// let m = Machine::new(&preset::DEMO, Topology::new(2))?;
    /// let s = m.setup_state(Slot::OnlineDyn, "x", Online::new().teardown(|_| { DOWN.fetch_add(1, Relaxed); Ok(()) }))?;
    /// m.remove_state(s)?;
    /// assert_eq!(DOWN.load(Relaxed), 2); // torn down on both CPUs
    /// assert!(m.remove_state(s).is_err()); // gone
    /// # Ok::<(), cpuhp::Error>(())
    /// ```
    pub fn remove_state(&self, state: StateId) -> Result<(), Error> {
        self.read_op(|hp| hp.remove_state(state))?
    }

    /// [`Hotplug::add_instance`].
    ///
    /// # Errors
    ///
    /// As [`Hotplug::add_instance`], plus [`ErrorKind::WouldDeadlock`]/[`ErrorKind::Poisoned`].
    ///
    /// # Examples
    ///
    /// ```
    /// use cpuhp::{preset, sim::Machine, Errno, OnlineMulti, Slot, Topology};
    ///
    /// struct Nic(&'static str);
    /// let m = Machine::new(&preset::DEMO, Topology::new(2))?;
    /// let cbs = OnlineMulti::<Nic>::new().startup(|_, nic| if nic.0.is_empty() { Err(Errno::EINVAL) } else { Ok(()) });
    /// let s = m.setup_state(Slot::OnlineDyn, "net/nic:online", cbs)?;
    /// let eth0 = m.add_instance(s, Nic("eth0"))?;
    /// assert!(m.add_instance(s, Nic("")).is_err()); // its startup failed: not added
    /// assert_eq!(m.with(|hp| hp.instances(s))?, vec![eth0]);
    /// # Ok::<(), cpuhp::Error>(())
    /// ```
    pub fn add_instance<T: std::any::Any + Send + Sync>(
        &self,
        state: StateId,
        instance: T,
    ) -> Result<InstanceId, Error> {
        self.read_op(|hp| hp.add_instance(state, instance))?
    }

    /// [`Hotplug::remove_instance`].
    ///
    /// # Errors
    ///
    /// As [`Hotplug::remove_instance`], plus [`ErrorKind::WouldDeadlock`]/[`ErrorKind::Poisoned`].
    ///
    /// # Examples
    ///
    /// ```
    /// use cpuhp::{preset, sim::Machine, OnlineMulti, Slot, Topology};
    ///
    /// let m = Machine::new(&preset::DEMO, Topology::new(2))?;
    /// let s = m.setup_state(Slot::OnlineDyn, "m", OnlineMulti::<u8>::new().teardown(|_, _| Ok(())))?;
    /// let i = m.add_instance(s, 7u8)?;
    /// m.remove_instance(s, i)?; // unlike `Hotplug::remove_instance`, drops the instance
    /// assert!(m.with(|hp| hp.instances(s))?.is_empty());
    /// m.remove_state(s)?; // no instances left: the state may go
    /// # Ok::<(), cpuhp::Error>(())
    /// ```
    pub fn remove_instance(&self, state: StateId, instance: InstanceId) -> Result<(), Error> {
        self.read_op(|hp| hp.remove_instance(state, instance).map(drop))?
    }

    /// [`Hotplug::sysfs_read`].
    ///
    /// # Errors
    ///
    /// As [`Hotplug::sysfs_read`]; `EDEADLK`/`EIO` as [`Machine::with`].
    ///
    /// # Examples
    ///
    /// ```
    /// use cpuhp::{preset, sim::Machine, Errno, Topology};
    ///
    /// let m = Machine::new(&preset::DEMO, Topology::new(2))?;
    /// assert_eq!(m.sysfs_read("online")?, "0-1\n");
    /// assert_eq!(m.sysfs_read("/sys/devices/system/cpu/cpu1/hotplug/state")?, "99\n");
    /// assert_eq!(m.sysfs_read("cpu7/hotplug/state"), Err(Errno::ENOENT));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn sysfs_read(&self, path: &str) -> Result<String, Errno> {
        self.read_op(|hp| hp.sysfs_read(path))?
    }

    /// [`Hotplug::sysfs_write`] (a hotplug operation: it may change the online CPUs).
    ///
    /// # Errors
    ///
    /// As [`Hotplug::sysfs_write`]; `EDEADLK`/`EIO` as [`Machine::with`].
    ///
    /// # Examples
    ///
    /// ```
    /// use cpuhp::{preset, sim::Machine, Errno, Topology};
    ///
    /// let m = Machine::new(&preset::DEMO, Topology::new(2))?;
    /// m.sysfs_write("cpu1/hotplug/target", "0")?;
    /// assert_eq!(m.sysfs_read("online")?, "0\n");
    /// assert_eq!(m.sysfs_write("online", "0-1"), Err(Errno::EACCES)); // read-only
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn sysfs_write(&self, path: &str, value: &str) -> Result<(), Errno> {
        if crate::features::sysfs::is_smt_control(path) {
            // Many CPUs, one hotplug operation each (see `set_smt_control`).
            let control = self.write_op(|hp| hp.smt_control_value(value))??;
            return self.set_smt_control(control).map_err(Errno::from);
        }
        self.write_op(|hp| hp.sysfs_write(path, value))?
    }

    /// [`Hotplug::cpu_status`].
    ///
    /// # Errors
    ///
    /// [`ErrorKind::WouldDeadlock`]/[`ErrorKind::Poisoned`].
    ///
    /// # Examples
    ///
    /// ```
    /// use cpuhp::{preset, sim::Machine, CpuId, StateId, Topology};
    ///
    /// let m = Machine::new(&preset::DEMO, Topology::new(2))?;
    /// m.cpu_down(CpuId(1), StateId(62))?;
    /// let st = m.cpu_status(CpuId(1))?.unwrap();
    /// assert_eq!((st.state, st.target), (StateId(62), StateId(62)));
    /// assert_eq!(m.cpu_status(CpuId(5))?, None);
    /// # Ok::<(), cpuhp::Error>(())
    /// ```
    pub fn cpu_status(&self, cpu: CpuId) -> Result<Option<CpuStatus>, Error> {
        self.read_op(|hp| hp.cpu_status(cpu))
    }

    /// The online mask.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::WouldDeadlock`]/[`ErrorKind::Poisoned`].
    ///
    /// # Examples
    ///
    /// ```
    /// use cpuhp::{preset, sim::Machine, CpuId, StateId, Topology};
    ///
    /// let m = Machine::new(&preset::DEMO, Topology::new(3))?;
    /// m.cpu_down(CpuId(1), StateId::OFFLINE)?;
    /// let online = m.online_mask()?; // a copy: it does not follow later changes
    /// assert_eq!(online.to_string(), "0,2");
    /// assert_eq!(online.weight(), 2);
    /// # Ok::<(), cpuhp::Error>(())
    /// ```
    pub fn online_mask(&self) -> Result<CpuMask, Error> {
        self.read_op(|hp| hp.online_mask().clone())
    }

    /// [`Hotplug::enable_cpu_notifiers`].
    ///
    /// # Errors
    ///
    /// As [`Hotplug::enable_cpu_notifiers`], plus [`ErrorKind::WouldDeadlock`]/[`ErrorKind::Poisoned`].
    ///
    /// # Examples
    ///
    /// ```
    /// use cpuhp::{preset, sim::Machine, ErrorKind, Topology};
    ///
    /// let m = Machine::new(&preset::DEMO, Topology::new(2))?;
    /// m.enable_cpu_notifiers(None)?;
    /// assert!(m.with(|hp| hp.cpu_notifiers_enabled())?);
    /// assert_eq!(m.enable_cpu_notifiers(None).unwrap_err().kind(), ErrorKind::CpuNotifiers); // only once
    /// # Ok::<(), cpuhp::Error>(())
    /// ```
    pub fn enable_cpu_notifiers(&self, slots: Option<LegacySlots>) -> Result<(), Error> {
        self.read_op(|hp| hp.enable_cpu_notifiers(slots))?
    }

    /// [`Hotplug::register_cpu_notifier`] (under the machine lock: Linux's
    /// `cpu_maps_update_begin`).
    ///
    /// # Errors
    ///
    /// As [`Hotplug::register_cpu_notifier`], plus [`ErrorKind::WouldDeadlock`]/[`ErrorKind::Poisoned`].
    ///
    /// # Examples
    ///
    /// ```
    /// use std::sync::Mutex;
    /// use cpuhp::legacy::CpuAction;
    /// use cpuhp::{preset, sim::Machine, CpuId, StateId, Topology};
    /// use notifier::{FnBlock, NotifyResult};
    ///
    /// static LOG: Mutex<Vec<String>> = Mutex::new(Vec::new());
    /// static NB: FnBlock<CpuAction, CpuId> = FnBlock::new(|action, cpu| {
    ///     LOG.lock().unwrap().push(format!("{action} {cpu}"));
    ///     NotifyResult::OK
    /// }, 0);
    ///
    /// let m = Machine::new(&preset::DEMO, Topology::new(2))?;
    /// m.enable_cpu_notifiers(None)?;
    /// m.register_cpu_notifier(&NB)?;
    /// m.cpu_down(CpuId(1), StateId::OFFLINE)?;
    /// assert_eq!(*LOG.lock().unwrap(), ["CPU_DOWN_PREPARE 1", "CPU_DYING 1", "CPU_DEAD 1", "CPU_POST_DEAD 1"]);
    /// # Ok::<(), cpuhp::Error>(())
    /// ```
    pub fn register_cpu_notifier(
        &self,
        block: impl Into<crate::legacy::CpuNotifierBlock>,
    ) -> Result<(), Error> {
        self.read_op(|hp| hp.register_cpu_notifier(block))?
    }

    /// [`Hotplug::register_cpu_notifier_replay`].
    ///
    /// # Errors
    ///
    /// As [`Hotplug::register_cpu_notifier_replay`], plus [`ErrorKind::WouldDeadlock`]/[`ErrorKind::Poisoned`].
    ///
    /// # Examples
    ///
    /// ```
    /// use std::sync::Mutex;
    /// use cpuhp::legacy::{CpuAction, CpuEvent};
    /// use cpuhp::{preset, sim::Machine, CpuId, Errno, Topology};
    /// use notifier::{FnBlock, NotifyResult};
    ///
    /// static LOG: Mutex<Vec<String>> = Mutex::new(Vec::new());
    /// static NB: FnBlock<CpuAction, CpuId> = FnBlock::new(|action, cpu| {
    ///     LOG.lock().unwrap().push(format!("{action} {cpu}"));
    ///     let veto = action.event == CpuEvent::UpPrepare && cpu.0 == 1;
    ///     if veto { NotifyResult::from_error(Errno::ENOMEM) } else { NotifyResult::OK }
    /// }, 0);
    ///
    /// let m = Machine::new(&preset::DEMO, Topology::new(2))?;
    /// m.enable_cpu_notifiers(None)?;
    /// assert_eq!(m.register_cpu_notifier_replay(&NB).unwrap_err().errno(), Errno::ENOMEM);
    /// // CPU 0's replay is undone; the notifier is not registered.
    /// assert_eq!(*LOG.lock().unwrap(), ["CPU_UP_PREPARE 0", "CPU_ONLINE 0", "CPU_UP_PREPARE 1", "CPU_DOWN_PREPARE 0", "CPU_DEAD 0"]);
    /// assert_eq!(m.with(|hp| hp.cpu_notifiers())?, 0);
    /// # Ok::<(), cpuhp::Error>(())
    /// ```
    pub fn register_cpu_notifier_replay(
        &self,
        block: impl Into<crate::legacy::CpuNotifierBlock>,
    ) -> Result<(), Error> {
        self.read_op(|hp| hp.register_cpu_notifier_replay(block))?
    }

    /// [`Hotplug::unregister_cpu_notifier`].
    ///
    /// # Errors
    ///
    /// As [`Hotplug::unregister_cpu_notifier`], plus [`ErrorKind::WouldDeadlock`]/[`ErrorKind::Poisoned`].
    ///
    /// # Examples
    ///
    /// ```
    /// use cpuhp::legacy::CpuAction;
    /// use cpuhp::{preset, sim::Machine, CpuId, ErrorKind, Topology};
    /// use notifier::{FnBlock, NotifyResult};
    ///
    /// static NB: FnBlock<CpuAction, CpuId> = FnBlock::new(|_, _| NotifyResult::OK, 0);
    /// let m = Machine::new(&preset::DEMO, Topology::new(2))?;
    /// m.enable_cpu_notifiers(None)?;
    /// m.register_cpu_notifier(&NB)?;
    /// m.unregister_cpu_notifier(&NB)?;
    /// assert_eq!(m.with(|hp| hp.cpu_notifiers())?, 0);
    /// assert_eq!(m.unregister_cpu_notifier(&NB).unwrap_err().kind(), ErrorKind::NotRegistered);
    /// # Ok::<(), cpuhp::Error>(())
    /// ```
    pub fn unregister_cpu_notifier<F>(
        &self,
        block: &notifier::NotifierBlock<F>,
    ) -> Result<(), Error> {
        self.read_op(|hp| hp.unregister_cpu_notifier(block))?
    }

    /// [`Hotplug::cpu_hotplug_disable`].
    ///
    /// # Errors
    ///
    /// [`ErrorKind::WouldDeadlock`]/[`ErrorKind::Poisoned`].
    ///
    /// # Examples
    ///
    /// ```
    /// use cpuhp::{preset, sim::Machine, CpuId, ErrorKind, StateId, Topology};
    ///
    /// let m = Machine::new(&preset::DEMO, Topology::new(2))?;
    /// m.cpu_hotplug_disable()?;
    /// assert_eq!(m.cpu_down(CpuId(1), StateId::OFFLINE).unwrap_err().kind(), ErrorKind::Disabled);
    /// m.cpu_hotplug_enable()?;
    /// m.cpu_down(CpuId(1), StateId::OFFLINE)?;
    /// # Ok::<(), cpuhp::Error>(())
    /// ```
    pub fn cpu_hotplug_disable(&self) -> Result<(), Error> {
        self.maps_op(|hp| hp.cpu_hotplug_disable())
    }

    /// [`Hotplug::cpu_hotplug_enable`].
    ///
    /// # Errors
    ///
    /// As [`Hotplug::cpu_hotplug_enable`], plus [`ErrorKind::WouldDeadlock`]/[`ErrorKind::Poisoned`].
    ///
    /// # Examples
    ///
    /// ```
    /// use cpuhp::{preset, sim::Machine, ErrorKind, Topology};
    ///
    /// let m = Machine::new(&preset::DEMO, Topology::new(2))?;
    /// assert_eq!(m.cpu_hotplug_enable().unwrap_err().kind(), ErrorKind::Unbalanced);
    /// m.cpu_hotplug_disable()?;
    /// m.cpu_hotplug_enable()?;
    /// assert!(!m.with(|hp| hp.cpu_hotplug_disabled())?);
    /// # Ok::<(), cpuhp::Error>(())
    /// ```
    pub fn cpu_hotplug_enable(&self) -> Result<(), Error> {
        self.maps_op(|hp| hp.cpu_hotplug_enable())?
    }

    /// [`Hotplug::freeze_secondary_cpus`].
    ///
    /// # Errors
    ///
    /// As [`Hotplug::freeze_secondary_cpus`], plus those of [`Machine::with`].
    ///
    /// # Examples
    ///
    /// ```
    /// use cpuhp::{preset, sim::Machine, CpuId, ErrorKind, StateId, Topology};
    ///
    /// let m = Machine::new(&preset::DEMO, Topology::new(3))?;
    /// m.freeze_secondary_cpus(None)?;
    /// assert_eq!(m.online_mask()?.to_string(), "0");
    /// // Hotplug stays disabled until the thaw.
    /// assert_eq!(m.cpu_up(CpuId(1), StateId(99)).unwrap_err().kind(), ErrorKind::Disabled);
    /// m.thaw_secondary_cpus()?;
    /// assert_eq!(m.online_mask()?.to_string(), "0-2");
    /// # Ok::<(), cpuhp::Error>(())
    /// ```
    pub fn freeze_secondary_cpus(&self, primary: Option<CpuId>) -> Result<(), Error> {
        // One hotplug operation per CPU, as Linux's `_cpu_down` per CPU: the write side is
        // released, and `CPU_POST_DEAD_FROZEN` delivered, before the next CPU goes down. Hotplug
        // is disabled in between, so no other operation gets in.
        self.check_may_serialise()?;
        let _add_remove = self.lock_add_remove();
        let cpus = self.write_locked(|hp| hp.freeze_begin(primary))??;
        let mut result = Ok(());
        for cpu in cpus {
            result = self.write_locked(|hp| hp.freeze_one(cpu)).and_then(|r| r);
            if result.is_err() {
                break;
            }
        }
        self.write_locked(|hp| hp.freeze_end())?;
        result
    }

    /// [`Hotplug::thaw_secondary_cpus`].
    ///
    /// # Errors
    ///
    /// As [`Hotplug::thaw_secondary_cpus`], plus those of [`Machine::with`].
    ///
    /// # Examples
    ///
    /// ```
    /// use std::sync::atomic::{AtomicU32, Ordering::Relaxed};
    /// use cpuhp::{preset, sim::Machine, ErrorKind, Online, Slot, Topology};
    ///
    /// static RESUMED: AtomicU32 = AtomicU32::new(0);
    /// let m = Machine::new(&preset::DEMO, Topology::new(3))?;
    /// let cbs = Online::new().startup(|_| { if cpuhp::sim::tasks_frozen() { RESUMED.fetch_add(1, Relaxed); } Ok(()) });
    /// m.setup_state(Slot::OnlineDyn, "x", cbs)?;
    /// assert_eq!(m.thaw_secondary_cpus().unwrap_err().kind(), ErrorKind::NotFrozen);
    /// m.freeze_secondary_cpus(None)?;
    /// m.thaw_secondary_cpus()?;
    /// assert_eq!(RESUMED.load(Relaxed), 2); // CPUs 1 and 2 came back with tasks frozen
    /// # Ok::<(), cpuhp::Error>(())
    /// ```
    pub fn thaw_secondary_cpus(&self) -> Result<(), Error> {
        self.write_op(|hp| hp.thaw_secondary_cpus())?
    }

    /// [`Hotplug::set_wakeup_pending`].
    ///
    /// # Errors
    ///
    /// [`ErrorKind::WouldDeadlock`]/[`ErrorKind::Poisoned`].
    ///
    /// # Examples
    ///
    /// ```
    /// use cpuhp::{preset, sim::Machine, ErrorKind, Topology};
    ///
    /// let m = Machine::new(&preset::DEMO, Topology::new(2))?;
    /// m.set_wakeup_pending(true)?;
    /// assert_eq!(m.freeze_secondary_cpus(None).unwrap_err().kind(), ErrorKind::WakeupPending);
    /// m.thaw_secondary_cpus()?; // a failed freeze is thawed too
    /// m.set_wakeup_pending(false)?;
    /// m.freeze_secondary_cpus(None)?;
    /// assert_eq!(m.online_mask()?.to_string(), "0");
    /// # Ok::<(), cpuhp::Error>(())
    /// ```
    pub fn set_wakeup_pending(&self, pending: bool) -> Result<(), Error> {
        self.read_op(|hp| hp.set_wakeup_pending(pending))
    }

    /// [`Hotplug::inject_wakeup`].
    ///
    /// # Errors
    ///
    /// [`ErrorKind::WouldDeadlock`]/[`ErrorKind::Poisoned`].
    ///
    /// # Examples
    ///
    /// ```
    /// use cpuhp::{preset, sim::Machine, Errno, Topology};
    ///
    /// let m = Machine::new(&preset::DEMO, Topology::new(3))?;
    /// m.inject_wakeup(1)?;
    /// assert_eq!(m.freeze_secondary_cpus(None).unwrap_err().errno(), Errno::EBUSY);
    /// assert_eq!(m.online_mask()?.to_string(), "0,2"); // CPU 1 went down, then the wakeup came
    /// m.thaw_secondary_cpus()?;
    /// assert_eq!(m.online_mask()?.to_string(), "0-2");
    /// # Ok::<(), cpuhp::Error>(())
    /// ```
    pub fn inject_wakeup(&self, after_cpus: u32) -> Result<(), Error> {
        self.read_op(|hp| hp.inject_wakeup(after_cpus))
    }

    /// [`Hotplug::set_smt_control`].
    ///
    /// # Errors
    ///
    /// As [`Hotplug::set_smt_control`], plus those of [`Machine::with`].
    ///
    /// # Examples
    ///
    /// ```
    /// use cpuhp::{preset, sim::Machine, CpuId, ErrorKind, SmtControl, StateId, Topology};
    ///
    /// let m = Machine::new(&preset::DEMO, Topology::new(2).with_threads_per_core(2))?;
    /// m.set_smt_control(SmtControl::Off)?;
    /// assert_eq!(m.online_mask()?.to_string(), "0");
    /// assert_eq!(m.cpu_up(CpuId(1), StateId(99)).unwrap_err().kind(), ErrorKind::SmtForbidden);
    /// m.set_smt_control(SmtControl::On)?;
    /// assert_eq!(m.online_mask()?.to_string(), "0-1");
    /// # Ok::<(), cpuhp::Error>(())
    /// ```
    pub fn set_smt_control(&self, control: SmtControl) -> Result<(), Error> {
        self.check_may_serialise()?;
        let _add_remove = self.lock_add_remove();
        if !self.write_locked(|hp| hp.smt_disabling(control))?? {
            return self.write_locked(|hp| hp.set_smt_control(control))?;
        }
        // One hotplug operation per sibling, as Linux's `cpu_down_maps_locked` per CPU: the
        // write side is released, and CPU_POST_DEAD delivered, before the next goes down.
        for cpu in self.write_locked(|hp| hp.smt_siblings_online())? {
            self.write_locked(|hp| hp.smt_disable_one(cpu))??;
        }
        self.write_locked(|hp| hp.smt_disabled(control))
    }

    /// [`Hotplug::bringup_cpus_parallel`].
    ///
    /// # Errors
    ///
    /// Those of [`Machine::with`]; each CPU's outcome is in the result.
    ///
    /// # Examples
    ///
    /// ```
    /// use cpuhp::{preset, sim::Machine, CpuId, StateId, Topology};
    ///
    /// let m = Machine::new(&preset::DEMO, Topology::new(3))?;
    /// m.cpu_down(CpuId(1), StateId::OFFLINE)?;
    /// m.cpu_down(CpuId(2), StateId::OFFLINE)?;
    /// let outcomes = m.bringup_cpus_parallel(&[CpuId(1), CpuId(2)])?;
    /// assert!(outcomes.iter().all(|(_, r)| r.is_ok()));
    /// assert_eq!(m.online_mask()?.to_string(), "0-2");
    /// # Ok::<(), cpuhp::Error>(())
    /// ```
    pub fn bringup_cpus_parallel(&self, cpus: &[CpuId]) -> Result<crate::BringupOutcomes, Error> {
        self.write_op(|hp| hp.bringup_cpus_parallel(cpus))
    }

    /// How long a simulated CPU takes to boot once kicked (default: no time).
    ///
    /// # Errors
    ///
    /// [`ErrorKind::WouldDeadlock`]/[`ErrorKind::Poisoned`].
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::{Duration, Instant};
    /// use cpuhp::{preset, sim::Machine, CpuId, StateId, Topology};
    ///
    /// let m = Machine::new(&preset::DEMO, Topology::new(2))?;
    /// m.cpu_down(CpuId(1), StateId::OFFLINE)?;
    /// m.set_boot_delay(Duration::from_millis(20))?;
    /// let start = Instant::now();
    /// m.cpu_up(CpuId(1), StateId(99))?; // waits for the CPU to boot
    /// assert!(start.elapsed() >= Duration::from_millis(20));
    /// # Ok::<(), cpuhp::Error>(())
    /// ```
    pub fn set_boot_delay(&self, delay: Duration) -> Result<(), Error> {
        self.read_op(|hp| hp.platform().boot().delay = delay)
    }

    /// [`Hotplug::inject`]: a callback failure.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::WouldDeadlock`]/[`ErrorKind::Poisoned`].
    ///
    /// # Examples
    ///
    /// ```
    /// use cpuhp::{preset, sim::Machine, CpuId, Errno, Fault, Online, Slot, StateId, Topology};
    ///
    /// let m = Machine::new(&preset::DEMO, Topology::new(2))?;
    /// let s = m.setup_state(Slot::OnlineDyn, "x", Online::new().teardown(|_| Ok(())))?;
    /// m.inject(Fault::teardown(s, Errno::EBUSY).once())?;
    /// assert_eq!(m.cpu_down(CpuId(1), StateId::OFFLINE).unwrap_err().errno(), Errno::EBUSY);
    /// m.cpu_down(CpuId(1), StateId::OFFLINE)?; // once: gone
    /// # Ok::<(), cpuhp::Error>(())
    /// ```
    pub fn inject(&self, fault: crate::Fault) -> Result<(), Error> {
        self.read_op(|hp| hp.inject(fault))
    }

    /// Sends every trace event to `tracer` (replacing any previous one), from whichever thread
    /// the event happens on. Should the tracer panic, that event is lost to it; the operation
    /// goes on.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::WouldDeadlock`]/[`ErrorKind::Poisoned`].
    ///
    /// # Examples
    ///
    /// ```
    /// use std::sync::{Arc, Mutex};
    /// use cpuhp::{preset, sim::Machine, CpuId, StateId, Topology};
    ///
    /// let m = Machine::new(&preset::LINUX_6_1, Topology::new(2))?;
    /// let lines = Arc::new(Mutex::new(Vec::new()));
    /// let sink = lines.clone();
    /// m.set_tracer(move |ev| sink.lock().unwrap().push(ev.to_string()))?;
    /// m.cpu_down(CpuId(1), StateId::OFFLINE)?;
    /// assert_eq!(lines.lock().unwrap()[0], "cpuhp_enter: cpu: 0001 target: 153 step: 236 (cpuhp_kick_ap_work)");
    /// # Ok::<(), cpuhp::Error>(())
    /// ```
    pub fn set_tracer(
        &self,
        tracer: impl Fn(&TraceEvent<'_>) + Send + Sync + 'static,
    ) -> Result<(), Error> {
        self.read_op(|hp| hp.platform_mut().tracer = Some(Arc::new(tracer)))
    }

    /// Stops tracing.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::WouldDeadlock`]/[`ErrorKind::Poisoned`].
    ///
    /// # Examples
    ///
    /// ```
    /// use std::sync::atomic::{AtomicUsize, Ordering::Relaxed};
    /// use cpuhp::{preset, sim::Machine, CpuId, StateId, Topology};
    ///
    /// static EVENTS: AtomicUsize = AtomicUsize::new(0);
    /// let m = Machine::new(&preset::DEMO, Topology::new(2))?;
    /// m.set_tracer(|_| { EVENTS.fetch_add(1, Relaxed); })?;
    /// m.cpu_down(CpuId(1), StateId::OFFLINE)?;
    /// let seen = EVENTS.load(Relaxed);
    /// assert!(seen > 0);
    /// m.clear_tracer()?;
    /// m.cpu_up(CpuId(1), StateId(99))?;
    /// assert_eq!(EVENTS.load(Relaxed), seen); // nothing since
    /// # Ok::<(), cpuhp::Error>(())
    /// ```
    pub fn clear_tracer(&self) -> Result<(), Error> {
        self.read_op(|hp| hp.platform_mut().tracer = None)
    }

    /// Makes the next boot (or kick) of `cpu` fail with `errno` before it runs anything (a
    /// one-shot platform failure: the CPU did not come up).
    ///
    /// # Errors
    ///
    /// [`ErrorKind::WouldDeadlock`]/[`ErrorKind::Poisoned`].
    ///
    /// # Examples
    ///
    /// ```
    /// use cpuhp::{preset, sim::Machine, CpuId, Errno, StateId, Topology};
    ///
    /// let m = Machine::new(&preset::DEMO, Topology::new(2))?;
    /// m.cpu_down(CpuId(1), StateId::OFFLINE)?;
    /// m.inject_start_failure(CpuId(1), Errno::EIO)?;
    /// assert_eq!(m.cpu_up(CpuId(1), StateId(99)).unwrap_err().errno(), Errno::EIO);
    /// assert_eq!(m.online_mask()?.to_string(), "0"); // rolled back
    /// m.cpu_up(CpuId(1), StateId(99))?; // one shot
    /// # Ok::<(), cpuhp::Error>(())
    /// ```
    pub fn inject_start_failure(&self, cpu: CpuId, errno: Errno) -> Result<(), Error> {
        self.read_op(|hp| hp.platform().boot().start_faults.push((cpu, errno)))
    }

    /// Makes the next stop of `cpu` fail with `errno` (the CPU refuses to die).
    ///
    /// # Errors
    ///
    /// [`ErrorKind::WouldDeadlock`]/[`ErrorKind::Poisoned`].
    ///
    /// # Examples
    ///
    /// ```
    /// use cpuhp::{preset, sim::Machine, CpuId, Errno, StateId, Topology};
    ///
    /// let m = Machine::new(&preset::DEMO, Topology::new(2))?;
    /// m.inject_stop_failure(CpuId(1), Errno::EBUSY)?;
    /// assert_eq!(m.cpu_down(CpuId(1), StateId::OFFLINE).unwrap_err().errno(), Errno::EBUSY);
    /// assert_eq!(m.online_mask()?.to_string(), "0-1"); // it refused to die: still up
    /// m.cpu_down(CpuId(1), StateId::OFFLINE)?; // one shot
    /// # Ok::<(), cpuhp::Error>(())
    /// ```
    pub fn inject_stop_failure(&self, cpu: CpuId, errno: Errno) -> Result<(), Error> {
        self.read_op(|hp| hp.platform().boot().stop_faults.push((cpu, errno)))
    }
}
