//! One simulated CPU: an OS thread that runs the jobs it is handed, one at a time.
//!
//! A hand-off is a pointer in a mailbox and two flags: the submitter posts the job and wakes the
//! CPU; the CPU runs it, posts "done" and wakes the submitter. A mailbox has one submitter at a
//! time: [`CpuThread::run`] holds the CPU's submit lock for the whole hand-off, so two threads
//! handing work to the same CPU at once queue instead of overwriting each other's job. Both sides spin briefly before
//! parking — hand-offs come in bursts (a transition is two to four of them), and a parked thread
//! costs a futex wake-up (tens of microseconds on a VM) where a spinning one costs a cache-line
//! transfer. Spinning is rationed to as many threads as there are cores, and a CPU idle for
//! longer than its spin parks, so a thousand simulated CPUs on two cores do not fight for them.

#![allow(unsafe_code)]

use std::any::Any;
use std::cell::{Cell, UnsafeCell};
use std::panic::{AssertUnwindSafe, catch_unwind, resume_unwind};
use std::sync::atomic::{
    AtomicIsize, AtomicU8,
    Ordering::{Acquire, Relaxed, Release},
};
use std::sync::{Arc, Mutex};
use std::thread::{JoinHandle, Thread};
use std::time::{Duration, Instant};

use crate::CpuId;

/// How long a submitter spins for its job to finish before parking.
const SUBMITTER_SPIN: Duration = Duration::from_micros(50);
/// How long an idle CPU spins for its next job before parking: a transition hands one CPU two jobs
/// back to back (stop, then boot; or a thread walk, then a stop).
const WORKER_SPIN: Duration = Duration::from_micros(20);

/// Spinning threads allowed at once: as many as there are cores — the submitter and the CPU it
/// hands to, on two — so that spinners never crowd out the thread they wait for (a machine of a
/// thousand simulated CPUs on two cores must not spin a thousand).
static SPIN_BUDGET: AtomicIsize = AtomicIsize::new(-1);

fn spin_budget() -> &'static AtomicIsize {
    if SPIN_BUDGET.load(Relaxed) < 0 {
        let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
        let _ = SPIN_BUDGET.compare_exchange(-1, cores.max(1) as isize, Relaxed, Relaxed);
    }
    &SPIN_BUDGET
}

const IDLE: u8 = 0;
const JOB: u8 = 1;
const DONE: u8 = 2;
const EXIT: u8 = 3;

/// A job: a closure borrowed from the submitting thread, which waits until it has run, and the
/// submitter's context (which machine operation it belongs to, whether tasks are frozen).
#[derive(Clone, Copy)]
struct Job {
    f: *mut (dyn FnMut() + Send + 'static),
    atomic: bool,
    ctx: OpContext,
    frozen: bool,
}

/// What a thread is doing for a machine, for deadlock detection (see `locks.rs`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(super) struct OpContext {
    /// The machine (by id); 0 for none.
    pub(super) machine: u64,
    /// Which hotplug lock the operation holds.
    pub(super) held: Held,
}

/// The hotplug lock held by the operation a thread works for.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(super) enum Held {
    /// None (and no operation).
    #[default]
    None,
    /// An operation holding the read side (installing states, reading).
    Read,
    /// A hotplug operation holding the write side.
    Write,
    /// A hotplug operation after releasing the write side (`CPU_POST_DEAD`).
    PostDead,
}

struct Mailbox {
    /// `IDLE` → `JOB` (submitter, Release: publishes `job`) → `DONE` (CPU, Release: publishes
    /// `panic` and everything the job did) → `IDLE` (submitter). `EXIT` ends the thread.
    state: AtomicU8,
    /// Written by the submitter before `JOB`, read by the CPU after seeing `JOB` (Acquire).
    job: UnsafeCell<Option<Job>>,
    /// Written by the CPU before `DONE`, taken by the submitter after seeing `DONE` (Acquire).
    panic: UnsafeCell<Option<Box<dyn Any + Send>>>,
    /// Who to wake when the job is done.
    submitter: Mutex<Option<Thread>>,
}

