//! One simulated CPU: an OS thread that runs the jobs it is handed, one at a time.

#![allow(unsafe_code)]

use std::any::Any;
use std::cell::Cell;
use std::panic::{catch_unwind, resume_unwind, AssertUnwindSafe};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::thread::JoinHandle;

use crate::CpuId;

/// A job: a closure borrowed from the submitting thread, which waits until it has run.
struct JobPtr(*mut (dyn FnMut() + Send + 'static));

// SAFETY: the closure behind the pointer is `Send`; the pointer is only dereferenced by the CPU
// thread while the submitter blocks in `CpuThread::run` (see there).
unsafe impl Send for JobPtr {}

enum Mail {
    Idle,
    Job { job: JobPtr, atomic: bool },
    Done(Option<Box<dyn Any + Send>>),
    Exit,
}

struct Mailbox {
    mail: Mutex<Mail>,
    cv: Condvar,
}

fn lock(m: &Mutex<Mail>) -> MutexGuard<'_, Mail> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

thread_local! {
    /// The simulated CPU this thread is, if it is one.
    pub(super) static CURRENT_CPU: Cell<Option<CpuId>> = const { Cell::new(None) };
    /// The simulated CPU runs with interrupts off (STARTING/DYING callbacks).
    pub(super) static IRQS_OFF: Cell<bool> = const { Cell::new(false) };
    /// The machine (by id) this thread is running a hotplug operation or job for; 0 for none.
    pub(super) static BUSY_WITH: Cell<u64> = const { Cell::new(0) };
}

/// A simulated CPU's thread.
pub(super) struct CpuThread {
    cpu: CpuId,
    mailbox: Arc<Mailbox>,
    handle: Option<JoinHandle<()>>,
}

impl CpuThread {
    pub(super) fn spawn(cpu: CpuId, machine_id: u64) -> std::io::Result<CpuThread> {
        let mailbox = Arc::new(Mailbox {
            mail: Mutex::new(Mail::Idle),
            cv: Condvar::new(),
        });
        let mb = mailbox.clone();
        let handle = std::thread::Builder::new()
            .name(format!("cpuhp/{cpu}"))
            .stack_size(256 * 1024)
            .spawn(move || serve(cpu, machine_id, &mb))?;
        Ok(CpuThread {
            cpu,
            mailbox,
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
        let ptr: *mut (dyn FnMut() + Send + '_) = job;
        // SAFETY: only the lifetime is erased. The CPU thread dereferences the pointer only
        // between receiving it and posting `Done`, and we do not return (or unwind) before we
        // have seen `Done`: the loop below waits for it unconditionally, so `job` outlives every
        // use.
        let ptr: *mut (dyn FnMut() + Send + 'static) = unsafe { std::mem::transmute(ptr) };
        let mut mail = lock(&self.mailbox.mail);
        *mail = Mail::Job {
            job: JobPtr(ptr),
            atomic,
        };
        self.mailbox.cv.notify_all();
        let panic = loop {
            mail = self
                .mailbox
                .cv
                .wait(mail)
                .unwrap_or_else(|e| e.into_inner());
            if let Mail::Done(_) = &*mail {
                match std::mem::replace(&mut *mail, Mail::Idle) {
                    Mail::Done(p) => break p,
                    _ => unreachable!("checked above"),
                }
            }
        };
        drop(mail);
        if let Some(payload) = panic {
            resume_unwind(payload);
        }
    }
}

fn serve(cpu: CpuId, machine_id: u64, mailbox: &Mailbox) {
    CURRENT_CPU.set(Some(cpu));
    let mut mail = lock(&mailbox.mail);
    loop {
        match std::mem::replace(&mut *mail, Mail::Idle) {
            Mail::Exit => return,
            Mail::Job { job, atomic } => {
                drop(mail);
                IRQS_OFF.set(atomic);
                let busy = BUSY_WITH.replace(machine_id);
                // SAFETY: the submitter waits in `CpuThread::run` until we post `Done` below, so
                // the closure is alive and nobody else uses it.
                let result = catch_unwind(AssertUnwindSafe(|| unsafe { (*job.0)() }));
                BUSY_WITH.set(busy);
                IRQS_OFF.set(false);
                mail = lock(&mailbox.mail);
                *mail = Mail::Done(result.err());
                mailbox.cv.notify_all();
            }
            other => {
                *mail = other;
                mail = mailbox.cv.wait(mail).unwrap_or_else(|e| e.into_inner());
            }
        }
    }
}

impl Drop for CpuThread {
    fn drop(&mut self) {
        *lock(&self.mailbox.mail) = Mail::Exit;
        self.mailbox.cv.notify_all();
        if let Some(h) = self.handle.take() {
            let _ = h.join();
        }
    }
}
