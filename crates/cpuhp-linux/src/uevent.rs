//! Kernel uevents as they arrive on a `NETLINK_KOBJECT_UEVENT` socket: `ACTION@DEVPATH\0`
//! followed by `KEY=VALUE\0` fields (`lib/kobject_uevent.c`), and which of them say that a CPU
//! came, went, came online or went offline.
//!
//! A packet only ever makes the watcher re-read sysfs, so the parser can be strict (a malformed
//! packet is an error, never a panic) without a missed or spoofed packet leaving a wrong set.
//!
//! The parser is this crate's own (some 60 lines) rather than a uevent crate's: what the watcher
//! needs is exactly what it checks — a field without `=` is a truncated packet, a header that
//! contradicts `ACTION`/`DEVPATH` is refused, udev's re-broadcasts are told apart — and the CPU
//! filter (`cpuN` only, not `cpuN/cache`) sits on top.

use std::fmt;

/// A parsed uevent.
///
/// # Examples
///
/// ```
/// use cpuhp_linux::parse_uevent;
///
/// let u = parse_uevent(b"offline@/devices/system/cpu/cpu2\0ACTION=offline\0\
///     DEVPATH=/devices/system/cpu/cpu2\0SUBSYSTEM=cpu\0SEQNUM=4711\0")?;
/// assert_eq!((u.action.as_str(), u.seqnum), ("offline", Some(4711)));
/// assert_eq!(u.get("SUBSYSTEM"), Some("cpu"));
/// # Ok::<(), cpuhp_linux::UeventError>(())
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Uevent {
    /// `add`, `remove`, `online`, `offline`, `change`, …
    pub action: String,
    /// The kobject's path under `/sys` (`/devices/system/cpu/cpu2`).
    pub devpath: String,
    /// The kernel's sequence number (`SEQNUM`), if the packet had one.
    pub seqnum: Option<u64>,
    /// Every `KEY=VALUE` field, in packet order.
    pub fields: Vec<(String, String)>,
}

/// What a uevent says about a CPU.
///
/// # Examples
///
/// ```
/// use cpuhp_linux::CpuAction;
/// assert_eq!(CpuAction::parse("online"), Some(CpuAction::Online));
/// assert_eq!(CpuAction::Remove.to_string(), "remove");
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum CpuAction {
    /// `ACTION=add`: the CPU became present.
    Add,
    /// `ACTION=remove`: the CPU is no longer present.
    Remove,
    /// `ACTION=online`: the CPU came online.
    Online,
    /// `ACTION=offline`: the CPU went offline.
    Offline,
}

impl CpuAction {
    /// The action named by a uevent's `ACTION`, if it is one of the four.
    pub fn parse(action: &str) -> Option<CpuAction> {
        Some(match action {
            "add" => CpuAction::Add,
            "remove" => CpuAction::Remove,
            "online" => CpuAction::Online,
            "offline" => CpuAction::Offline,
            _ => return None,
        })
    }
}

impl fmt::Display for CpuAction {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            CpuAction::Add => "add",
            CpuAction::Remove => "remove",
            CpuAction::Online => "online",
            CpuAction::Offline => "offline",
        })
    }
}

/// Why a packet is not a uevent.
///
/// # Examples
///
/// ```
/// use cpuhp_linux::{parse_uevent, UeventError};
/// assert_eq!(parse_uevent(b""), Err(UeventError::Empty));
/// assert_eq!(parse_uevent(b"online@/devices/system/cpu/cpu1\0ACTI").unwrap_err().to_string(),
///     "malformed uevent: field \"ACTI\" has no '=' (truncated packet?)");
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum UeventError {
    /// A packet of zero bytes.
    Empty,
    /// A packet from udev (`libudev` header), not from the kernel.
    Udev,
    /// Anything else, with what was wrong.
    Malformed(String),
}

impl fmt::Display for UeventError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            UeventError::Empty => f.write_str("empty uevent packet"),
            UeventError::Udev => f.write_str("a udev packet (libudev header), not the kernel's"),
            UeventError::Malformed(m) => write!(f, "malformed uevent: {m}"),
        }
    }
}

impl std::error::Error for UeventError {}