// SAFETY: a mailbox is reachable only from its `CpuThread` (private to this module) and from the
// CPU thread's `serve`. `job` and `panic` are accessed only by the side that owns them in the
// `state` protocol above (one writer, then one reader after an Acquire load of the Release store
// that follows the write). The protocol has one submitter: `CpuThread::run` holds `submit` from
// its write of `job` until it has reset the mailbox to IDLE, however many threads call it (a
// safe caller reaches `run` through `Platform::run_on_ap` on a shared `SimPlatform`). The job
// pointer's closure is `Send`.
unsafe impl Sync for Mailbox {}
// SAFETY: as above; nothing in the mailbox is tied to a thread.
unsafe impl Send for Mailbox {}

thread_local! {
    /// The simulated CPU this thread is, if it is one.
    pub(super) static CURRENT_CPU: Cell<Option<CpuId>> = const { Cell::new(None) };
    /// The simulated CPU runs with interrupts off (STARTING/DYING callbacks).
    pub(super) static IRQS_OFF: Cell<bool> = const { Cell::new(false) };
    /// The machine operation this thread works for.
    pub(super) static OP: Cell<OpContext> = const { Cell::new(OpContext { machine: 0, held: Held::None }) };
    /// The current operation runs with tasks frozen.
    pub(super) static TASKS_FROZEN: Cell<bool> = const { Cell::new(false) };
}

/// Spins (if the spin budget allows, for at most `spin`), then parks, until `state` satisfies
/// `want`.
fn wait_for(state: &AtomicU8, spin: Duration, want: impl Fn(u8) -> bool) -> u8 {
    let budget = spin_budget();
    if budget.fetch_sub(1, Acquire) > 0 {
        let start = Instant::now();
        let mut n = 0u32;
        let seen = loop {
            let s = state.load(Acquire);
            if want(s) {
                break Some(s);
            }
            std::hint::spin_loop();
            n = n.wrapping_add(1);
            if n % 64 == 0 && start.elapsed() > spin {
                break None;
            }
        };
        budget.fetch_add(1, Release);
        if let Some(s) = seen {
            return s;
        }
    } else {
        budget.fetch_add(1, Release);
    }
    loop {
        let s = state.load(Acquire);
        if want(s) {
            return s;
        }
        // A wake-up that came before we parked is not lost: `unpark` leaves a token.
        std::thread::park();
    }
}

/// A simulated CPU's thread.
pub(super) struct CpuThread {
    cpu: CpuId,
    mailbox: Arc<Mailbox>,
    /// Held by the one submitter whose hand-off is under way: the mailbox protocol below has a
    /// single submitter, and this lock is what makes that true whoever calls [`CpuThread::run`].
    submit: Mutex<()>,
    handle: Option<JoinHandle<()>>,
}

impl CpuThread {
    pub(super) fn spawn(cpu: CpuId) -> std::io::Result<CpuThread> {
        let mailbox = Arc::new(Mailbox {
            state: AtomicU8::new(IDLE),
            job: UnsafeCell::new(None),
            panic: UnsafeCell::new(None),
            submitter: Mutex::new(None),
        });
        let mb = mailbox.clone();
        let handle = std::thread::Builder::new()
            .name(format!("cpuhp/{cpu}"))
            .stack_size(256 * 1024)
            .spawn(move || serve(cpu, &mb))?;
        Ok(CpuThread {
            cpu,
            mailbox,
            submit: Mutex::new(()),
            handle: Some(handle),
        })
    }

