//! The sysfs-shaped control surface: `/sys/devices/system/cpu/...` as Linux 6.1 serves it.
//!
//! | path | read | write |
//! |---|---|---|
//! | `online`, `present`, `possible` | the mask, `0,2-3` | `EACCES` |
//! | `hotplug/states` | `%3d: name` per installed state | `EACCES` |
//! | `cpuN/online` | `1` unless the device is offline | `0`/`1` (`kstrtobool`): offline/online the device |
//! | `cpuN/hotplug/state` | the CPU's state | `EACCES` |
//! | `cpuN/hotplug/target` | its target | a state: `cpu_up`/`cpu_down` to it |
//! | `cpuN/hotplug/fail` | the armed failure or `-1` | arm a one-shot failure (`-1` disarms) |
//! | `smt/control` | `on`, `off`, `forceoff`, `notsupported` | `on`/`off`/`forceoff` |
//! | `smt/active` | `1` if two threads of a core are online | `EACCES` |
//!
//! Paths may carry the `/sys/devices/system/cpu/` prefix. Unknown paths, and `cpu0/online` on a
//! machine whose boot CPU is not hotpluggable, are `ENOENT`. Errors are Linux's errno values.
//!
//! Like Linux, `cpuN/online` goes through the device model: writing `1` to a device that is not
//! offline succeeds and does nothing, even if a `hotplug/target` write took the CPU down
//! (`target` bypasses the device's `offline` flag).

use alloc::format;
use alloc::string::{String, ToString};
use alloc::vec::Vec;

use crate::trace::Warning;
use crate::{CpuId, Errno, Error, Hotplug, Platform, StateId};

/// The device model's view of the CPUs, behind the sysfs surface.
#[derive(Clone, Debug)]
pub(crate) struct Devices {
    /// The device's `offline` flag per CPU (what `cpuN/online` reads), changed only by
    /// `cpuN/online` writes: `hotplug/target` writes bypass it, as in Linux.
    pub(crate) offline: Vec<bool>,
    /// Whether the CPU has an `online` file (the boot CPU of x86 has none).
    pub(crate) hotpluggable: Vec<bool>,
    /// `CONFIG_CPU_HOTPLUG_STATE_CONTROL`: `hotplug/target` accepts intermediate states.
    pub(crate) state_control: bool,
}

impl Devices {
    pub(crate) fn new(nr_cpus: u32) -> Devices {
        Devices {
            offline: alloc::vec![true; nr_cpus as usize],
            hotpluggable: alloc::vec![true; nr_cpus as usize],
            state_control: false,
        }
    }
}

const PREFIX: &str = "/sys/devices/system/cpu/";

/// A parsed path.
enum Node {
    Online,
    Present,
    Possible,
    States,
    SmtControl,
    SmtActive,
    CpuOnline(CpuId),
    CpuState(CpuId),
    CpuTarget(CpuId),
    CpuFail(CpuId),
}

/// Linux's `kstrtoint` (base 10): optional sign, digits, an optional trailing newline.
fn kstrtoint(s: &str) -> Result<i64, Errno> {
    let t = s.strip_suffix('\n').unwrap_or(s);
    let digits = t
        .strip_prefix('+')
        .or_else(|| t.strip_prefix('-'))
        .unwrap_or(t);
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return Err(Errno::EINVAL);
    }
    let v: i64 = t
        .trim_start_matches('+')
        .parse()
        .map_err(|_| Errno::ERANGE)?;
    if v < i64::from(i32::MIN) || v > i64::from(i32::MAX) {
        return Err(Errno::ERANGE);
    }
    Ok(v)
}

/// Linux's `kstrtobool`: `y Y 1 on` / `n N 0 off`, by their first characters.
fn kstrtobool(s: &str) -> Result<bool, Errno> {
    let b = s.as_bytes();
    match b.first() {
        Some(b'y' | b'Y' | b'1') => Ok(true),
        Some(b'n' | b'N' | b'0') => Ok(false),
        Some(b'o' | b'O') => match b.get(1) {
            Some(b'n' | b'N') => Ok(true),
            Some(b'f' | b'F') => Ok(false),
            _ => Err(Errno::EINVAL),
        },
        _ => Err(Errno::EINVAL),
    }
}

