//! Linux error numbers, as a small `Copy` type.
//!
//! The kernel passes errors around as negative `int`s. [`Errno`] holds the positive code (1..=4095,
//! Linux's `MAX_ERRNO`), so a value of this type is always a valid errno; [`Errno::to_neg`] gives
//! the kernel's negative form back.

use core::fmt;
use core::num::NonZeroU16;

/// A Linux error number (the positive code, `1..=4095`).
///
/// # Examples
///
/// ```
/// use notifier::Errno;
///
/// assert_eq!(Errno::EBUSY.code(), 16);
/// assert_eq!(Errno::EBUSY.to_neg(), -16);
/// assert_eq!(Errno::from_neg(-22), Some(Errno::EINVAL));
/// assert_eq!(Errno::EINVAL.name(), Some("EINVAL"));
/// assert_eq!(Errno::new(0), None);
/// ```
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Errno(NonZeroU16);

/// Linux's `MAX_ERRNO`: the largest value the kernel treats as an error code.
pub const MAX_ERRNO: i32 = 4095;

macro_rules! errnos {
    ($($name:ident = $code:literal: $doc:literal,)*) => {
        impl Errno {
            $(
                #[doc = $doc]
                pub const $name: Errno = Errno(match NonZeroU16::new($code) {
                    Some(v) => v,
                    None => panic!("errno 0"),
                });
            )*

            /// The symbolic name (`"EINVAL"`), for the codes this crate knows.
            ///
            /// # Examples
            ///
            /// ```
            /// # use notifier::Errno;
            /// assert_eq!(Errno::ENOSPC.name(), Some("ENOSPC"));
            /// assert_eq!(Errno::new(4000).unwrap().name(), None);
            /// ```
            pub const fn name(self) -> Option<&'static str> {
                match self.0.get() {
                    $($code => Some(stringify!($name)),)*
                    _ => None,
                }
            }

            /// Looks a code up by its symbolic name.
            ///
            /// # Examples
            ///
            /// ```
            /// # use notifier::Errno;
            /// assert_eq!(Errno::from_name("EAGAIN"), Some(Errno::EAGAIN));
            /// assert_eq!(Errno::from_name("EWHATEVER"), None);
            /// ```
            pub fn from_name(name: &str) -> Option<Errno> {
                match name {
                    $(stringify!($name) => Some(Errno::$name),)*
                    _ => None,
                }
            }
        }
    };
}

errnos! {
    EPERM = 1: "Operation not permitted.",
    ENOENT = 2: "No such file or directory (an unknown block, state or instance).",
    ESRCH = 3: "No such process.",
    EINTR = 4: "Interrupted system call.",
    EIO = 5: "I/O error.",
    ENXIO = 6: "No such device or address.",
    E2BIG = 7: "Argument list too long.",
    EBADF = 9: "Bad file number.",
    EAGAIN = 11: "Try again (the kernel's injected hotplug failure).",
    ENOMEM = 12: "Out of memory.",
    EACCES = 13: "Permission denied.",
    EFAULT = 14: "Bad address.",
    EBUSY = 16: "Device or resource busy (a taken priority; hotplug disabled).",
    EEXIST = 17: "File exists (a block registered twice).",
    ENODEV = 19: "No such device.",
    EINVAL = 22: "Invalid argument.",
    ENFILE = 23: "File table overflow.",
    EMFILE = 24: "Too many open files.",
    ENOSPC = 28: "No space left on device (no free dynamic state).",
    ERANGE = 34: "Math result not representable.",
    EDEADLK = 35: "Resource deadlock would occur (a call that would wait on itself).",
    ENOSYS = 38: "Function not implemented.",
    ENOTEMPTY = 39: "Directory not empty (a state that still has instances).",
    EOVERFLOW = 75: "Value too large for defined data type.",
    EOPNOTSUPP = 95: "Operation not supported.",
    ETIMEDOUT = 110: "Connection timed out.",
    EALREADY = 114: "Operation already in progress.",
    ECANCELED = 125: "Operation canceled.",
}

impl Errno {
    /// The errno with positive code `code`, if it is in `1..=4095`.
    ///
    /// # Examples
    ///
    /// ```
    /// # use notifier::Errno;
    /// assert_eq!(Errno::new(12), Some(Errno::ENOMEM));
    /// assert_eq!(Errno::new(-12), None);
    /// assert_eq!(Errno::new(4096), None);
    /// ```
    pub const fn new(code: i32) -> Option<Errno> {
        if code < 1 || code > MAX_ERRNO {
            return None;
        }
        match NonZeroU16::new(code as u16) {
            Some(v) => Some(Errno(v)),
            None => None,
        }
    }

    /// The errno whose kernel form is `neg` (`-4095..=-1`).
    ///
    /// # Examples
    ///
    /// ```
    /// # use notifier::Errno;
    /// assert_eq!(Errno::from_neg(-16), Some(Errno::EBUSY));
    /// assert_eq!(Errno::from_neg(0), None);
    /// ```
    pub const fn from_neg(neg: i32) -> Option<Errno> {
        if neg == i32::MIN {
            return None;
        }
        Errno::new(-neg)
    }

    /// The positive code.
    ///
    /// # Examples
    ///
    /// ```
    /// # use notifier::Errno;
    /// assert_eq!(Errno::EEXIST.code(), 17);
    /// ```
    pub const fn code(self) -> i32 {
        self.0.get() as i32
    }

    /// The kernel's negative form (`-EINVAL` is `-22`).
    ///
    /// # Examples
    ///
    /// ```
    /// # use notifier::Errno;
    /// assert_eq!(Errno::ENOENT.to_neg(), -2);
    /// ```
    pub const fn to_neg(self) -> i32 {
        -(self.0.get() as i32)
    }
}

impl fmt::Debug for Errno {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.name() {
            Some(name) => f.write_str(name),
            None => write!(f, "Errno({})", self.code()),
        }
    }
}

/// Shows the symbolic name, or `errno N` for codes without one.
impl fmt::Display for Errno {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.name() {
            Some(name) => f.write_str(name),
            None => write!(f, "errno {}", self.code()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip() {
        for code in 1..=MAX_ERRNO {
            let e = Errno::new(code).unwrap();
            assert_eq!(e.code(), code);
            assert_eq!(Errno::from_neg(e.to_neg()), Some(e));
            if let Some(name) = e.name() {
                assert_eq!(Errno::from_name(name), Some(e));
            }
        }
        assert_eq!(Errno::from_neg(i32::MIN), None);
        assert_eq!(Errno::new(MAX_ERRNO + 1), None);
    }
}
