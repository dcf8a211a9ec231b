//! [`CpuWatcher`]: the kernel's possible, present and online CPU sets, and a stream of changes.
//!
//! Uevents (`NETLINK_KOBJECT_UEVENT`) only wake the watcher up: after each wake-up it re-reads
//! `possible`, `present` and `online` and reports the difference. A missed, reordered, stale or
//! spoofed uevent therefore never leaves a wrong set: the sets are always what sysfs said last.
//! A CPU that went offline and came back between two reads is still reported (offline, then
//! online) when its `offline` uevent arrived: what was pinned to it lost its affinity.
//! The kernel sends no uevent for a `hotplug/target` write, so the watcher also re-reads every
//! `rescan` interval. Where the socket cannot be opened (a sandbox, no netlink), it polls.

use std::collections::VecDeque;
use std::fmt;
use std::sync::mpsc::{Receiver, RecvTimeoutError};
use std::time::{Duration, Instant, SystemTime};

use cpuhp::{CpuId, CpuMask};

use crate::io::{Fs, SysfsIo};
use crate::uevent::{CpuAction, parse_uevent};

/// The most CPUs a set may name (Linux's `NR_CPUS` limit; the simulator's too).
const MAX_CPUS: u32 = 8192;

/// The kernel's CPU sets, read together.
///
/// # Examples
///
/// ```
/// use cpuhp_linux::{CpuSets, SimKernel};
///
/// let k = SimKernel::new(&cpuhp::preset::LINUX_6_1, 4)?;
/// let s = CpuSets::read(&k)?;
/// assert_eq!((s.possible.to_string(), s.online.to_string()), ("0-3".into(), "0-3".into()));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CpuSets {
    /// `possible`: CPUs that can ever exist (without the file: `present` ∪ `online`).
    pub possible: CpuMask,
    /// `present`: CPUs that are there (without the file: `online`).
    pub present: CpuMask,
    /// `online`.
    pub online: CpuMask,
}

fn highest(list: &str) -> Option<u32> {
    list.trim()
        .split([',', '-'])
        .filter_map(|n| n.trim().parse::<u32>().ok())
        .max()
}

impl CpuSets {
    /// Reads `online` (required), `present` and `possible` under `/sys/devices/system/cpu`. The
    /// masks hold every CPU any of the three names, so a CPU that appears with a number never seen
    /// before fits.
    ///
    /// # Errors
    ///
    /// An unreadable `online`; a file that is not a CPU list or names a CPU above 8191.
    ///
    /// # Examples
    ///
    /// ```
    /// use cpuhp_linux::{CpuSets, Fs, SimKernel, SysfsIo};
    /// let mut k = SimKernel::new(&cpuhp::preset::LINUX_6_1, 4)?;
    /// k.write(Fs::Cpu, "cpu2/online", "0")?;
    /// assert_eq!(CpuSets::read(&k)?.online.to_string(), "0-1,3");
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn read(io: &dyn SysfsIo) -> Result<CpuSets, crate::Error> {
        let online = io.read(Fs::Cpu, "online")?;
        let present = io.read(Fs::Cpu, "present").ok();
        let possible = io.read(Fs::Cpu, "possible").ok();
        let texts = [Some(&online), present.as_ref(), possible.as_ref()];
        let top = texts.iter().flatten().filter_map(|t| highest(t)).max();
        let nr = top.map_or(1, |h| h.saturating_add(1));
        let parse = |text: &str, file: &str| {
            (nr <= MAX_CPUS)
                .then(|| CpuMask::parse_list(text, nr))
                .flatten()
                .ok_or_else(|| {
                    crate::Error::Parse(format!(
                        "{}: not a CPU list of at most {MAX_CPUS} CPUs: {:?}",
                        io.display(Fs::Cpu, file),
                        text.trim()
                    ))
                })
        };
        let online = parse(&online, "online")?;
        let present = match &present {
            Some(t) => parse(t, "present")?,
            None => online.clone(),
        };
        let possible = match &possible {
            Some(t) => parse(t, "possible")?,
            None => union(&present, &online),
        };
        Ok(CpuSets {
            possible,
            present,
            online,
        })
    }