/// Whether `path` names `smt/control`.
#[cfg(feature = "std")]
pub(crate) fn is_smt_control(path: &str) -> bool {
    path.strip_prefix(PREFIX)
        .unwrap_or(path)
        .trim_end_matches('/')
        == "smt/control"
}

impl<P: Platform> Hotplug<P> {
    fn node(&self, path: &str) -> Result<Node, Errno> {
        let rel = path
            .strip_prefix(PREFIX)
            .unwrap_or(path)
            .trim_end_matches('/');
        let node = match rel {
            "online" => Node::Online,
            "present" => Node::Present,
            "possible" => Node::Possible,
            "hotplug/states" => Node::States,
            "smt/control" => Node::SmtControl,
            "smt/active" => Node::SmtActive,
            _ => {
                let rest = rel.strip_prefix("cpu").ok_or(Errno::ENOENT)?;
                let (num, file) = rest.split_once('/').ok_or(Errno::ENOENT)?;
                if num.is_empty() || !num.bytes().all(|b| b.is_ascii_digit()) {
                    return Err(Errno::ENOENT);
                }
                let cpu = CpuId(num.parse().map_err(|_| Errno::ENOENT)?);
                if !self.possible_mask().contains(cpu) {
                    return Err(Errno::ENOENT);
                }
                match file {
                    "online" if self.core().devices.hotpluggable[cpu.index()] => {
                        Node::CpuOnline(cpu)
                    }
                    "hotplug/state" => Node::CpuState(cpu),
                    "hotplug/target" => Node::CpuTarget(cpu),
                    "hotplug/fail" => Node::CpuFail(cpu),
                    _ => return Err(Errno::ENOENT),
                }
            }
        };
        Ok(node)
    }

    /// Reads a sysfs file, newline included.
    ///
    /// # Errors
    ///
    /// `ENOENT` for a path that does not exist.
    ///
    /// # Examples
    ///
    /// ```
    /// use cpuhp::{preset, Hotplug, Inline, Topology};
    ///
    /// let hp = Hotplug::new(&preset::LINUX_6_1, Topology::new(4), Inline)?;
    /// assert_eq!(hp.sysfs_read("/sys/devices/system/cpu/online")?, "0-3\n");
    /// assert_eq!(hp.sysfs_read("cpu1/hotplug/state")?, "236\n");
    /// assert_eq!(hp.sysfs_read("cpu0/online").unwrap_err().code(), 2); // ENOENT: boot CPU
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn sysfs_read(&self, path: &str) -> Result<String, Errno> {
        let st = |cpu: CpuId| self.cpu_status(cpu).ok_or(Errno::ENOENT);
        Ok(match self.node(path)? {
            Node::Online => format!("{}\n", self.online_mask()),
            Node::Present => format!("{}\n", self.present_mask()),
            Node::Possible => format!("{}\n", self.possible_mask()),
            Node::States => {
                let mut out = String::new();
                for (s, name) in self.states() {
                    out.push_str(&format!("{:3}: {name}\n", s.get()));
                }
                out
            }
            Node::SmtControl => format!("{}\n", self.smt_control()),
            Node::SmtActive => format!("{}\n", u8::from(self.smt_active())),
            Node::CpuOnline(cpu) => {
                format!("{}\n", u8::from(!self.core().devices.offline[cpu.index()]))
            }
            Node::CpuState(cpu) => format!("{}\n", st(cpu)?.state),
            Node::CpuTarget(cpu) => format!("{}\n", st(cpu)?.target),
            Node::CpuFail(cpu) => match st(cpu)?.fail {
                Some(s) => format!("{s}\n"),
                None => "-1\n".to_string(),
            },
        })
    }

