//! `linux probe`: what this machine allows, each finding with the reason it was concluded.

use std::fmt::Write as _;

use cpuhp::{CpuId, CpuMask};
use serde::Serialize;

use crate::io::{Fs, SysfsIo};

/// A finding and why.
///
/// # Examples
///
/// ```
/// let f = cpuhp_linux::Finding { value: true, reason: "cpu1/online exists".to_string() };
/// assert!(f.value);
/// ```
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Finding<T> {
    /// What was found.
    pub value: T,
    /// How it was concluded.
    pub reason: String,
}

fn found<T>(value: T, reason: impl Into<String>) -> Finding<T> {
    Finding {
        value,
        reason: reason.into(),
    }
}

/// Yes, no, or cannot be told without trying.
///
/// # Examples
///
/// ```
/// assert_eq!(serde_json::to_string(&cpuhp_linux::Tristate::Unknown).unwrap(), "\"unknown\"");
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Tristate {
    /// Yes.
    Yes,
    /// No.
    No,
    /// Only a write would tell.
    Unknown,
}

/// The CPUs as sysfs shows them: the masks every command needs.
///
/// # Examples
///
/// ```
/// use cpuhp_linux::{CpuInfo, SimKernel};
///
/// let k = SimKernel::new(&cpuhp::preset::LINUX_6_1, 4)?.with_isolation("3", None);
/// let info = CpuInfo::read(&k)?;
/// assert_eq!(info.online.to_string(), "0-3");
/// assert_eq!(info.online_files.to_string(), "1-3", "the boot CPU has no online file");
/// assert_eq!(info.housekeeping.to_string(), "0-2");
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CpuInfo {
    /// How many CPUs are possible (the highest possible CPU + 1).
    pub nr_cpus: u32,
    /// `online`.
    pub online: CpuMask,
    /// The CPUs with an `online` file.
    pub online_files: CpuMask,
    /// The CPUs with a `hotplug/` directory (`state`, `target`, `fail`).
    pub hotplug_dirs: CpuMask,
    /// `isolated` (empty if the file is missing).
    pub isolated: CpuMask,
    /// `nohz_full` (empty if the file is missing).
    pub nohz_full: CpuMask,
    /// Online and neither isolated nor `nohz_full`.
    pub housekeeping: CpuMask,
}

/// The highest CPU number in a list text (`0,2-5` → 5).
fn highest(list: &str) -> Option<u32> {
    list.trim()
        .split([',', '-'])
        .filter_map(|n| n.parse::<u32>().ok())
        .max()
}

impl CpuInfo {
    /// Reads the masks.
    ///
    /// # Errors
    ///
    /// `online` (or `possible`) cannot be read or parsed.
    pub fn read(io: &dyn SysfsIo) -> Result<CpuInfo, crate::Error> {
        let possible = io.read(Fs::Cpu, "possible").ok();
        let online_text = io.read(Fs::Cpu, "online")?;
        let nr_cpus = possible
            .as_deref()
            .and_then(highest)
            .max(highest(&online_text))
            .map_or(1, |h| h + 1);
        let parse = |text: &str, file: &str| {
            CpuMask::parse_list(text, nr_cpus).ok_or_else(|| {
                crate::Error::Parse(format!(
                    "{}: not a CPU list: {:?}",
                    io.display(Fs::Cpu, file),
                    text.trim()
                ))
            })
        };
        let online = parse(&online_text, "online")?;
        let optional = |file: &str| match io.read(Fs::Cpu, file) {
            // Linux prints `(null)` for `nohz_full` when none was set at boot (the mask was never
            // allocated, as on Debian's 6.1 kernel without `nohz_full=`): no CPU.
            Ok(t) if t.trim() == "(null)" => Ok(CpuMask::new(nr_cpus)),
            Ok(t) => parse(&t, file),
            Err(_) => Ok(CpuMask::new(nr_cpus)),
        };
        let isolated = optional("isolated")?;
        let nohz_full = optional("nohz_full")?;
        let mut online_files = CpuMask::new(nr_cpus);
        let mut hotplug_dirs = CpuMask::new(nr_cpus);
        let mut housekeeping = CpuMask::new(nr_cpus);
        for c in (0..nr_cpus).map(CpuId) {
            online_files.set(c, io.exists(Fs::Cpu, &format!("cpu{}/online", c.0)));
            hotplug_dirs.set(c, io.exists(Fs::Cpu, &format!("cpu{}/hotplug/state", c.0)));
            housekeeping.set(
                c,
                online.contains(c) && !isolated.contains(c) && !nohz_full.contains(c),
            );
        }
        Ok(CpuInfo {
            nr_cpus,
            online,
            online_files,
            hotplug_dirs,
            isolated,
            nohz_full,
            housekeeping,
        })
    }

