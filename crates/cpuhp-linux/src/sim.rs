//! [`SimKernel`]: the simulator behind the [`SysfsIo`] interface — a kernel that reacts to
//! writes (an `online` write runs the state machine, a `fail` write makes the next operation fail
//! and roll back) and traces into tracefs instances, in the kernel's own text format. For dry
//! runs (`cpuhp linux --simulate N`) and for tests that cannot write to a real kernel.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use cpuhp::preset::Preset;
use cpuhp::{Context, Errno, Hotplug, InstanceId, Platform, Topology, TraceEvent, Traced, Tracer};

use crate::io::{Fs, IoError, SysfsIo};

/// The three cpuhp tracepoints.
const EVENTS: [&str; 3] = ["cpuhp_enter", "cpuhp_multi_enter", "cpuhp_exit"];

/// One tracefs instance: which events it records, whether it is on, and its buffer.
/// Ring buffers a tracefs instance allocates here: its trace buffer and the snapshot buffer (the
/// simulated kernel has snapshot support: an instance has a `snapshot` file).
const RING_BUFFERS_PER_INSTANCE: u32 = 2;

#[derive(Debug, Default)]
struct Instance {
    enabled: [bool; 3],
    on: bool,
    lines: Vec<String>,
    /// The ring buffers this instance allocated, as instances of the ring-buffer state.
    ring_buffers: Vec<InstanceId>,
}

/// The tracing side, shared by the kernel (which writes) and the platform (which traces).
#[derive(Debug, Default)]
struct Tracing {
    instances: BTreeMap<String, Instance>,
    clock_us: u64,
}

fn lock(t: &Mutex<Tracing>) -> MutexGuard<'_, Tracing> {
    t.lock().unwrap_or_else(PoisonError::into_inner)
}

/// Runs everything inline, like [`cpuhp::Inline`], and writes each traced event into the
/// instances that record it, as the kernel would print it.
#[derive(Debug, Default)]
struct TracingPlatform {
    tracing: Arc<Mutex<Tracing>>,
}

impl Tracer for TracingPlatform {
    fn trace(&self, event: &TraceEvent<'_>) {
        let (which, text, cpu, context) = match *event {
            TraceEvent::Enter {
                cpu,
                target,
                step,
                symbol,
                instance,
                context,
                ..
            } => {
                let multi = instance.is_some();
                let t = cpuhp::ftrace_enter_text(cpu.0, target.get(), step.get(), symbol, multi);
                (usize::from(multi), t, cpu, context)
            }
            TraceEvent::Exit {
                cpu,
                state,
                step,
                result,
                context,
                ..
            } => {
                let ret = result.map_or_else(Errno::to_neg, |()| 0);
                let t = cpuhp::ftrace_exit_text(cpu.0, state.get(), step.get(), ret);
                (2, t, cpu, context)
            }
            _ => return,
        };
        // Linux records nothing while a CPU runs with interrupts off (RCU is not watching it).
        let (comm, pid, on) = match context {
            Context::Control => ("bash".to_string(), 1000, 0),
            Context::ApThread => (format!("cpuhp/{}", cpu.0), 14 + 6 * cpu.0, cpu.0),
            Context::ApAtomic => return,
        };
        let mut t = lock(&self.tracing);
        t.clock_us += 1;
        let ts = t.clock_us;
        for inst in t.instances.values_mut() {
            if inst.on && inst.enabled[which] {
                inst.lines.push(format!(
                    "{comm:>16}-{pid:<7} [{on:03}] ..... {:5}.{:06}: {text}",
                    100 + ts / 1_000_000,
                    ts % 1_000_000
                ));
            }
        }
    }
}

/// The simulated Linux machine behind [`SysfsIo`]: `/sys/devices/system/cpu` is the
/// simulator's [`sysfs_read`](cpuhp::Hotplug::sysfs_read)/[`sysfs_write`](cpuhp::Hotplug::sysfs_write);
/// tracefs has `instances/` whose `events/cpuhp/*/enable`, `tracing_on` and `trace` work as
/// the kernel's; the root has `proc/mounts` and `proc/sys/kernel/osrelease`.
///
/// # Examples
///
/// ```
/// use cpuhp_linux::{Fs, SimKernel, SysfsIo};
///
/// let mut k = SimKernel::new(&cpuhp::preset::LINUX_6_1, 4)?;
/// k.write(Fs::Cpu, "cpu2/hotplug/fail", "235")?;
/// let err = k.write(Fs::Cpu, "cpu2/online", "0").unwrap_err();
/// assert_eq!(err.errno, Some(cpuhp::Errno::EAGAIN));
/// assert_eq!(k.read(Fs::Cpu, "cpu2/hotplug/state")?, "236\n", "rolled back");
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub struct SimKernel {
    hp: Hotplug<Traced<TracingPlatform>>,
    tracing: Arc<Mutex<Tracing>>,
    kernel: String,
    isolated: String,
    nohz_full: Option<String>,
    root: bool,
    state_control: bool,
    failing: HashMap<(&'static str, Fs, String), Errno>,
}

impl std::fmt::Debug for SimKernel {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SimKernel")
            .field("kernel", &self.kernel)
            .field("cpus", &self.hp.nr_cpus())
            .finish_non_exhaustive()
    }
}