    /// What changed from `self` to `new`, in the order a kernel does it: CPUs going offline,
    /// then leaving, then arriving, then coming online; ascending within each.
    ///
    /// # Examples
    ///
    /// ```
    /// use cpuhp::{CpuId, CpuMask};
    /// use cpuhp_linux::{CpuAction, CpuSets};
    ///
    /// let sets = |present: &str, online: &str| CpuSets {
    ///     possible: CpuMask::parse_list("0-7", 8).unwrap(),
    ///     present: CpuMask::parse_list(present, 8).unwrap(),
    ///     online: CpuMask::parse_list(online, 8).unwrap(),
    /// };
    /// let d = sets("0-3", "0-3").diff(&sets("0-2,4", "0-1,4"));
    /// assert_eq!(d, [(CpuAction::Offline, 2), (CpuAction::Offline, 3), (CpuAction::Remove, 3),
    ///     (CpuAction::Add, 4), (CpuAction::Online, 4)]);
    /// ```
    pub fn diff(&self, new: &CpuSets) -> Vec<(CpuAction, u32)> {
        let all = union(
            &union(&self.possible, &new.possible),
            &union(&self.online, &new.online),
        );
        let all = union(&all, &union(&self.present, &new.present));
        let went = |old: &CpuMask, new: &CpuMask| {
            all.iter()
                .filter(|&c| old.contains(c) && !new.contains(c))
                .map(|c| c.0)
                .collect::<Vec<_>>()
        };
        let mut out = Vec::new();
        out.extend(
            went(&self.online, &new.online)
                .into_iter()
                .map(|c| (CpuAction::Offline, c)),
        );
        out.extend(
            went(&self.present, &new.present)
                .into_iter()
                .map(|c| (CpuAction::Remove, c)),
        );
        out.extend(
            went(&new.present, &self.present)
                .into_iter()
                .map(|c| (CpuAction::Add, c)),
        );
        out.extend(
            went(&new.online, &self.online)
                .into_iter()
                .map(|c| (CpuAction::Online, c)),
        );
        out
    }
}

/// The union of two masks of possibly different sizes.
fn union(a: &CpuMask, b: &CpuMask) -> CpuMask {
    let top = a.iter().chain(b.iter()).map(|c| c.0 + 1).max().unwrap_or(0);
    let mut m = CpuMask::new(top);
    for c in a.iter().chain(b.iter()) {
        m.set(c, true);
    }
    m
}

/// What made the watcher see a change.
///
/// # Examples
///
/// ```
/// use cpuhp_linux::Cause;
/// assert_eq!(Cause::Uevent { seqnum: Some(7) }.to_string(), "uevent 7");
/// assert_eq!(Cause::Reread.to_string(), "reread");
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Cause {
    /// A uevent for this CPU and action arrived in the same wake-up.
    Uevent {
        /// Its `SEQNUM`.
        seqnum: Option<u64>,
    },
    /// Found only by re-reading sysfs: a missed uevent, a `hotplug/target` write (no uevent),
    /// or polling.
    Reread,
}

impl fmt::Display for Cause {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Cause::Uevent { seqnum: Some(n) } => write!(f, "uevent {n}"),
            Cause::Uevent { seqnum: None } => f.write_str("uevent"),
            Cause::Reread => f.write_str("reread"),
        }
    }
}