    /// The CPUs that must stay online: the lowest housekeeping CPU (the last one must never go),
    /// and every online CPU without an `online` file (it cannot go).
    ///
    /// # Examples
    ///
    /// ```
    /// use cpuhp_linux::{CpuInfo, SimKernel};
    /// let k = SimKernel::new(&cpuhp::preset::LINUX_6_1, 4)?.with_isolation("0-1", None);
    /// assert_eq!(CpuInfo::read(&k)?.must_stay().to_string(), "0,2");
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn must_stay(&self) -> CpuMask {
        let mut m = CpuMask::new(self.nr_cpus);
        if let Some(c) = self.housekeeping.iter().next() {
            m.set(c, true);
        }
        for c in self.online.iter() {
            if !self.online_files.contains(c) {
                m.set(c, true);
            }
        }
        m
    }
}

/// What `linux probe` reports.
///
/// # Examples
///
/// ```
/// use cpuhp_linux::{probe, SimKernel};
/// let p = probe(&SimKernel::new(&cpuhp::preset::LINUX_6_1, 2)?.as_root(false))?;
/// assert!(!p.root.value);
/// assert_eq!(p.online_files.value, "1");
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Probe {
    /// The kernel release.
    pub kernel: Finding<Option<String>>,
    /// CPU hotplug is compiled in (`CONFIG_HOTPLUG_CPU`).
    pub hotplug: Finding<bool>,
    /// The online CPUs.
    pub online: Finding<String>,
    /// The CPUs with an `online` file (the ones that can be taken offline).
    pub online_files: Finding<String>,
    /// `hotplug/target` accepts intermediate states (`CONFIG_CPU_HOTPLUG_STATE_CONTROL`).
    pub state_control: Finding<Tristate>,
    /// `hotplug/fail` exists.
    pub fail: Finding<bool>,
    /// The tracefs mount point.
    pub tracefs: Finding<Option<String>>,
    /// tracefs can be written (instances created) by this process.
    pub tracefs_writable: Finding<bool>,
    /// Running as root.
    pub root: Finding<bool>,
    /// Isolated CPUs.
    pub isolated: Finding<String>,
    /// `nohz_full` CPUs.
    pub nohz_full: Finding<String>,
    /// Online CPUs that are neither isolated nor `nohz_full`.
    pub housekeeping: Finding<String>,
    /// CPUs that every command refuses to take offline.
    pub must_stay: Finding<String>,
}

/// Looks at what the machine allows, writing nothing.
///
/// # Errors
///
/// `online` cannot be read or parsed (not a Linux `/sys/devices/system/cpu`).
///
/// # Examples
///
/// ```
/// use cpuhp_linux::{probe, SimKernel, Tristate};
///
/// let p = probe(&SimKernel::new(&cpuhp::preset::LINUX_6_1, 4)?)?;
/// assert!(p.hotplug.value);
/// assert_eq!(p.state_control.value, Tristate::No);
/// assert_eq!(p.must_stay.value, "0");
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn probe(io: &dyn SysfsIo) -> Result<Probe, crate::Error> {
    let info = CpuInfo::read(io)?;
    let kernel = match io.read(Fs::Root, "proc/sys/kernel/osrelease") {
        Ok(r) => found(Some(r.trim().to_string()), "proc/sys/kernel/osrelease"),
        Err(_) => match io.uname_release() {
            Some(r) => found(
                Some(r),
                "uname(2) (no proc/sys/kernel/osrelease under the root)",
            ),
            None => found(None, "no proc/sys/kernel/osrelease and no uname"),
        },
    };
    let first_file = info.online_files.iter().next();
    let hotplug = match first_file {
        Some(c) => found(true, format!("cpu{}/online exists", c.0)),
        None if io.exists(Fs::Cpu, "hotplug/states") => {
            found(true, "hotplug/states exists, but no CPU has an online file")
        }
        None => found(
            false,
            "no cpuN/online and no hotplug/states: CONFIG_HOTPLUG_CPU is off",
        ),
    };
    let online_files = found(
        info.online_files.to_string(),
        match info.online.iter().find(|c| !info.online_files.contains(*c)) {
            Some(c) => format!("cpu{}/online is missing: that CPU cannot be offlined", c.0),
            None => "every CPU has an online file".to_string(),
        },
    );
    let state_control = probe_state_control(io, kernel.value.as_deref());
    let fail_cpu = info.hotplug_dirs.iter().next();
    let fail = match fail_cpu {
        Some(c) if io.exists(Fs::Cpu, &format!("cpu{}/hotplug/fail", c.0)) => {
            found(true, format!("cpu{}/hotplug/fail exists", c.0))
        }
        Some(c) => found(false, format!("cpu{}/hotplug/fail is missing", c.0)),
        None => found(false, "no cpuN/hotplug directory"),
    };
    let (tracefs, tracefs_writable) = match io.tracefs() {
        Ok((path, how)) => {
            let w = io.writable(Fs::Tracing, "instances");
            (
                found(Some(path.clone()), format!("from {how}")),
                found(
                    w,
                    if w {
                        format!("access({path}/instances, W_OK) succeeds")
                    } else {
                        format!("access({path}/instances, W_OK) fails: recording needs root")
                    },
                ),
            )
        }
        Err(why) => (found(None, why.clone()), found(false, why)),
    };
    let root = io.is_root();
    let root = found(
        root,
        if root {
            "effective uid 0"
        } else {
            "effective uid is not 0: writes will fail with EACCES"
        },
    );
    let optional = |file: &str, mask: &CpuMask| {
        let reason = if io.exists(Fs::Cpu, file) {
            file.to_string()
        } else {
            format!("{file} does not exist")
        };
        found(mask.to_string(), reason)
    };
    let must = info.must_stay();
    let must_stay = found(
        must.to_string(),
        match info.housekeeping.iter().next() {
            Some(c) => format!(
                "CPU {} is the lowest online housekeeping CPU; online CPUs without an online file stay too",
                c.0
            ),
            None => "no online housekeeping CPU".to_string(),
        },
    );
    Ok(Probe {
        kernel,
        hotplug,
        online: found(info.online.to_string(), "online"),
        online_files,
        state_control,
        fail,
        tracefs,
        tracefs_writable,
        root,
        isolated: optional("isolated", &info.isolated),
        nohz_full: optional("nohz_full", &info.nohz_full),
        housekeeping: found(
            info.housekeeping.to_string(),
            "online minus isolated minus nohz_full",
        ),
        must_stay,
    })
}

