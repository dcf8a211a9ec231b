//! Errors of registration and unregistration: small `Copy` enums that map to Linux's errno.

use core::fmt;

use crate::Errno;

/// Why [`Chain::register`](crate::Chain::register) (or `register_unique_prio`) refused a block.
/// The chain is unchanged in every case.
///
/// # Examples
///
/// ```
/// use notifier::{Chain, Errno, FnBlock, NotifyResult, RawChain, RegisterError};
///
/// static B: FnBlock<u64> = FnBlock::new(|_, _| NotifyResult::OK, 0);
/// let chain = RawChain::<u64>::new();
/// chain.register(&B)?.keep();
/// let again = chain.register(&B).map(|r| r.keep());
/// assert_eq!(again, Err(RegisterError::AlreadyRegistered));
/// assert_eq!(RegisterError::AlreadyRegistered.errno(), Errno::EEXIST);
/// # Ok::<(), RegisterError>(())
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum RegisterError {
    /// The block is already on this chain (Linux: `-EEXIST`, with a warning).
    AlreadyRegistered,
    /// `register_unique_prio`: another block already has this priority (`-EBUSY`).
    PriorityTaken,
    /// Registering from inside a callback of this same [`BlockingChain`](crate::BlockingChain),
    /// which holds the chain's read lock: waiting for the write lock would never end
    /// (`-EDEADLK`).
    WouldDeadlock,
}

impl RegisterError {
    /// The errno Linux returns for this case.
    ///
    /// # Examples
    ///
    /// ```
    /// # use notifier::{Errno, RegisterError};
    /// assert_eq!(RegisterError::PriorityTaken.errno(), Errno::EBUSY);
    /// assert_eq!(RegisterError::PriorityTaken.errno().to_neg(), -16);
    /// ```
    pub const fn errno(self) -> Errno {
        match self {
            RegisterError::AlreadyRegistered => Errno::EEXIST,
            RegisterError::PriorityTaken => Errno::EBUSY,
            RegisterError::WouldDeadlock => Errno::EDEADLK,
        }
    }
}

impl fmt::Display for RegisterError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            RegisterError::AlreadyRegistered => "notifier block already registered on this chain",
            RegisterError::PriorityTaken => "another notifier block already has this priority",
            RegisterError::WouldDeadlock => {
                "registering from inside a callback of the same blocking chain would deadlock"
            }
        })
    }
}

impl core::error::Error for RegisterError {}

impl From<RegisterError> for Errno {
    fn from(e: RegisterError) -> Errno {
        e.errno()
    }
}

/// Why [`Chain::unregister`](crate::Chain::unregister) failed. The chain is unchanged in every
/// case.
///
/// # Examples
///
/// ```
/// use notifier::{Chain, Errno, FnBlock, NotifyResult, RawChain, UnregisterError};
///
/// static B: FnBlock<u64> = FnBlock::new(|_, _| NotifyResult::OK, 0);
/// let chain = RawChain::<u64>::new();
/// assert_eq!(chain.unregister(&B), Err(UnregisterError::NotRegistered));
/// assert_eq!(UnregisterError::NotRegistered.errno(), Errno::ENOENT);
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum UnregisterError {
    /// The block is not on this chain (Linux: `-ENOENT`).
    NotRegistered,
    /// Called from inside a callback of this same chain (for [`AtomicChain`](crate::AtomicChain):
    /// inside any read section of its RCU domain), where waiting for running calls to finish
    /// would wait for itself (`-EDEADLK`). Linux deadlocks here.
    WouldDeadlock,
}

impl UnregisterError {
    /// The errno for this case.
    ///
    /// # Examples
    ///
    /// ```
    /// # use notifier::{Errno, UnregisterError};
    /// assert_eq!(UnregisterError::WouldDeadlock.errno(), Errno::EDEADLK);
    /// ```
    pub const fn errno(self) -> Errno {
        match self {
            UnregisterError::NotRegistered => Errno::ENOENT,
            UnregisterError::WouldDeadlock => Errno::EDEADLK,
        }
    }
}

impl fmt::Display for UnregisterError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            UnregisterError::NotRegistered => "notifier block is not registered on this chain",
            UnregisterError::WouldDeadlock => {
                "unregistering from inside a callback of the same chain would deadlock"
            }
        })
    }
}

impl core::error::Error for UnregisterError {}

impl From<UnregisterError> for Errno {
    fn from(e: UnregisterError) -> Errno {
        e.errno()
    }
}
