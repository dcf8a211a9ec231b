//! The synchronisation primitives the lock-free code uses, imported in one place so that
//! `--cfg loom` swaps in loom's model-checked versions (as tokio's `src/loom` does).
//!
//! Run the model tests with
//! `RUSTFLAGS="--cfg loom" cargo test -p notifier --release --test loom`.

#[cfg(not(loom))]
pub(crate) use core::sync::atomic::AtomicPtr;
#[cfg(all(not(loom), feature = "std"))]
pub(crate) use core::sync::atomic::{AtomicBool, AtomicU64, fence};
#[cfg(loom)]
pub(crate) use loom::sync::atomic::AtomicPtr;
#[cfg(all(loom, feature = "std"))]
pub(crate) use loom::sync::atomic::{AtomicBool, AtomicU64, fence};

/// The value of an atomic pointer we have exclusive access to.
pub(crate) fn atomic_ptr_get_mut<T>(p: &mut AtomicPtr<T>) -> *mut T {
    #[cfg(loom)]
    return p.with_mut(|p| *p);
    #[cfg(not(loom))]
    return *p.get_mut();
}

/// The writer-side lock of `AtomicChain`: held only while a new snapshot is built and published,
/// never while waiting for readers, so a spin lock serves (and works without std).
#[cfg(not(loom))]
pub(crate) struct WriterLock<T>(spin::Mutex<T>);

#[cfg(not(loom))]
impl<T> WriterLock<T> {
    pub(crate) const fn new(value: T) -> WriterLock<T> {
        WriterLock(spin::Mutex::new(value))
    }

    pub(crate) fn lock(&self) -> impl core::ops::DerefMut<Target = T> + '_ {
        self.0.lock()
    }

    pub(crate) fn get_mut(&mut self) -> &mut T {
        self.0.get_mut()
    }
}

#[cfg(loom)]
pub(crate) struct WriterLock<T>(loom::sync::Mutex<T>);

#[cfg(loom)]
impl<T> WriterLock<T> {
    pub(crate) fn new(value: T) -> WriterLock<T> {
        WriterLock(loom::sync::Mutex::new(value))
    }

    pub(crate) fn lock(&self) -> impl core::ops::DerefMut<Target = T> + '_ {
        self.0.lock().unwrap()
    }

    pub(crate) fn get_mut(&mut self) -> &mut T {
        self.0.get_mut().unwrap()
    }
}

/// Waiting for a reader to leave its read section: spin briefly, then give the CPU away.
#[cfg(feature = "std")]
pub(crate) struct Backoff {
    step: u32,
}

#[cfg(feature = "std")]
impl Backoff {
    pub(crate) fn new() -> Backoff {
        Backoff { step: 0 }
    }

    pub(crate) fn snooze(&mut self) {
        #[cfg(loom)]
        {
            loom::thread::yield_now();
        }
        #[cfg(not(loom))]
        {
            if self.step < 6 {
                for _ in 0..(1u32 << self.step) {
                    core::hint::spin_loop();
                }
            } else {
                std::thread::yield_now();
            }
        }
        self.step = self.step.saturating_add(1);
    }
}