/// `CONFIG_CPU_HOTPLUG_STATE_CONTROL` from the kernel's build configuration, when the root has
/// it (`boot/config-RELEASE`). Without that option, `target_store` refuses every target but
/// offline and online with `EINVAL`, so only a write could tell otherwise.
fn probe_state_control(io: &dyn SysfsIo, release: Option<&str>) -> Finding<Tristate> {
    let Some(release) = release else {
        return found(
            Tristate::Unknown,
            "kernel release unknown; only a write would tell",
        );
    };
    let file = format!("boot/config-{release}");
    match io.read(Fs::Root, &file) {
        Ok(config) => {
            if config
                .lines()
                .any(|l| l.trim() == "CONFIG_CPU_HOTPLUG_STATE_CONTROL=y")
            {
                found(Tristate::Yes, format!("/{file}: =y"))
            } else {
                found(
                    Tristate::No,
                    format!("/{file}: not set (target accepts only offline and online)"),
                )
            }
        }
        Err(_) => found(
            Tristate::Unknown,
            format!(
                "no /{file}; only a write of an intermediate target would tell (EINVAL without it)"
            ),
        ),
    }
}

impl Probe {
    /// The findings as rows: (name, value, reason).
    fn rows(&self) -> Vec<(&'static str, String, &str)> {
        let b = |v: bool| if v { "yes" } else { "no" }.to_string();
        let m = |v: &str| {
            if v.is_empty() {
                "none".to_string()
            } else {
                v.to_string()
            }
        };
        vec![
            (
                "kernel",
                self.kernel
                    .value
                    .clone()
                    .unwrap_or_else(|| "unknown".into()),
                &self.kernel.reason,
            ),
            ("hotplug", b(self.hotplug.value), &self.hotplug.reason),
            ("online", m(&self.online.value), &self.online.reason),
            (
                "online files",
                m(&self.online_files.value),
                &self.online_files.reason,
            ),
            (
                "state control",
                match self.state_control.value {
                    Tristate::Yes => "yes",
                    Tristate::No => "no",
                    Tristate::Unknown => "unknown",
                }
                .to_string(),
                &self.state_control.reason,
            ),
            ("fail", b(self.fail.value), &self.fail.reason),
            (
                "tracefs",
                self.tracefs.value.clone().unwrap_or_else(|| "none".into()),
                &self.tracefs.reason,
            ),
            (
                "tracefs writable",
                b(self.tracefs_writable.value),
                &self.tracefs_writable.reason,
            ),
            ("root", b(self.root.value), &self.root.reason),
            ("isolated", m(&self.isolated.value), &self.isolated.reason),
            (
                "nohz_full",
                m(&self.nohz_full.value),
                &self.nohz_full.reason,
            ),
            (
                "housekeeping",
                m(&self.housekeeping.value),
                &self.housekeeping.reason,
            ),
            (
                "must stay",
                m(&self.must_stay.value),
                &self.must_stay.reason,
            ),
        ]
    }

    /// A table: one finding per line, `NAME  VALUE  REASON`.
    ///
    /// # Examples
    ///
    /// ```
    /// use cpuhp_linux::{probe, SimKernel};
    /// let t = probe(&SimKernel::new(&cpuhp::preset::LINUX_6_1, 2)?)?.table();
    /// assert!(t.lines().any(|l| l.starts_with("hotplug           yes")));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn table(&self) -> String {
        let rows = self.rows();
        let w = rows.iter().map(|r| r.1.len()).max().unwrap_or(0).max(5);
        let mut out = format!("{:<17} {:<w$}  REASON\n", "FINDING", "VALUE");
        for (k, v, why) in rows {
            let _ = writeln!(out, "{k:<17} {v:<w$}  {why}");
        }
        out
    }
}
