//! Callback return values, in Linux's exact encoding.
//!
//! A notifier callback returns an `int` whose bit 15 (`NOTIFY_STOP_MASK`) stops the chain; the
//! kernel packs an errno into the low bits of a stopping value (`notifier_from_errno`). This module
//! keeps that encoding bit for bit in [`NotifyResult`], so a value round-trips through the raw `i32`
//! unchanged, and offers a typed view, [`Verdict`], for Rust callers.
//!
//! Guarantees a test can check: `NotifyResult::from_raw(r).raw() == r` for every `i32`;
//! `from_errno(e).to_errno() == e` for every `e` in `-4095..=-1`; `from_errno(0) == OK`;
//! `NotifyResult::from(v.verdict...)` round-trips every raw value through [`Verdict`].

use core::fmt;

use crate::Errno;

/// What a notifier callback returned: Linux's `NOTIFY_*` encoding, unchanged.
///
/// # Examples
///
/// ```
/// use notifier::{Errno, NotifyResult, Verdict};
///
/// let r = NotifyResult::from_errno(-16); // notifier_from_errno(-EBUSY)
/// assert_eq!(r.raw(), 0x8011);
/// assert!(r.is_stop());
/// assert_eq!(r.to_errno(), -16);
/// assert_eq!(r.verdict(), Verdict::Errno(Errno::EBUSY));
/// assert_eq!(NotifyResult::OK.to_errno(), 0);
/// ```
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
#[repr(transparent)]
pub struct NotifyResult(i32);

impl NotifyResult {
    /// `NOTIFY_DONE` (0): don't care. Also what a call on an empty chain returns.
    pub const DONE: NotifyResult = NotifyResult(0x0000);
    /// `NOTIFY_OK` (1): suits me.
    pub const OK: NotifyResult = NotifyResult(0x0001);
    /// `NOTIFY_STOP_MASK` (0x8000): the bit that stops the chain.
    pub const STOP_MASK: NotifyResult = NotifyResult(0x8000);
    /// `NOTIFY_STOP` (0x8001): clean way to return from the chain, without an error.
    pub const STOP: NotifyResult = NotifyResult(0x8001);
    /// `NOTIFY_BAD` (0x8002): bad/veto action. Equal to `from_errno(-EPERM)`.
    pub const BAD: NotifyResult = NotifyResult(0x8002);
    /// What a robust call returns when a callback panicked during its up walk (`std` builds):
    /// `from_errno(-EIO)`. The panic was a veto at the callback's position — the callbacks
    /// before it got the down event. [`take_callback_panic`](crate::take_callback_panic) returns
    /// the payload.
    ///
    /// # Examples
    ///
    /// ```
    /// use notifier::{Errno, NotifyResult};
    /// assert_eq!(NotifyResult::PANICKED, NotifyResult::from_error(Errno::EIO));
    /// assert_eq!(NotifyResult::PANICKED.to_errno(), -5);
    /// ```
    pub const PANICKED: NotifyResult = NotifyResult::from_errno(-5);

    /// Wraps a raw value, whatever it is (the kernel does not validate them either).
    ///
    /// # Examples
    ///
    /// ```
    /// # use notifier::NotifyResult;
    /// assert_eq!(NotifyResult::from_raw(0x8001), NotifyResult::STOP);
    /// assert_eq!(NotifyResult::from_raw(-7).raw(), -7);
    /// ```
    pub const fn from_raw(raw: i32) -> NotifyResult {
        NotifyResult(raw)
    }

    /// The raw `int`.
    ///
    /// # Examples
    ///
    /// ```
    /// # use notifier::NotifyResult;
    /// assert_eq!(NotifyResult::BAD.raw(), 0x8002);
    /// ```
    pub const fn raw(self) -> i32 {
        self.0
    }