impl SimKernel {
    /// A machine with `cpus` CPUs booted with `preset`, all online.
    ///
    /// # Errors
    ///
    /// The preset does not boot (an invalid layout, zero CPUs).
    ///
    /// # Examples
    ///
    /// ```
    /// let k = cpuhp_linux::SimKernel::new(&cpuhp::preset::LINUX_6_1, 2)?;
    /// assert_eq!(k.hotplug().online_mask().to_string(), "0-1");
    /// # Ok::<(), cpuhp::Error>(())
    /// ```
    pub fn new(preset: &Preset, cpus: u32) -> Result<SimKernel, cpuhp::Error> {
        let platform = TracingPlatform::default();
        let tracing = Arc::clone(&platform.tracing);
        let hp = Hotplug::new(preset, Topology::new(cpus), Traced(platform))?;
        Ok(SimKernel {
            hp,
            tracing,
            kernel: preset.kernel.to_string(),
            isolated: "\n".into(),
            nohz_full: None,
            root: true,
            state_control: preset.state_control,
            failing: HashMap::new(),
        })
    }

    /// Sets `isolated` (and `nohz_full`, which the file then exists for) as list texts.
    ///
    /// # Examples
    ///
    /// ```
    /// use cpuhp_linux::{Fs, SimKernel, SysfsIo};
    /// let k = SimKernel::new(&cpuhp::preset::LINUX_6_1, 4)?.with_isolation("2-3", Some("3"));
    /// assert_eq!(k.read(Fs::Cpu, "nohz_full")?, "3\n");
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    #[must_use]
    pub fn with_isolation(mut self, isolated: &str, nohz_full: Option<&str>) -> SimKernel {
        self.isolated = format!("{isolated}\n");
        self.nohz_full = nohz_full.map(|n| format!("{n}\n"));
        self
    }

    /// Runs as root (`true`, the default) or not.
    ///
    /// # Examples
    ///
    /// ```
    /// use cpuhp_linux::{SimKernel, SysfsIo};
    /// assert!(!SimKernel::new(&cpuhp::preset::LINUX_6_1, 2)?.as_root(false).is_root());
    /// # Ok::<(), cpuhp::Error>(())
    /// ```
    #[must_use]
    pub fn as_root(mut self, root: bool) -> SimKernel {
        self.root = root;
        self
    }

    /// Makes every later `op` (`read`, `write`, `mkdir`, `rmdir`) of `rel`, or of any path ending
    /// in `/rel` (`tracing_on` of whichever instance), fail with `errno`: a kernel or file
    /// system error the state machine does not model.
    ///
    /// # Examples
    ///
    /// ```
    /// use cpuhp_linux::{Fs, SimKernel, SysfsIo};
    /// let mut k = SimKernel::new(&cpuhp::preset::LINUX_6_1, 2)?;
    /// k.fail_path("write", Fs::Cpu, "cpu1/online", cpuhp::Errno::EBUSY);
    /// assert!(k.write(Fs::Cpu, "cpu1/online", "0").is_err());
    /// # Ok::<(), cpuhp::Error>(())
    /// ```
    pub fn fail_path(&mut self, op: &'static str, fs: Fs, rel: &str, errno: Errno) {
        self.failing.insert((op, fs, rel.to_string()), errno);
    }

    /// The simulated machine.
    pub fn hotplug(&self) -> &Hotplug<impl Platform + use<>> {
        &self.hp
    }

    /// The names of the tracefs instances that exist.
    ///
    /// # Examples
    ///
    /// ```
    /// use cpuhp_linux::{Fs, SimKernel, SysfsIo};
    /// let mut k = SimKernel::new(&cpuhp::preset::LINUX_6_1, 2)?;
    /// k.mkdir(Fs::Tracing, "instances/x")?;
    /// assert_eq!(k.instances(), ["x"]);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn instances(&self) -> Vec<String> {
        lock(&self.tracing).instances.keys().cloned().collect()
    }

    fn check(&self, op: &'static str, fs: Fs, rel: &str) -> Result<(), IoError> {
        let hit = self.failing.iter().find(|((o, f, r), _)| {
            *o == op && *f == fs && (rel == r || rel.ends_with(&format!("/{r}")))
        });
        match hit {
            Some((_, e)) => Err(IoError::new(op, self.display(fs, rel), *e)),
            None => Ok(()),
        }
    }

    /// An instance file: (instance, file inside it).
    fn instance_file(rel: &str) -> Option<(&str, &str)> {
        rel.strip_prefix("instances/")?.split_once('/')
    }
}