    /// Runs `job` on this CPU (`atomic`: with interrupts off) and waits for it; a panic in the
    /// job is resumed here.
    pub(super) fn run(&self, job: &mut (dyn FnMut() + Send), atomic: bool) {
        if CURRENT_CPU.get() == Some(self.cpu) {
            // Already on this CPU: handing the job to ourselves would wait forever.
            let saved = IRQS_OFF.replace(atomic || IRQS_OFF.get());
            job();
            IRQS_OFF.set(saved);
            return;
        }
        // One submitter at a time (the mailbox protocol's precondition). Not poisoned in any way
        // that matters: it guards no data, only whose turn it is, and a submitter that unwinds
        // (the job panicked) has already seen DONE and reset the mailbox to IDLE.
        let _turn = self.submit.lock().unwrap_or_else(|e| e.into_inner());
        let ptr: *mut (dyn FnMut() + Send + '_) = job;
        // SAFETY: only the lifetime is erased. The CPU thread dereferences the pointer only
        // between seeing `JOB` and posting `DONE`, and we return (or unwind) only after seeing
        // `DONE` below, so `job` outlives every use.
        let ptr: *mut (dyn FnMut() + Send + 'static) = unsafe { std::mem::transmute(ptr) };
        let mb = &*self.mailbox;
        *mb.submitter.lock().unwrap_or_else(|e| e.into_inner()) = Some(std::thread::current());
        // SAFETY: we hold `submit`, so no other submitter is between its write of `job` and its
        // reset to IDLE; the last hand-off ended with IDLE, so the CPU thread does not touch
        // `job` until it sees the JOB we store below.
        unsafe {
            *mb.job.get() = Some(Job {
                f: ptr,
                atomic,
                ctx: OP.get(),
                frozen: TASKS_FROZEN.get(),
            })
        };
        mb.state.store(JOB, Release);
        if let Some(h) = &self.handle {
            h.thread().unpark();
        }
        wait_for(&mb.state, SUBMITTER_SPIN, |s| s == DONE);
        // SAFETY: DONE seen with Acquire: the CPU thread wrote `panic` before its Release store
        // and will not touch it again until the next JOB.
        let panic = unsafe { (*mb.panic.get()).take() };
        // Relaxed: the next submitter acquires `submit`, which orders this store before its own
        // use of the mailbox; the CPU thread only waits for JOB or EXIT.
        mb.state.store(IDLE, Relaxed);
        if let Some(payload) = panic {
            resume_unwind(payload);
        }
    }
}

fn serve(cpu: CpuId, mb: &Mailbox) {
    CURRENT_CPU.set(Some(cpu));
    // A new CPU sleeps until its first job: the machine spawns every CPU before it boots the
    // first, so spinning now would only take a core from the thread spawning the others.
    let mut spin = Duration::ZERO;
    loop {
        if wait_for(&mb.state, spin, |s| s == JOB || s == EXIT) == EXIT {
            return;
        }
        spin = WORKER_SPIN;
        // SAFETY: JOB seen with Acquire: the submitter wrote `job` before its Release store and
        // waits, without touching the mailbox, until we post DONE.
        let Some(job) = (unsafe { (*mb.job.get()).take() }) else {
            continue;
        };
        IRQS_OFF.set(job.atomic);
        OP.set(job.ctx);
        TASKS_FROZEN.set(job.frozen);
        // SAFETY: the submitter waits in `CpuThread::run` until we post DONE, so the closure is
        // alive and used by nobody else.
        let result = catch_unwind(AssertUnwindSafe(|| unsafe { (*job.f)() }));
        OP.set(OpContext::default());
        TASKS_FROZEN.set(false);
        IRQS_OFF.set(false);
        // SAFETY: still between JOB and DONE: `panic` is ours to write.
        unsafe { *mb.panic.get() = result.err() };
        let submitter = mb
            .submitter
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .take();
        mb.state.store(DONE, Release);
        if let Some(t) = submitter {
            t.unpark();
        }
    }
}

impl Drop for CpuThread {
    fn drop(&mut self) {
        // Only dropped with the platform, when no job can be under way.
        self.mailbox.state.store(EXIT, Release);
        if let Some(h) = self.handle.take() {
            h.thread().unpark();
            let _ = h.join();
        }
    }
}