    /// Linux's `notifier_from_errno`: 0 gives `OK`; a negative errno `e` gives
    /// `STOP_MASK | (OK - e)`.
    ///
    /// # Examples
    ///
    /// ```
    /// # use notifier::NotifyResult;
    /// assert_eq!(NotifyResult::from_errno(0), NotifyResult::OK);
    /// assert_eq!(NotifyResult::from_errno(-22).raw(), 0x8017);
    /// assert_eq!(NotifyResult::from_errno(-1), NotifyResult::BAD);
    /// ```
    pub const fn from_errno(err: i32) -> NotifyResult {
        if err == 0 {
            NotifyResult::OK
        } else {
            // Wrapping like the kernel's int arithmetic: out-of-range input gives some value,
            // never a panic.
            NotifyResult(Self::STOP_MASK.0 | Self::OK.0.wrapping_sub(err))
        }
    }

    /// Typed form of [`from_errno`](Self::from_errno).
    ///
    /// # Examples
    ///
    /// ```
    /// # use notifier::{Errno, NotifyResult};
    /// assert_eq!(NotifyResult::from_error(Errno::ENOMEM).raw(), 0x800d);
    /// ```
    pub const fn from_error(err: Errno) -> NotifyResult {
        Self::from_errno(err.to_neg())
    }

    /// Linux's `notifier_to_errno`: the negative errno packed into a stopping value, or 0.
    /// `to_errno(STOP) == 0`, `to_errno(BAD) == -EPERM`, `to_errno(STOP_MASK) == 0`.
    ///
    /// # Examples
    ///
    /// ```
    /// # use notifier::NotifyResult;
    /// assert_eq!(NotifyResult::from_raw(0x8017).to_errno(), -22);
    /// assert_eq!(NotifyResult::STOP.to_errno(), 0);
    /// assert_eq!(NotifyResult::DONE.to_errno(), 0);
    /// ```
    pub const fn to_errno(self) -> i32 {
        let ret = self.0 & !Self::STOP_MASK.0;
        if ret > Self::OK.0 {
            Self::OK.0 - ret
        } else {
            0
        }
    }

    /// Typed form of [`to_errno`](Self::to_errno): `None` where that gives 0 or a value outside
    /// the errno range.
    ///
    /// # Examples
    ///
    /// ```
    /// # use notifier::{Errno, NotifyResult};
    /// assert_eq!(NotifyResult::BAD.error(), Some(Errno::EPERM));
    /// assert_eq!(NotifyResult::STOP.error(), None);
    /// ```
    pub const fn error(self) -> Option<Errno> {
        Errno::from_neg(self.to_errno())
    }

    /// Whether `STOP_MASK` is set: the chain stops here and a robust call rolls back.
    ///
    /// # Examples
    ///
    /// ```
    /// # use notifier::NotifyResult;
    /// assert!(NotifyResult::STOP_MASK.is_stop());
    /// assert!(!NotifyResult::DONE.is_stop());
    /// ```
    #[inline(always)]
    pub const fn is_stop(self) -> bool {
        self.0 & Self::STOP_MASK.0 != 0
    }

    /// The typed view of this value.
    ///
    /// # Examples
    ///
    /// ```
    /// # use notifier::{NotifyResult, Verdict};
    /// assert_eq!(NotifyResult::STOP.verdict(), Verdict::Stop);
    /// assert_eq!(NotifyResult::STOP_MASK.verdict(), Verdict::Other(0x8000));
    /// ```
    pub const fn verdict(self) -> Verdict {
        match self {
            Self::DONE => Verdict::Done,
            Self::OK => Verdict::Ok,
            Self::STOP => Verdict::Stop,
            Self::BAD => Verdict::Bad,
            _ => match self.error() {
                // Only values that `from_errno` produces are errnos: anything else (extra bits,
                // a bare stop mask) stays `Other` so that the round trip is exact.
                Some(e) if Self::from_error(e).0 == self.0 => Verdict::Errno(e),
                _ => Verdict::Other(self.0),
            },
        }
    }
}

impl fmt::Debug for NotifyResult {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "NotifyResult({:#x}: {})", self.0, self)
    }
}

/// Spelled as the kernel spells it: `NOTIFY_OK`, `NOTIFY_BAD`, `errno EBUSY`, `0x4`.
impl fmt::Display for NotifyResult {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.verdict() {
            Verdict::Done => f.write_str("NOTIFY_DONE"),
            Verdict::Ok => f.write_str("NOTIFY_OK"),
            Verdict::Stop => f.write_str("NOTIFY_STOP"),
            Verdict::Bad => f.write_str("NOTIFY_BAD"),
            Verdict::Errno(e) => write!(f, "errno {e}"),
            Verdict::Other(raw) if raw == Self::STOP_MASK.0 => f.write_str("NOTIFY_STOP_MASK"),
            Verdict::Other(raw) => write!(f, "{raw:#x}"),
        }
    }
}