/// One change of the kernel's CPU sets.
///
/// # Examples
///
/// ```
/// use cpuhp_linux::{CpuAction, CpuWatcher, Fs, SimKernel, SysfsIo};
///
/// let (tx, rx) = std::sync::mpsc::channel();
/// let mut w = CpuWatcher::with_packets(SimKernel::new(&cpuhp::preset::LINUX_6_1, 4)?, rx)?;
/// w.io_mut().write(Fs::Cpu, "cpu3/online", "0")?;
/// tx.send(b"offline@/devices/system/cpu/cpu3\0SUBSYSTEM=cpu\0SEQNUM=5\0".to_vec())?;
/// let c = w.next().unwrap()?;
/// assert_eq!((c.action, c.cpu, c.online.to_string()), (CpuAction::Offline, 3, "0-2".into()));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CpuChange {
    /// The CPU.
    pub cpu: u32,
    /// What happened to it.
    pub action: CpuAction,
    /// What made the watcher see it.
    pub cause: Cause,
    /// When the watcher read the sets that show it.
    pub at: SystemTime,
    /// The online set after this wake-up's changes.
    pub online: CpuMask,
}

/// Counters of what the watcher received.
///
/// # Examples
///
/// ```
/// let (_tx, rx) = std::sync::mpsc::channel::<Vec<u8>>();
/// let k = cpuhp_linux::SimKernel::new(&cpuhp::preset::LINUX_6_1, 2)?;
/// let w = cpuhp_linux::CpuWatcher::with_packets(k, rx)?;
/// assert_eq!(w.stats(), cpuhp_linux::WatchStats::default());
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct WatchStats {
    /// Packets received.
    pub packets: u64,
    /// Uevents about a CPU (`online`/`offline`/`add`/`remove` of `cpuN`).
    pub cpu_events: u64,
    /// CPU uevents that matched no change after the re-read (stale or reordered).
    pub stale: u64,
    /// Packets that were not uevents (each still causes a re-read: it might have been one).
    pub malformed: u64,
    /// Well-formed uevents about something else (no re-read).
    pub ignored: u64,
    /// Times the socket's buffer overflowed (`ENOBUFS`: uevents lost; a re-read follows).
    pub overflows: u64,
    /// Re-reads of the sets.
    pub rereads: u64,
}

enum Source {
    #[cfg(target_os = "linux")]
    Netlink(std::os::fd::OwnedFd),
    Poll(Duration),
    Packets(Receiver<Vec<u8>>),
}

/// Follows the kernel's CPU sets. Iterating yields each [`CpuChange`] as it happens (blocking);
/// [`wait`](Self::wait) waits for one wake-up with a time limit.
///
/// # Examples
///
/// ```
/// use cpuhp_linux::{CpuWatcher, HostIo};
///
/// # if cfg!(target_os = "linux") {
/// let w = CpuWatcher::polling(HostIo::new("/".as_ref(), None)?, std::time::Duration::from_secs(1))?;
/// assert!(w.sets().online.weight() >= 1);
/// assert_eq!(w.source(), "poll");
/// # }
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub struct CpuWatcher<I: SysfsIo> {
    io: I,
    sets: CpuSets,
    source: Source,
    fallback: Option<String>,
    rescan: Duration,
    last_read: Instant,
    pending: VecDeque<CpuChange>,
    stats: WatchStats,
}

impl<I: SysfsIo> fmt::Debug for CpuWatcher<I> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CpuWatcher")
            .field("source", &self.source())
            .field("online", &self.sets.online)
            .field("stats", &self.stats)
            .finish_non_exhaustive()
    }
}

/// One packet of a wake-up, parsed.
struct Seen {
    action: CpuAction,
    cpu: u32,
    seqnum: Option<u64>,
}

impl<I: SysfsIo> CpuWatcher<I> {
    fn with_source(io: I, source: Source) -> Result<CpuWatcher<I>, crate::Error> {
        let sets = CpuSets::read(&io)?;
        Ok(CpuWatcher {
            io,
            sets,
            source,
            fallback: None,
            rescan: Duration::from_secs(2),
            last_read: Instant::now(),
            pending: VecDeque::new(),
            stats: WatchStats::default(),
        })
    }