    /// The setting a write of `value` to `smt/control` asks for, or the errno Linux returns
    /// before changing anything (it checks the current setting before parsing).
    pub(crate) fn smt_control_value(&self, value: &str) -> Result<crate::SmtControl, Errno> {
        match value.parse::<crate::SmtControl>() {
            Ok(
                c @ (crate::SmtControl::On | crate::SmtControl::Off | crate::SmtControl::ForceOff),
            ) => Ok(c),
            _ => match self.smt_control() {
                crate::SmtControl::ForceOff => Err(Errno::EPERM),
                crate::SmtControl::NotSupported => Err(Errno::ENODEV),
                _ => Err(Errno::EINVAL),
            },
        }
    }

    /// Writes a sysfs file, as one `write(2)` would.
    ///
    /// # Errors
    ///
    /// Linux's errno: `ENOENT` (no such file), `EACCES` (read-only), `EINVAL` (bad value, or an
    /// invalid state for `target`/`fail`), `EBUSY`, `EPERM`, or the errno of a failing callback
    /// (`EAGAIN` for an injected one).
    ///
    /// # Examples
    ///
    /// ```
    /// use cpuhp::{preset, Errno, Hotplug, Inline, Topology};
    ///
    /// let mut hp = Hotplug::new(&preset::LINUX_6_1, Topology::new(4), Inline)?;
    /// hp.sysfs_write("cpu1/online", "0")?;
    /// assert_eq!(hp.sysfs_read("online")?, "0,2-3\n");
    /// assert_eq!(hp.sysfs_write("cpu1/online", "2"), Err(Errno::EINVAL));
    /// assert_eq!(hp.sysfs_write("cpu1/hotplug/fail", "5000"), Err(Errno::EINVAL));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn sysfs_write(&mut self, path: &str, value: &str) -> Result<(), Errno> {
        match self.node(path)? {
            Node::Online
            | Node::Present
            | Node::Possible
            | Node::States
            | Node::SmtActive
            | Node::CpuState(_) => Err(Errno::EACCES),
            Node::SmtControl => self
                .smt_control_value(value)
                .and_then(|c| self.set_smt_control(c).map_err(Errno::from)),
            Node::CpuOnline(cpu) => if kstrtobool(value)? {
                self.device_online(cpu)
            } else {
                self.device_offline(cpu)
            }
            .map_err(Errno::from),
            Node::CpuTarget(cpu) => self.target_store(cpu, kstrtoint(value)?),
            Node::CpuFail(cpu) => self.fail_store(cpu, kstrtoint(value)?),
        }
    }

    /// Onlines the CPU's device (Linux's `device_online`): nothing to do unless the device is
    /// offline; else `cpu_up` to online.
    ///
    /// # Errors
    ///
    /// As [`Hotplug::cpu_up`].
    ///
    /// # Examples
    ///
    /// ```
    /// use cpuhp::{preset, CpuId, Hotplug, Inline, Topology};
    ///
    /// let mut hp = Hotplug::new(&preset::LINUX_6_1, Topology::new(2), Inline)?;
    /// hp.device_offline(CpuId(1))?;
    /// hp.device_online(CpuId(1))?;
    /// assert_eq!(hp.online_mask().weight(), 2);
    /// # Ok::<(), cpuhp::Error>(())
    /// ```
    pub fn device_online(&mut self, cpu: CpuId) -> Result<(), Error> {
        let i = cpu.index();
        if !self.core().devices.offline.get(i).copied().unwrap_or(false) {
            return Ok(());
        }
        let online = self.layout().online;
        let r = self.cpu_up(cpu, online);
        // Up also when the error reports a panic of a callback that cannot fail.
        if self.core().cpus[i].state == online {
            self.core_mut().0.devices.offline[i] = false;
        }
        r
    }

    /// Offlines the CPU's device (Linux's `device_offline`): nothing to do if it is offline
    /// already; else `cpu_down` to offline.
    ///
    /// # Errors
    ///
    /// As [`Hotplug::cpu_down`].
    ///
    /// # Examples
    ///
    /// ```
    /// use cpuhp::{preset, CpuId, Hotplug, Inline, Topology};
    ///
    /// let mut hp = Hotplug::new(&preset::LINUX_6_1, Topology::new(2), Inline)?;
    /// hp.device_offline(CpuId(1))?;
    /// hp.device_offline(CpuId(1))?; // already offline: nothing happens
    /// assert_eq!(hp.online_mask().weight(), 1);
    /// # Ok::<(), cpuhp::Error>(())
    /// ```
    pub fn device_offline(&mut self, cpu: CpuId) -> Result<(), Error> {
        let i = cpu.index();
        if self.core().devices.offline.get(i).copied().unwrap_or(true) {
            return Ok(());
        }
        let r = self.cpu_down(cpu, StateId::OFFLINE);
        // Down also when the error reports a panic of a callback that cannot fail.
        if self.core().cpus[i].state == StateId::OFFLINE {
            self.core_mut().0.devices.offline[i] = true;
        }
        r
    }

    /// Linux's `target_store`.
    fn target_store(&mut self, cpu: CpuId, target: i64) -> Result<(), Errno> {
        let online = self.layout().online;
        let valid = if self.core().devices.state_control {
            (0..=i64::from(online.get())).contains(&target)
        } else {
            target == 0 || target == i64::from(online.get())
        };
        if !valid {
            return Err(Errno::EINVAL);
        }
        let target = StateId(target as u32);
        match self.core().table.get(target) {
            Some(step) if step.name.is_some() && !step.cant_stop => {}
            _ => return Err(Errno::EINVAL),
        }
        let st = self.cpu_status(cpu).ok_or(Errno::ENOENT)?;
        if st.state < target {
            self.cpu_up(cpu, target).map_err(Errno::from)
        } else if st.state > target {
            self.cpu_down(cpu, target).map_err(Errno::from)
        } else {
            if st.target != target {
                let (core, p) = self.core_mut();
                core.warn(p, Warning::TargetMismatch, cpu, false);
                core.st(cpu).target = target;
            }
            Ok(())
        }
    }

    /// Linux's `fail_store`.
    fn fail_store(&mut self, cpu: CpuId, fail: i64) -> Result<(), Errno> {
        let (core, _) = self.core_mut();
        if fail == -1 {
            core.st(cpu).fail = None;
            return Ok(());
        }
        let layout = core.layout;
        if fail < 0 || fail > i64::from(layout.online.get()) {
            return Err(Errno::EINVAL);
        }
        let fail = StateId(fail as u32);
        // Cannot fail STARTING/DYING callbacks.
        if layout.is_atomic(fail) {
            return Err(Errno::EINVAL);
        }
        // DEAD callbacks cannot fail, neither can CPUHP_BRINGUP_CPU during hotunplug.
        if fail <= layout.bringup_cpu && core.cpus[cpu.index()].state > layout.bringup_cpu {
            return Err(Errno::EINVAL);
        }
        // Cannot fail anything that doesn't have callbacks.
        if !core.table.get(fail).is_some_and(|s| s.has_callbacks()) {
            return Err(Errno::EINVAL);
        }
        core.st(cpu).fail = Some(fail);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kernel_string_parsers() {
        assert_eq!(kstrtoint("212"), Ok(212));
        assert_eq!(kstrtoint("-1\n"), Ok(-1));
        assert_eq!(kstrtoint("+5"), Ok(5));
        assert_eq!(kstrtoint("x"), Err(Errno::EINVAL));
        assert_eq!(kstrtoint(""), Err(Errno::EINVAL));
        assert_eq!(kstrtoint("99999999999"), Err(Errno::ERANGE));
        assert_eq!(kstrtobool("1"), Ok(true));
        assert_eq!(kstrtobool("off"), Ok(false));
        assert_eq!(kstrtobool("2"), Err(Errno::EINVAL));
    }
}