impl SysfsIo for SimKernel {
    fn read(&self, fs: Fs, rel: &str) -> Result<String, IoError> {
        self.check("read", fs, rel)?;
        let enoent = || IoError::new("read", self.display(fs, rel), Errno::ENOENT);
        match fs {
            Fs::Cpu => match rel {
                "isolated" => Ok(self.isolated.clone()),
                "nohz_full" => self.nohz_full.clone().ok_or_else(enoent),
                _ => self
                    .hp
                    .sysfs_read(rel)
                    .map_err(|e| IoError::new("read", self.display(fs, rel), e)),
            },
            Fs::Root => match rel {
                "proc/mounts" => Ok("sysfs /sys sysfs rw 0 0\n\
                                     tracefs /sys/kernel/tracing tracefs rw 0 0\n"
                    .into()),
                "proc/sys/kernel/osrelease" => Ok(format!("{}\n", self.kernel)),
                _ if rel.strip_prefix("boot/config-") == Some(self.kernel.as_str()) => {
                    Ok(if self.state_control {
                        "CONFIG_HOTPLUG_CPU=y\nCONFIG_CPU_HOTPLUG_STATE_CONTROL=y\n".into()
                    } else {
                        "CONFIG_HOTPLUG_CPU=y\n# CONFIG_CPU_HOTPLUG_STATE_CONTROL is not set\n"
                            .into()
                    })
                }
                _ => Err(enoent()),
            },
            Fs::Tracing => {
                let (name, file) = Self::instance_file(rel).ok_or_else(enoent)?;
                let t = lock(&self.tracing);
                let inst = t.instances.get(name).ok_or_else(enoent)?;
                match file {
                    "trace" => {
                        let mut out = String::from("# tracer: nop\n#\n");
                        for l in &inst.lines {
                            out.push_str(l);
                            out.push('\n');
                        }
                        Ok(out)
                    }
                    "tracing_on" => Ok(format!("{}\n", u8::from(inst.on))),
                    _ => Err(enoent()),
                }
            }
        }
    }

    fn write(&mut self, fs: Fs, rel: &str, value: &str) -> Result<(), IoError> {
        self.check("write", fs, rel)?;
        let shown = self.display(fs, rel);
        let err = |e| IoError::new("write", shown.clone(), e);
        match fs {
            Fs::Cpu => self.hp.sysfs_write(rel, value).map_err(err),
            Fs::Root => Err(err(Errno::EACCES)),
            Fs::Tracing => {
                let (name, file) = Self::instance_file(rel).ok_or_else(|| err(Errno::ENOENT))?;
                if file == "trace_clock" {
                    // One clock: the simulator's events are ordered whatever is chosen.
                    return match value.trim() {
                        "local" | "global" | "counter" | "mono" => Ok(()),
                        _ => Err(err(Errno::EINVAL)),
                    };
                }
                let on = match value.trim() {
                    "1" => true,
                    "0" => false,
                    _ => return Err(err(Errno::EINVAL)),
                };
                let mut t = lock(&self.tracing);
                let inst = t
                    .instances
                    .get_mut(name)
                    .ok_or_else(|| err(Errno::ENOENT))?;
                match file {
                    "tracing_on" => inst.on = on,
                    "events/cpuhp/enable" => inst.enabled = [on; 3],
                    _ => {
                        let ev = file
                            .strip_prefix("events/cpuhp/")
                            .and_then(|f| f.strip_suffix("/enable"))
                            .and_then(|e| EVENTS.iter().position(|n| *n == e))
                            .ok_or_else(|| err(Errno::ENOENT))?;
                        inst.enabled[ev] = on;
                    }
                }
                Ok(())
            }
        }
    }

    fn exists(&self, fs: Fs, rel: &str) -> bool {
        match fs {
            Fs::Cpu => {
                matches!(rel, "" | "hotplug" | "isolated")
                    || (rel == "nohz_full" && self.nohz_full.is_some())
                    || self.hp.sysfs_read(rel).is_ok()
                    || rel
                        .strip_prefix("cpu")
                        .and_then(|n| n.parse::<u32>().ok())
                        .is_some_and(|n| n < self.hp.nr_cpus())
                    || rel
                        .strip_suffix("/hotplug")
                        .is_some_and(|c| self.hp.sysfs_read(&format!("{c}/hotplug/state")).is_ok())
            }
            Fs::Root => self.read(fs, rel).is_ok(),
            Fs::Tracing => {
                rel.is_empty()
                    || rel == "instances"
                    || match rel.strip_prefix("instances/") {
                        Some(rest) => {
                            let name = rest.split('/').next().unwrap_or(rest);
                            lock(&self.tracing).instances.contains_key(name)
                        }
                        None => false,
                    }
            }
        }
    }