    /// Listens for uevents; when the socket cannot be opened, polls every second instead
    /// ([`fallback`](Self::fallback) says why).
    ///
    /// # Errors
    ///
    /// The sets cannot be read.
    ///
    /// # Examples
    ///
    /// ```
    /// # if cfg!(target_os = "linux") {
    /// let w = cpuhp_linux::CpuWatcher::new(cpuhp_linux::HostIo::new("/".as_ref(), None)?)?;
    /// assert!(w.source() == "netlink" || w.fallback().is_some());
    /// # }
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn new(io: I) -> Result<CpuWatcher<I>, crate::Error> {
        match open_uevent_socket() {
            Ok(source) => CpuWatcher::with_source(io, source),
            Err(why) => {
                let mut w = CpuWatcher::with_source(io, Source::Poll(Duration::from_secs(1)))?;
                w.fallback = Some(why);
                Ok(w)
            }
        }
    }

    /// Listens for uevents, or fails.
    ///
    /// # Errors
    ///
    /// [`Error::Unsupported`](crate::Error::Unsupported) off Linux; the socket's errno
    /// (`EACCES`, `EPROTONOSUPPORT`, …) as [`Error::Io`](crate::Error::Io); unreadable sets.
    ///
    /// # Examples
    ///
    /// ```
    /// # if cfg!(target_os = "linux") {
    /// match cpuhp_linux::CpuWatcher::netlink(cpuhp_linux::HostIo::new("/".as_ref(), None)?) {
    ///     Ok(w) => assert_eq!(w.source(), "netlink"),
    ///     Err(e) => assert!(e.to_string().contains("NETLINK_KOBJECT_UEVENT")),
    /// }
    /// # }
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn netlink(io: I) -> Result<CpuWatcher<I>, crate::Error> {
        match open_uevent_socket() {
            Ok(source) => CpuWatcher::with_source(io, source),
            Err(why) if cfg!(target_os = "linux") => Err(crate::Error::Io(crate::IoError {
                op: "open",
                path: "NETLINK_KOBJECT_UEVENT socket".into(),
                errno: None,
                detail: why,
            })),
            Err(_) => Err(crate::Error::Unsupported),
        }
    }

