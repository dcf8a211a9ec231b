//! Linux error numbers, as a small `Copy` type.
//!
//! The kernel passes errors around as negative `int`s. [`Errno`] holds the positive code (1..=4095,
//! Linux's `MAX_ERRNO`), so a value of this type is always a valid errno; [`Errno::to_neg`] gives
//! the kernel's negative form back.

use core::fmt;
use core::num::NonZeroU16;

/// A Linux error number (the positive code, `1..=4095`). Every code of Linux's
/// `asm-generic/errno*.h` has a named constant (`Errno::EINVAL`) and a name.
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
    ENOEXEC = 8: "Exec format error.",
    EBADF = 9: "Bad file number.",
    ECHILD = 10: "No child processes.",
    EAGAIN = 11: "Try again (the kernel's injected hotplug failure).",
    ENOMEM = 12: "Out of memory.",
    EACCES = 13: "Permission denied.",
    EFAULT = 14: "Bad address.",
    ENOTBLK = 15: "Block device required.",
    EBUSY = 16: "Device or resource busy (a taken priority; hotplug disabled).",
    EEXIST = 17: "File exists (a block registered twice).",
    EXDEV = 18: "Cross-device link.",
    ENODEV = 19: "No such device.",
    ENOTDIR = 20: "Not a directory.",
    EISDIR = 21: "Is a directory.",
    EINVAL = 22: "Invalid argument.",
    ENFILE = 23: "File table overflow.",
    EMFILE = 24: "Too many open files.",
    ENOTTY = 25: "Not a typewriter.",
    ETXTBSY = 26: "Text file busy.",
    EFBIG = 27: "File too large.",
    ENOSPC = 28: "No space left on device (no free dynamic state).",
    ESPIPE = 29: "Illegal seek.",
    EROFS = 30: "Read-only file system.",
    EMLINK = 31: "Too many links.",
    EPIPE = 32: "Broken pipe.",
    EDOM = 33: "Math argument out of domain of func.",
    ERANGE = 34: "Math result not representable.",
    EDEADLK = 35: "Resource deadlock would occur (a call that would wait on itself).",
    ENAMETOOLONG = 36: "File name too long.",
    ENOLCK = 37: "No record locks available.",
    ENOSYS = 38: "Invalid system call number.",
    ENOTEMPTY = 39: "Directory not empty.",
    ELOOP = 40: "Too many symbolic links encountered.",
    ENOMSG = 42: "No message of desired type.",
    EIDRM = 43: "Identifier removed.",
    ECHRNG = 44: "Channel number out of range.",
    EL2NSYNC = 45: "Level 2 not synchronized.",
    EL3HLT = 46: "Level 3 halted.",
    EL3RST = 47: "Level 3 reset.",
    ELNRNG = 48: "Link number out of range.",
    EUNATCH = 49: "Protocol driver not attached.",
    ENOCSI = 50: "No CSI structure available.",
    EL2HLT = 51: "Level 2 halted.",
    EBADE = 52: "Invalid exchange.",
    EBADR = 53: "Invalid request descriptor.",
    EXFULL = 54: "Exchange full.",
    ENOANO = 55: "No anode.",
    EBADRQC = 56: "Invalid request code.",
    EBADSLT = 57: "Invalid slot.",
    EBFONT = 59: "Bad font file format.",
    ENOSTR = 60: "Device not a stream.",
    ENODATA = 61: "No data available.",
    ETIME = 62: "Timer expired.",
    ENOSR = 63: "Out of streams resources.",
    ENONET = 64: "Machine is not on the network.",
    ENOPKG = 65: "Package not installed.",
    EREMOTE = 66: "Object is remote.",
    ENOLINK = 67: "Link has been severed.",
    EADV = 68: "Advertise error.",
    ESRMNT = 69: "Srmount error.",
    ECOMM = 70: "Communication error on send.",
    EPROTO = 71: "Protocol error.",
    EMULTIHOP = 72: "Multihop attempted.",
    EDOTDOT = 73: "RFS specific error.",
    EBADMSG = 74: "Not a data message.",
    EOVERFLOW = 75: "Value too large for defined data type.",
    ENOTUNIQ = 76: "Name not unique on network.",
    EBADFD = 77: "File descriptor in bad state.",
    EREMCHG = 78: "Remote address changed.",
    ELIBACC = 79: "Can not access a needed shared library.",
    ELIBBAD = 80: "Accessing a corrupted shared library.",
    ELIBSCN = 81: ".lib section in a.out corrupted.",
    ELIBMAX = 82: "Attempting to link in too many shared libraries.",
    ELIBEXEC = 83: "Cannot exec a shared library directly.",
    EILSEQ = 84: "Illegal byte sequence.",
    ERESTART = 85: "Interrupted system call should be restarted.",
    ESTRPIPE = 86: "Streams pipe error.",
    EUSERS = 87: "Too many users.",
    ENOTSOCK = 88: "Socket operation on non-socket.",
    EDESTADDRREQ = 89: "Destination address required.",
    EMSGSIZE = 90: "Message too long.",
    EPROTOTYPE = 91: "Protocol wrong type for socket.",
    ENOPROTOOPT = 92: "Protocol not available.",
    EPROTONOSUPPORT = 93: "Protocol not supported.",
    ESOCKTNOSUPPORT = 94: "Socket type not supported.",
    EOPNOTSUPP = 95: "Operation not supported on transport endpoint.",
    EPFNOSUPPORT = 96: "Protocol family not supported.",
    EAFNOSUPPORT = 97: "Address family not supported by protocol.",
    EADDRINUSE = 98: "Address already in use.",
    EADDRNOTAVAIL = 99: "Cannot assign requested address.",
    ENETDOWN = 100: "Network is down.",
    ENETUNREACH = 101: "Network is unreachable.",
    ENETRESET = 102: "Network dropped connection because of reset.",
    ECONNABORTED = 103: "Software caused connection abort.",
    ECONNRESET = 104: "Connection reset by peer.",
    ENOBUFS = 105: "No buffer space available.",
    EISCONN = 106: "Transport endpoint is already connected.",
    ENOTCONN = 107: "Transport endpoint is not connected.",
    ESHUTDOWN = 108: "Cannot send after transport endpoint shutdown.",
    ETOOMANYREFS = 109: "Too many references: cannot splice.",
    ETIMEDOUT = 110: "Connection timed out.",
    ECONNREFUSED = 111: "Connection refused.",
    EHOSTDOWN = 112: "Host is down.",
    EHOSTUNREACH = 113: "No route to host.",
    EALREADY = 114: "Operation already in progress.",
    EINPROGRESS = 115: "Operation now in progress.",
    ESTALE = 116: "Stale file handle.",
    EUCLEAN = 117: "Structure needs cleaning.",
    ENOTNAM = 118: "Not a XENIX named type file.",
    ENAVAIL = 119: "No XENIX semaphores available.",
    EISNAM = 120: "Is a named type file.",
    EREMOTEIO = 121: "Remote I/O error.",
    EDQUOT = 122: "Quota exceeded.",
    ENOMEDIUM = 123: "No medium found.",
    EMEDIUMTYPE = 124: "Wrong medium type.",
    ECANCELED = 125: "Operation Canceled.",
    ENOKEY = 126: "Required key not available.",
    EKEYEXPIRED = 127: "Key has expired.",
    EKEYREVOKED = 128: "Key has been revoked.",
    EKEYREJECTED = 129: "Key was rejected by service.",
    EOWNERDEAD = 130: "Owner died.",
    ENOTRECOVERABLE = 131: "State not recoverable.",
    ERFKILL = 132: "Operation not possible due to RF-kill.",
    EHWPOISON = 133: "Memory page has hardware error.",
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

impl core::error::Error for Errno {}

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
