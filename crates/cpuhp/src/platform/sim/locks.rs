//! The [`Machine`]'s locks, and how a thread knows what it holds.
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

use std::cell::RefCell;
use std::fmt;
use std::marker::PhantomData;
use std::sync::MutexGuard;
use std::sync::atomic::{AtomicUsize, Ordering};

use parking_lot::lock_api;

use super::context::irqs_disabled;
use super::cpu_thread::{Held, OP, OpContext, TASKS_FROZEN};
use super::{Machine, SimPlatform};
use crate::{Error, ErrorKind, Hotplug};

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
pub(super) struct OpMark(OpContext);

impl OpMark {
    pub(super) fn enter(machine: u64, held: Held) -> OpMark {
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

impl Machine {
    pub(super) fn check_not_inside(&self) -> Result<(), Error> {
        if OP.get().machine == self.id {
            // A callback (or CPU_POST_DEAD notifier) of this machine calling back into it.
            return Err(Error::new(ErrorKind::WouldDeadlock));
        }
        Ok(())
    }

    pub(super) fn lock_hp(&self) -> Result<MutexGuard<'_, Hotplug<SimPlatform>>, Error> {
        self.hp.lock().map_err(|_| Error::new(ErrorKind::Poisoned))
    }

    /// Checks that the calling thread may wait for the add/remove lock: not from inside this
    /// machine's callbacks, not while holding the read side (a writer holding the add/remove
    /// lock may be waiting for it).
    pub(super) fn check_may_serialise(&self) -> Result<(), Error> {
        self.check_not_inside()?;
        if read_depth(self.id) > 0 {
            return Err(Error::new(ErrorKind::WouldDeadlock));
        }
        Ok(())
    }

    pub(super) fn lock_add_remove(&self) -> MutexGuard<'_, ()> {
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
    pub(super) fn write_op<R>(
        &self,
        f: impl FnOnce(&mut Hotplug<SimPlatform>) -> R,
    ) -> Result<R, Error> {
        self.check_may_serialise()?;
        let _add_remove = self.lock_add_remove();
        self.write_locked(f)
    }

    /// The part of a hotplug operation under the add/remove lock.
    pub(super) fn write_locked<R>(
        &self,
        f: impl FnOnce(&mut Hotplug<SimPlatform>) -> R,
    ) -> Result<R, Error> {
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
    pub(super) fn maps_op<R>(
        &self,
        f: impl FnOnce(&mut Hotplug<SimPlatform>) -> R,
    ) -> Result<R, Error> {
        self.check_may_serialise()?;
        let _add_remove = self.lock_add_remove();
        let mut hp = self.lock_hp()?;
        let _mark = OpMark::enter(self.id, Held::Read);
        Ok(f(&mut hp))
    }

    /// An operation that needs the online CPUs stable but does not change them (installing
    /// states and instances, registering notifiers, reading): the read side, then the state
    /// machine.
    pub(super) fn read_op<R>(
        &self,
        f: impl FnOnce(&mut Hotplug<SimPlatform>) -> R,
    ) -> Result<R, Error> {
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
}