    /// Re-reads the sets every `every` (at least 1 ms), without a socket.
    ///
    /// # Errors
    ///
    /// The sets cannot be read.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// let k = cpuhp_linux::SimKernel::new(&cpuhp::preset::LINUX_6_1, 2)?;
    /// let mut w = cpuhp_linux::CpuWatcher::polling(k, Duration::from_millis(1))?;
    /// assert_eq!(w.wait(Some(Duration::ZERO))?, Some(vec![]));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn polling(io: I, every: Duration) -> Result<CpuWatcher<I>, crate::Error> {
        CpuWatcher::with_source(io, Source::Poll(every.max(Duration::from_millis(1))))
    }

    /// Takes uevent packets (the kernel's bytes) from a channel instead of a socket: for tests,
    /// and for programs that already receive uevents. Iteration ends when the sender is dropped
    /// and every packet has been handled.
    ///
    /// # Errors
    ///
    /// The sets cannot be read.
    ///
    /// # Examples
    ///
    /// ```
    /// let (tx, rx) = std::sync::mpsc::channel::<Vec<u8>>();
    /// let k = cpuhp_linux::SimKernel::new(&cpuhp::preset::LINUX_6_1, 2)?;
    /// let mut w = cpuhp_linux::CpuWatcher::with_packets(k, rx)?;
    /// drop(tx);
    /// assert!(w.next().is_none());
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn with_packets(io: I, packets: Receiver<Vec<u8>>) -> Result<CpuWatcher<I>, crate::Error> {
        CpuWatcher::with_source(io, Source::Packets(packets))
    }

    /// How often a uevent source re-reads without a uevent (default 2 s; at least 1 ms).
    ///
    /// # Examples
    ///
    /// ```
    /// let (_tx, rx) = std::sync::mpsc::channel::<Vec<u8>>();
    /// let k = cpuhp_linux::SimKernel::new(&cpuhp::preset::LINUX_6_1, 2)?;
    /// let w = cpuhp_linux::CpuWatcher::with_packets(k, rx)?.rescan(std::time::Duration::from_secs(9));
    /// # let _ = w;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    #[must_use]
    pub fn rescan(mut self, every: Duration) -> CpuWatcher<I> {
        self.rescan = every.max(Duration::from_millis(1));
        self
    }

    /// The sets as last read.
    pub fn sets(&self) -> &CpuSets {
        &self.sets
    }

    /// `netlink`, `poll` or `packets`.
    pub fn source(&self) -> &'static str {
        match self.source {
            #[cfg(target_os = "linux")]
            Source::Netlink(_) => "netlink",
            Source::Poll(_) => "poll",
            Source::Packets(_) => "packets",
        }
    }

    /// Why [`new`](Self::new) fell back to polling, if it did.
    pub fn fallback(&self) -> Option<&str> {
        self.fallback.as_deref()
    }

    /// The counters.
    pub fn stats(&self) -> WatchStats {
        self.stats
    }

    /// The file system.
    pub fn io(&self) -> &I {
        &self.io
    }

    /// The file system, mutably (a [`Follower`](crate::Follower) writes `online` through it).
    pub fn io_mut(&mut self) -> &mut I {
        &mut self.io
    }

    /// Re-reads the sets now and returns what changed (each with [`Cause::Reread`]).
    ///
    /// # Errors
    ///
    /// The sets cannot be read (the old ones are kept).
    ///
    /// # Examples
    ///
    /// ```
    /// use cpuhp_linux::{CpuAction, CpuWatcher, Fs, SimKernel, SysfsIo};
    /// let (_tx, rx) = std::sync::mpsc::channel::<Vec<u8>>();
    /// let mut w = CpuWatcher::with_packets(SimKernel::new(&cpuhp::preset::LINUX_6_1, 2)?, rx)?;
    /// w.io_mut().write(Fs::Cpu, "cpu1/online", "0")?;
    /// let c = w.resync()?;
    /// assert_eq!((c[0].action, c[0].cpu), (CpuAction::Offline, 1));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn resync(&mut self) -> Result<Vec<CpuChange>, crate::Error> {
        self.reread(&[])
    }

    fn reread(&mut self, seen: &[Seen]) -> Result<Vec<CpuChange>, crate::Error> {
        self.stats.rereads += 1;
        self.last_read = Instant::now();
        let new = CpuSets::read(&self.io)?;
        let at = SystemTime::now();
        let mut diff = self.sets.diff(&new);
        // A CPU that went and came back between two reads shows no difference, but its uevents
        // tell: a worker pinned to it lost its affinity when it went. Report both changes, in
        // the order they happened (the kernel sends the uevent after the change).
        for (down, up, was) in [
            (CpuAction::Offline, CpuAction::Online, &self.sets.online),
            (CpuAction::Remove, CpuAction::Add, &self.sets.present),
        ] {
            let now = if down == CpuAction::Offline {
                &new.online
            } else {
                &new.present
            };
            let mut cpus: Vec<u32> = seen.iter().map(|s| s.cpu).collect();
            cpus.sort_unstable();
            cpus.dedup();
            for c in cpus {
                let (before, after) = (was.contains(CpuId(c)), now.contains(CpuId(c)));
                let saw = |a: CpuAction| seen.iter().any(|s| s.cpu == c && s.action == a);
                if before && after && saw(down) {
                    diff.push((down, c));
                    diff.push((up, c));
                } else if !before && !after && saw(up) {
                    diff.push((up, c));
                    diff.push((down, c));
                }
            }
        }
        let cause = |action: CpuAction, cpu: u32| {
            seen.iter()
                .rev()
                .find(|s| s.action == action && s.cpu == cpu)
                .map_or(Cause::Reread, |s| Cause::Uevent { seqnum: s.seqnum })
        };
        let matched = seen
            .iter()
            .filter(|s| diff.contains(&(s.action, s.cpu)))
            .count() as u64;
        self.stats.stale += seen.len() as u64 - matched;
        let changes = diff
            .into_iter()
            .map(|(action, cpu)| CpuChange {
                cpu,
                action,
                cause: cause(action, cpu),
                at,
                online: new.online.clone(),
            })
            .collect();
        self.sets = new;
        Ok(changes)
    }

    /// Handles one packet: returns whether it calls for a re-read.
    fn take_packet(&mut self, packet: &[u8], seen: &mut Vec<Seen>) -> bool {
        self.stats.packets += 1;
        match parse_uevent(packet) {
            Ok(u) => match u.cpu_event() {
                Some((action, cpu)) => {
                    self.stats.cpu_events += 1;
                    seen.push(Seen {
                        action,
                        cpu,
                        seqnum: u.seqnum,
                    });
                    true
                }
                None => {
                    self.stats.ignored += 1;
                    false
                }
            },
            Err(_) => {
                self.stats.malformed += 1;
                true
            }
        }
    }

    /// Waits for one wake-up (at most `timeout`; `None`: no limit) and returns the changes it
    /// revealed, possibly none. `Ok(None)`: a packet channel was closed and drained.
    ///
    /// # Errors
    ///
    /// The sets cannot be read; the socket failed (other than by overflowing, which only
    /// forces a re-read).
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// use cpuhp_linux::{CpuWatcher, SimKernel};
    /// let (tx, rx) = std::sync::mpsc::channel::<Vec<u8>>();
    /// let mut w = CpuWatcher::with_packets(SimKernel::new(&cpuhp::preset::LINUX_6_1, 2)?, rx)?;
    /// tx.send(b"change@/devices/virtual/misc/x\0SUBSYSTEM=misc\0".to_vec())?;
    /// assert_eq!(w.wait(Some(Duration::ZERO))?, Some(vec![]));
    /// assert_eq!((w.stats().ignored, w.stats().rereads), (1, 0));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn wait(
        &mut self,
        timeout: Option<Duration>,
    ) -> Result<Option<Vec<CpuChange>>, crate::Error> {
        let mut seen = Vec::new();
        let mut reread = false;
        match &self.source {
            Source::Poll(every) => {
                // Re-read when `every` has passed since the last read, however short the waits
                // the caller asks for.
                let due = every.saturating_sub(self.last_read.elapsed());
                std::thread::sleep(timeout.map_or(due, |t| t.min(due)));
                reread = self.last_read.elapsed() >= *every;
            }
            Source::Packets(rx) => {
                let first = match timeout {
                    None => rx.recv().map_err(|_| RecvTimeoutError::Disconnected),
                    Some(t) => rx.recv_timeout(t),
                };
                let mut packets = Vec::new();
                match first {
                    Ok(p) => packets.push(p),
                    Err(RecvTimeoutError::Timeout) => {}
                    Err(RecvTimeoutError::Disconnected) => return Ok(None),
                }
                // Everything already queued belongs to this wake-up, as a socket's backlog does.
                while let Ok(p) = rx.try_recv() {
                    packets.push(p);
                }
                for p in packets {
                    reread |= self.take_packet(&p, &mut seen);
                }
            }
            #[cfg(target_os = "linux")]
            Source::Netlink(fd) => {
                let limit = timeout.map_or(self.rescan, |t| t.min(self.rescan));
                let (packets, overflowed) = receive(fd, limit)?;
                if overflowed {
                    self.stats.overflows += 1;
                    reread = true;
                }
                if packets.is_empty() && self.last_read.elapsed() >= self.rescan {
                    reread = true;
                }
                for p in packets {
                    reread |= self.take_packet(&p, &mut seen);
                }
            }
        }
        if !reread {
            return Ok(Some(Vec::new()));
        }
        self.reread(&seen).map(Some)
    }
}