/// Parses one packet in the kernel's format: `ACTION@DEVPATH\0KEY=VALUE\0…` (the last NUL may
/// be missing). The header and the `ACTION`/`DEVPATH` fields must agree when both are there.
///
/// # Errors
///
/// [`UeventError`] for an empty packet, a udev packet, a header without `@`, a field without
/// `=` (a truncated packet), a bad `SEQNUM`, or a header contradicting the fields.
///
/// # Examples
///
/// ```
/// use cpuhp_linux::{parse_uevent, CpuAction};
///
/// let u = parse_uevent(b"add@/devices/system/cpu/cpu4\0ACTION=add\0\
///     DEVPATH=/devices/system/cpu/cpu4\0SUBSYSTEM=cpu\0SEQNUM=9\0")?;
/// assert_eq!(u.cpu_event(), Some((CpuAction::Add, 4)));
/// let net = parse_uevent(b"add@/devices/virtual/net/tap0\0ACTION=add\0SUBSYSTEM=net\0")?;
/// assert_eq!(net.cpu_event(), None);
/// assert!(parse_uevent(b"no header here").is_err());
/// # Ok::<(), cpuhp_linux::UeventError>(())
/// ```
pub fn parse_uevent(packet: &[u8]) -> Result<Uevent, UeventError> {
    if packet.is_empty() {
        return Err(UeventError::Empty);
    }
    if packet.starts_with(b"libudev\0") {
        return Err(UeventError::Udev);
    }
    let bad = |m: String| UeventError::Malformed(m);
    let mut parts = packet.split(|&b| b == 0);
    let header = String::from_utf8_lossy(parts.next().unwrap_or_default());
    let (action, devpath) = header
        .split_once('@')
        .filter(|(a, d)| !a.is_empty() && d.starts_with('/'))
        .ok_or_else(|| bad(format!("header {header:?} is not ACTION@DEVPATH")))?;
    let mut fields = Vec::new();
    for part in parts.filter(|p| !p.is_empty()) {
        let text = String::from_utf8_lossy(part);
        let (k, v) = text
            .split_once('=')
            .filter(|(k, _)| !k.is_empty())
            .ok_or_else(|| bad(format!("field {text:?} has no '=' (truncated packet?)")))?;
        fields.push((k.to_string(), v.to_string()));
    }
    let field = |key: &str| {
        fields
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    };
    for (key, header_value) in [("ACTION", action), ("DEVPATH", devpath)] {
        if let Some(v) = field(key) {
            if v != header_value {
                return Err(bad(format!("{key}={v} contradicts the header {header:?}")));
            }
        }
    }
    let seqnum = match field("SEQNUM") {
        Some(s) => Some(
            s.parse::<u64>()
                .map_err(|_| bad(format!("SEQNUM={s} is not a number")))?,
        ),
        None => None,
    };
    Ok(Uevent {
        action: action.to_string(),
        devpath: devpath.to_string(),
        seqnum,
        fields,
    })
}

impl Uevent {
    /// The value of a field.
    ///
    /// # Examples
    ///
    /// ```
    /// let u = cpuhp_linux::parse_uevent(b"change@/devices/x\0SUBSYSTEM=y\0")?;
    /// assert_eq!((u.get("SUBSYSTEM"), u.get("ACTION")), (Some("y"), None));
    /// # Ok::<(), cpuhp_linux::UeventError>(())
    /// ```
    pub fn get(&self, key: &str) -> Option<&str> {
        self.fields
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }

    /// `(action, cpu)` when this is `online`, `offline`, `add` or `remove` of
    /// `/devices/system/cpu/cpuN` with `SUBSYSTEM=cpu`; `None` for anything else (another
    /// subsystem, `cpu2/cache`, `change`, a CPU number that does not fit in 32 bits).
    ///
    /// # Examples
    ///
    /// ```
    /// use cpuhp_linux::{parse_uevent, CpuAction};
    /// let u = parse_uevent(b"online@/devices/system/cpu/cpu1\0SUBSYSTEM=cpu\0")?;
    /// assert_eq!(u.cpu_event(), Some((CpuAction::Online, 1)));
    /// let cache = parse_uevent(b"add@/devices/system/cpu/cpu1/cache\0SUBSYSTEM=cpu\0")?;
    /// assert_eq!(cache.cpu_event(), None);
    /// # Ok::<(), cpuhp_linux::UeventError>(())
    /// ```
    pub fn cpu_event(&self) -> Option<(CpuAction, u32)> {
        if self.get("SUBSYSTEM") != Some("cpu") {
            return None;
        }
        let n = self.devpath.strip_prefix("/devices/system/cpu/cpu")?;
        // `cpu01` is not a name the kernel gives; `+1` would parse as 1.
        if n.is_empty()
            || !n.bytes().all(|b| b.is_ascii_digit())
            || (n.len() > 1 && n.starts_with('0'))
        {
            return None;
        }
        Some((CpuAction::parse(&self.action)?, n.parse().ok()?))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn header_only_and_missing_trailing_nul() {
        let u = parse_uevent(b"offline@/devices/system/cpu/cpu3\0SUBSYSTEM=cpu").unwrap();
        assert_eq!(u.cpu_event(), Some((CpuAction::Offline, 3)));
        let u = parse_uevent(b"online@/devices/system/cpu/cpu3").unwrap();
        assert_eq!(u.cpu_event(), None, "no SUBSYSTEM: not known to be a CPU");
    }

    #[test]
    fn rejects_contradictions_and_odd_names() {
        assert!(parse_uevent(b"online@/devices/system/cpu/cpu1\0ACTION=offline\0").is_err());
        assert!(parse_uevent(b"@/devices/system/cpu/cpu1\0").is_err());
        assert!(parse_uevent(b"online@devices\0").is_err());
        assert!(parse_uevent(b"online@/d\0=x\0").is_err());
        assert!(parse_uevent(b"online@/d\0SEQNUM=-1\0").is_err());
        assert_eq!(
            parse_uevent(b"libudev\0\xfe\xed\xca\xfe"),
            Err(UeventError::Udev)
        );
        for path in ["cpu01", "cpu", "cpu+1", "cpu99999999999", "cpufreq"] {
            let p = format!("online@/devices/system/cpu/{path}\0SUBSYSTEM=cpu\0");
            assert_eq!(
                parse_uevent(p.as_bytes()).unwrap().cpu_event(),
                None,
                "{path}"
            );
        }
    }
}