    fn writable(&self, fs: Fs, rel: &str) -> bool {
        match fs {
            Fs::Tracing => self.root && self.exists(fs, rel),
            Fs::Cpu => {
                self.root
                    && (rel.ends_with("/online")
                        || rel.ends_with("/hotplug/target")
                        || rel.ends_with("/hotplug/fail"))
                    && self.exists(fs, rel)
            }
            Fs::Root => false,
        }
    }

    fn mkdir(&mut self, fs: Fs, rel: &str) -> Result<(), IoError> {
        self.check("mkdir", fs, rel)?;
        let shown = self.display(fs, rel);
        let err = |e| IoError::new("mkdir", shown.clone(), e);
        let name = match fs {
            Fs::Tracing => rel.strip_prefix("instances/").filter(|n| !n.contains('/')),
            _ => None,
        }
        .ok_or_else(|| err(Errno::EACCES))?;
        if lock(&self.tracing).instances.contains_key(name) {
            return Err(err(Errno::EEXIST));
        }
        // Like the kernel's, the instance allocates its trace buffer and the snapshot ("max")
        // buffer, each a new instance of the ring-buffer state, whose startup then runs on every
        // CPU that is up (before any event of the new instance is enabled: not recorded there).
        let mut ring_buffers = Vec::new();
        if let Some(state) = self.hp.find_state(crate::record::RING_BUFFER_STATE) {
            for _ in 0..RING_BUFFERS_PER_INSTANCE {
                let id = self
                    .hp
                    .add_instance(state, ())
                    .map_err(|e| err(e.errno()))?;
                ring_buffers.push(id);
            }
        }
        // A new instance records nothing until events are enabled, but is on (as the kernel's).
        lock(&self.tracing).instances.insert(
            name.to_string(),
            Instance {
                on: true,
                ring_buffers,
                ..Instance::default()
            },
        );
        Ok(())
    }

    fn rmdir(&mut self, fs: Fs, rel: &str) -> Result<(), IoError> {
        self.check("rmdir", fs, rel)?;
        let shown = self.display(fs, rel);
        let err = |e| IoError::new("rmdir", shown.clone(), e);
        let name = match fs {
            Fs::Tracing => rel.strip_prefix("instances/").filter(|n| !n.contains('/')),
            _ => None,
        }
        .ok_or_else(|| err(Errno::EACCES))?;
        let instance = lock(&self.tracing)
            .instances
            .remove(name)
            .ok_or_else(|| err(Errno::ENOENT))?;
        // Its ring buffers go with it.
        if let Some(state) = self.hp.find_state(crate::record::RING_BUFFER_STATE) {
            for id in instance.ring_buffers {
                self.hp
                    .remove_instance(state, id)
                    .map_err(|e| err(e.errno()))?;
            }
        }
        Ok(())
    }

    fn list(&self, fs: Fs, rel: &str) -> Result<Vec<String>, IoError> {
        match (fs, rel) {
            (Fs::Cpu, "") => {
                let mut v: Vec<String> =
                    (0..self.hp.nr_cpus()).map(|c| format!("cpu{c}")).collect();
                v.extend(
                    ["hotplug", "isolated", "online", "possible", "present"].map(String::from),
                );
                if self.nohz_full.is_some() {
                    v.push("nohz_full".into());
                }
                v.sort();
                Ok(v)
            }
            (Fs::Tracing, "instances") => Ok(self.instances()),
            _ => Err(IoError::new("list", self.display(fs, rel), Errno::ENOTDIR)),
        }
    }

    fn display(&self, fs: Fs, rel: &str) -> String {
        let base = match fs {
            Fs::Cpu => "/sys/devices/system/cpu",
            Fs::Tracing => "/sys/kernel/tracing",
            Fs::Root => "",
        };
        if rel.is_empty() {
            base.to_string()
        } else {
            format!("{base}/{rel}")
        }
    }

    fn tracefs(&self) -> Result<(String, &'static str), String> {
        Ok(("/sys/kernel/tracing".into(), "/proc/mounts"))
    }

    fn is_root(&self) -> bool {
        self.root
    }

    fn uname_release(&self) -> Option<String> {
        Some(self.kernel.clone())
    }
}