#[cfg(target_os = "linux")]
fn netlink_error(op: &'static str, detail: &str) -> crate::Error {
    crate::Error::Io(crate::IoError {
        op,
        path: "NETLINK_KOBJECT_UEVENT socket".into(),
        errno: None,
        detail: detail.to_string(),
    })
}

/// Opens a socket on the kernel's uevent multicast group (group 1; udev's re-broadcasts are
/// group 2, with a `libudev` header).
#[cfg(target_os = "linux")]
fn open_uevent_socket() -> Result<Source, String> {
    use rustix::net::netlink::{self, SocketAddrNetlink};
    use rustix::net::{AddressFamily, SocketFlags, bind, socket_with};
    use rustix::net::{SocketType, sockopt};
    let fd = socket_with(
        AddressFamily::NETLINK,
        SocketType::RAW,
        SocketFlags::CLOEXEC | SocketFlags::NONBLOCK,
        Some(netlink::KOBJECT_UEVENT),
    )
    .map_err(|e| format!("socket(NETLINK_KOBJECT_UEVENT): {e}"))?;
    bind(&fd, &SocketAddrNetlink::new(0, 1))
        .map_err(|e| format!("bind(NETLINK_KOBJECT_UEVENT, group 1): {e}"))?;
    // A larger backlog makes an overflow (a burst of uevents while the program is busy) rarer;
    // one costs only a re-read. Failing to enlarge it is harmless.
    let _ = sockopt::set_socket_recv_buffer_size(&fd, 1 << 20);
    Ok(Source::Netlink(fd))
}

