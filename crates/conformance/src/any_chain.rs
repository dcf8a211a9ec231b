//! A chain of any kind, chosen at run time, so one scenario runs on all three.

use std::fmt;
use std::str::FromStr;

use notifier::{
    AtomicChain, BlockRef, BlockingChain, Chain, NotifierBlock, NotifyResult, RawChain,
    RegisterError, UnregisterError,
};

/// The three chain kinds of the `notifier` crate.
///
/// # Examples
///
/// ```
/// use conformance::ChainKind;
///
/// assert_eq!("atomic".parse::<ChainKind>(), Ok(ChainKind::Atomic));
/// assert_eq!(ChainKind::ALL.len(), 3);
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ChainKind {
    /// [`RawChain`].
    Raw,
    /// [`AtomicChain`] on `ThreadRcu`.
    Atomic,
    /// [`BlockingChain`].
    Blocking,
}

impl ChainKind {
    /// Every kind.
    pub const ALL: [ChainKind; 3] = [ChainKind::Raw, ChainKind::Atomic, ChainKind::Blocking];

    /// An empty chain of this kind.
    ///
    /// # Examples
    ///
    /// ```
    /// use conformance::ChainKind;
    /// assert_eq!(ChainKind::Blocking.new_chain::<u64>().kind(), ChainKind::Blocking);
    /// ```
    pub fn new_chain<E: Copy>(self) -> AnyChain<E> {
        match self {
            ChainKind::Raw => AnyChain::Raw(RawChain::new()),
            ChainKind::Atomic => AnyChain::Atomic(AtomicChain::new()),
            ChainKind::Blocking => AnyChain::Blocking(BlockingChain::new()),
        }
    }
}

impl fmt::Display for ChainKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            ChainKind::Raw => "raw",
            ChainKind::Atomic => "atomic",
            ChainKind::Blocking => "blocking",
        })
    }
}

impl FromStr for ChainKind {
    type Err = String;

    fn from_str(s: &str) -> Result<ChainKind, String> {
        match s {
            "raw" => Ok(ChainKind::Raw),
            "atomic" => Ok(ChainKind::Atomic),
            "blocking" => Ok(ChainKind::Blocking),
            other => Err(format!(
                "unknown chain kind `{other}` (expected raw, atomic or blocking)"
            )),
        }
    }
}

/// One chain of any kind, with the operations of [`Chain`] dispatched by `match`.
///
/// # Examples
///
/// ```
/// use std::sync::Arc;
/// use conformance::ChainKind;
/// use notifier::{NotifierBlock, NotifyResult};
///
/// for kind in ChainKind::ALL {
///     let chain = kind.new_chain::<u64>();
///     let b = Arc::new(NotifierBlock::new(|_: u64, _: &()| NotifyResult::BAD, 0));
///     chain.register(b.clone()).unwrap();
///     assert_eq!(chain.call(1), NotifyResult::BAD);
///     chain.unregister(&b).unwrap();
/// }
/// ```
#[derive(Debug)]
pub enum AnyChain<E: Copy> {
    /// A [`RawChain`].
    Raw(RawChain<E>),
    /// An [`AtomicChain`].
    Atomic(AtomicChain<E>),
    /// A [`BlockingChain`].
    Blocking(BlockingChain<E>),
}

macro_rules! dispatch {
    ($self:ident, $c:ident => $e:expr) => {
        match $self {
            AnyChain::Raw($c) => $e,
            AnyChain::Atomic($c) => $e,
            AnyChain::Blocking($c) => $e,
        }
    };
}

impl<E: Copy> AnyChain<E> {
    /// Which kind this is.
    pub fn kind(&self) -> ChainKind {
        match self {
            AnyChain::Raw(_) => ChainKind::Raw,
            AnyChain::Atomic(_) => ChainKind::Atomic,
            AnyChain::Blocking(_) => ChainKind::Blocking,
        }
    }

    /// [`Chain::register`], kept registered (Linux's `*_chain_register`).
    ///
    /// # Errors
    ///
    /// As [`Chain::register`].
    pub fn register(&self, block: impl Into<BlockRef<E>>) -> Result<(), RegisterError> {
        dispatch!(self, c => c.register(block).map(|r| r.keep()))
    }

    /// [`Chain::register_unique_prio`], kept registered.
    ///
    /// # Errors
    ///
    /// As [`Chain::register_unique_prio`].
    pub fn register_unique_prio(&self, block: impl Into<BlockRef<E>>) -> Result<(), RegisterError> {
        dispatch!(self, c => c.register_unique_prio(block).map(|r| r.keep()))
    }

    /// [`Chain::unregister`].
    ///
    /// # Errors
    ///
    /// As [`Chain::unregister`].
    pub fn unregister<F>(&self, block: &NotifierBlock<F>) -> Result<(), UnregisterError> {
        dispatch!(self, c => c.unregister(block))
    }

    /// [`Chain::call`] with no data.
    pub fn call(&self, event: E) -> NotifyResult {
        dispatch!(self, c => c.call(event, &()))
    }

    /// [`Chain::call_robust`] with no data.
    pub fn call_robust(&self, up: E, down: E) -> NotifyResult {
        dispatch!(self, c => c.call_robust(up, down, &()))
    }
}