/// The typed view of a [`NotifyResult`]. Converting either way is lossless for every raw value:
/// `NotifyResult::from(r.verdict()) == r`.
///
/// # Examples
///
/// ```
/// use notifier::{Errno, NotifyResult, Verdict};
///
/// fn on_event(cpu: u32) -> NotifyResult {
///     if cpu == 3 { Verdict::Errno(Errno::EBUSY).into() } else { Verdict::Ok.into() }
/// }
/// assert_eq!(on_event(1), NotifyResult::OK);
/// assert_eq!(on_event(3).to_errno(), -16);
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Verdict {
    /// `NOTIFY_DONE`: don't care; the chain continues.
    Done,
    /// `NOTIFY_OK`: suits me; the chain continues.
    Ok,
    /// `NOTIFY_STOP`: stop the chain without an error.
    Stop,
    /// `NOTIFY_BAD`: veto (the same raw value as `Errno(EPERM)`; this view prefers `Bad`).
    Bad,
    /// A veto carrying an errno (`notifier_from_errno(-e)`), other than `EPERM`.
    Errno(Errno),
    /// Any other raw value: a bare `NOTIFY_STOP_MASK`, or a non-standard value (which stops the
    /// chain exactly when bit 15 is set).
    Other(i32),
}

impl From<Verdict> for NotifyResult {
    fn from(v: Verdict) -> NotifyResult {
        match v {
            Verdict::Done => NotifyResult::DONE,
            Verdict::Ok => NotifyResult::OK,
            Verdict::Stop => NotifyResult::STOP,
            Verdict::Bad => NotifyResult::BAD,
            Verdict::Errno(e) => NotifyResult::from_error(e),
            Verdict::Other(raw) => NotifyResult::from_raw(raw),
        }
    }
}

impl From<NotifyResult> for Verdict {
    fn from(r: NotifyResult) -> Verdict {
        r.verdict()
    }
}

/// `Ok(())` is `NOTIFY_OK`, `Err(e)` is `notifier_from_errno(-e)`: `?`-friendly callbacks.
impl From<Result<(), Errno>> for NotifyResult {
    fn from(r: Result<(), Errno>) -> NotifyResult {
        match r {
            Ok(()) => NotifyResult::OK,
            Err(e) => NotifyResult::from_error(e),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn linux_encoding() {
        assert_eq!(NotifyResult::from_errno(-22).raw(), 0x8017);
        assert_eq!(NotifyResult::from_errno(-16).raw(), 0x8011);
        assert_eq!(NotifyResult::from_errno(-12).raw(), 0x800d);
        assert_eq!(NotifyResult::from_errno(-1), NotifyResult::BAD);
        for e in -4095..=-1 {
            assert_eq!(NotifyResult::from_errno(e).to_errno(), e, "errno {e}");
            assert!(NotifyResult::from_errno(e).is_stop());
        }
        assert_eq!(NotifyResult::STOP.to_errno(), 0);
        assert_eq!(NotifyResult::STOP_MASK.to_errno(), 0);
        assert_eq!(NotifyResult::BAD.to_errno(), -1);
    }

    #[test]
    fn verdict_round_trips_every_interesting_raw_value() {
        let edges = [
            i32::MIN,
            i32::MAX,
            -1,
            0,
            1,
            2,
            0x7fff,
            0x8000,
            0x8001,
            0x8002,
            0x8003,
        ];
        for raw in edges.into_iter().chain(0..0x20000) {
            let r = NotifyResult::from_raw(raw);
            assert_eq!(NotifyResult::from(r.verdict()), r, "raw {raw:#x}");
        }
        assert_eq!(
            NotifyResult::from_errno(-5).verdict(),
            Verdict::Errno(Errno::EIO)
        );
        assert_eq!(NotifyResult::from_errno(-1).verdict(), Verdict::Bad);
    }
}