#[cfg(not(target_os = "linux"))]
fn open_uevent_socket() -> Result<Source, String> {
    Err("uevent sockets exist only on Linux".into())
}

/// Waits up to `limit` for the socket to become readable, then drains it. Returns the packets
/// and whether the kernel dropped some (`ENOBUFS`).
#[cfg(target_os = "linux")]
fn receive(
    fd: &std::os::fd::OwnedFd,
    limit: Duration,
) -> Result<(Vec<Vec<u8>>, bool), crate::Error> {
    use rustix::event::{PollFd, PollFlags, Timespec, poll};
    use rustix::io::Errno;
    use rustix::net::{RecvFlags, recv};
    let ts = Timespec::try_from(limit).unwrap_or(Timespec {
        tv_sec: i64::MAX,
        tv_nsec: 0,
    });
    let mut fds = [PollFd::new(fd, PollFlags::IN)];
    match poll(&mut fds, Some(&ts)) {
        Ok(_) | Err(Errno::INTR) => {}
        Err(e) => return Err(netlink_error("poll", &e.to_string())),
    }
    let mut packets = Vec::new();
    let mut overflowed = false;
    // A uevent is at most UEVENT_BUFFER_SIZE (2048) bytes of fields plus its header.
    let mut buf = vec![0u8; 16 * 1024];
    loop {
        match recv(fd, &mut buf[..], RecvFlags::DONTWAIT | RecvFlags::TRUNC) {
            Ok((got, _len)) => {
                // A truncated packet (`_len > got`) is kept as it is: the parser rejects it as
                // malformed, and a malformed packet forces a re-read.
                packets.push(buf[..got].to_vec());
            }
            Err(Errno::AGAIN | Errno::INTR) => break,
            Err(Errno::NOBUFS) => overflowed = true,
            Err(e) => return Err(netlink_error("recv", &e.to_string())),
        }
    }
    Ok((packets, overflowed))
}

impl<I: SysfsIo> Iterator for CpuWatcher<I> {
    type Item = Result<CpuChange, crate::Error>;

    /// The next change, waiting for it as long as it takes.
    fn next(&mut self) -> Option<Self::Item> {
        loop {
            if let Some(c) = self.pending.pop_front() {
                return Some(Ok(c));
            }
            match self.wait(None) {
                Ok(Some(changes)) => self.pending.extend(changes),
                Ok(None) => return None,
                Err(e) => return Some(Err(e)),
            }
        }
    }
}

/// A boxed file system is one too, so that a program choosing its file system at run time
/// (`HostIo` or `SimKernel`) can hand a `Box<dyn SysfsIo>` to a [`CpuWatcher`].
impl<T: SysfsIo + ?Sized> SysfsIo for Box<T> {
    fn read(&self, fs: Fs, rel: &str) -> Result<String, crate::IoError> {
        (**self).read(fs, rel)
    }
    fn write(&mut self, fs: Fs, rel: &str, value: &str) -> Result<(), crate::IoError> {
        (**self).write(fs, rel, value)
    }
    fn exists(&self, fs: Fs, rel: &str) -> bool {
        (**self).exists(fs, rel)
    }
    fn writable(&self, fs: Fs, rel: &str) -> bool {
        (**self).writable(fs, rel)
    }
    fn mkdir(&mut self, fs: Fs, rel: &str) -> Result<(), crate::IoError> {
        (**self).mkdir(fs, rel)
    }
    fn rmdir(&mut self, fs: Fs, rel: &str) -> Result<(), crate::IoError> {
        (**self).rmdir(fs, rel)
    }
    fn list(&self, fs: Fs, rel: &str) -> Result<Vec<String>, crate::IoError> {
        (**self).list(fs, rel)
    }
    fn display(&self, fs: Fs, rel: &str) -> String {
        (**self).display(fs, rel)
    }
    fn tracefs(&self) -> Result<(String, &'static str), String> {
        (**self).tracefs()
    }
    fn is_root(&self) -> bool {
        (**self).is_root()
    }
    fn uname_release(&self) -> Option<String> {
        (**self).uname_release()
    }
}

/// The changes of a [`CpuWatcher`] as an async [`Stream`](futures_core::Stream) (feature
/// `tokio`). The watcher runs on a thread of its own, blocking as the iterator does, and hands
/// each change over a channel that wakes the task; dropping the stream stops the thread within a
/// quarter of a second.
///
/// # Examples
///
/// ```
/// use cpuhp_linux::{CpuAction, CpuWatcher, Fs, SimKernel, SysfsIo};
///
/// let (tx, rx) = std::sync::mpsc::channel();
/// let mut w = CpuWatcher::with_packets(SimKernel::new(&cpuhp::preset::LINUX_6_1, 2)?, rx)?;
/// w.io_mut().write(Fs::Cpu, "cpu1/online", "0")?;
/// tx.send(b"offline@/devices/system/cpu/cpu1\0SUBSYSTEM=cpu\0".to_vec())?;
/// drop(tx);
/// let mut stream = w.into_stream();
/// // In a task: `while let Some(change) = stream.next().await { … }` (`StreamExt`).
/// let c = stream.blocking_next().unwrap()?;
/// assert_eq!((c.action, c.cpu), (CpuAction::Offline, 1));
/// assert!(stream.blocking_next().is_none());
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[cfg(feature = "tokio")]
#[derive(Debug)]
pub struct CpuChangeStream {
    rx: tokio::sync::mpsc::Receiver<Result<CpuChange, crate::Error>>,
}

#[cfg(feature = "tokio")]
impl CpuChangeStream {
    /// Waits for the next change outside async code (a blocking thread, a test).
    pub fn blocking_next(&mut self) -> Option<Result<CpuChange, crate::Error>> {
        self.rx.blocking_recv()
    }
}

#[cfg(feature = "tokio")]
impl futures_core::Stream for CpuChangeStream {
    type Item = Result<CpuChange, crate::Error>;

    fn poll_next(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<Self::Item>> {
        self.rx.poll_recv(cx)
    }
}

#[cfg(feature = "tokio")]
impl<I: SysfsIo + Send + 'static> CpuWatcher<I> {
    /// Turns the watcher into an async stream of its changes (feature `tokio`). The stream ends
    /// when the watcher's source ends (a closed packet channel) or after an error.
    pub fn into_stream(mut self) -> CpuChangeStream {
        let (tx, rx) = tokio::sync::mpsc::channel(64);
        std::thread::spawn(move || {
            while !tx.is_closed() {
                match self.wait(Some(Duration::from_millis(250))) {
                    Ok(Some(changes)) => {
                        for c in changes {
                            if tx.blocking_send(Ok(c)).is_err() {
                                return;
                            }
                        }
                    }
                    Ok(None) => return,
                    Err(e) => {
                        let _ = tx.blocking_send(Err(e));
                        return;
                    }
                }
            }
        });
        CpuChangeStream { rx }
    }
}
