//! Parallel bring-up (Linux 6.5): kick many CPUs booting at once, then finish each.
//!
//! With a layout that has `CPUHP_BP_KICK_AP`, bringing a CPU up is split: the control side runs
//! the PREPARE startups up to the kick, which starts the CPU booting *without waiting*; then
//! `CPUHP_BRINGUP_CPU` waits for it and the CPU finishes. Kicking every CPU first and finishing
//! them one by one overlaps their boot times.

use alloc::vec::Vec;

use crate::{CpuId, Error, ErrorKind, Hotplug, Platform, SmtControl, StateId};

/// What [`Hotplug::bringup_cpus_parallel`] returns: each CPU's outcome, in order of completion.
pub type BringupOutcomes = Vec<(CpuId, Result<(), Error>)>;

impl<P: Platform> Hotplug<P> {
    /// Brings `cpus` online in parallel (Linux's `cpuhp_bringup_cpus_parallel`): every CPU to
    /// the kick state first (each starts booting), then each to online. A CPU whose kick failed is
    /// retried by the second pass; a CPU whose bring-up fails there is rolled back all the way to
    /// offline without disturbing the others. With SMT on, the primary threads go first (both
    /// passes), then their siblings. Without a kick state in the layout, the CPUs come up one by
    /// one. Returns each CPU's outcome, in order of completion.
    ///
    /// # Examples
    ///
    /// ```
    /// use cpuhp::{preset, CpuId, Hotplug, Inline, StateId, Topology};
    ///
    /// let mut hp = Hotplug::new(&preset::DEMO, Topology::new(4), Inline)?;
    /// for c in 1..4 { hp.cpu_down(CpuId(c), StateId::OFFLINE)?; }
    /// let cpus = [CpuId(1), CpuId(2), CpuId(3)];
    /// assert!(hp.bringup_cpus_parallel(&cpus).iter().all(|(_, r)| r.is_ok()));
    /// assert_eq!(hp.online_mask().to_string(), "0-3");
    /// # Ok::<(), cpuhp::Error>(())
    /// ```
    pub fn bringup_cpus_parallel(&mut self, cpus: &[CpuId]) -> BringupOutcomes {
        let online = self.layout().online;
        let mut done = Vec::with_capacity(cpus.len());
        // A CPU the machine does not have fails at once (`InvalidCpu`), before any CPU is kicked;
        // the passes below then index per-CPU state only for CPUs that exist.
        let core = self.core();
        let (cpus, unknown): (Vec<CpuId>, Vec<CpuId>) = cpus
            .iter()
            .partition(|&&c| c.0 < core.nr_cpus() && core.possible.contains(c));
        for cpu in unknown {
            done.push((cpu, Err(Error::new(ErrorKind::InvalidCpu))));
        }
        let cpus = &cpus[..];
        let Some(kick) = self.layout().bp_kick_ap else {
            for &cpu in cpus {
                done.push((cpu, self.device_up(cpu, online)));
            }
            return done;
        };
        let core = self.core();
        if core.smt.threads_per_core > 1 && core.smt.control == SmtControl::On {
            // x86 must keep the siblings from running while a primary thread updates microcode:
            // the primary threads come up first, as a set of their own.
            let (primary, siblings): (Vec<CpuId>, Vec<CpuId>) =
                cpus.iter().partition(|&&c| core.is_primary_thread(c));
            self.bringup_mask(&primary, kick, online, &mut done);
            self.bringup_mask(&siblings, kick, online, &mut done);
        } else {
            self.bringup_mask(cpus, kick, online, &mut done);
        }
        done
    }

    /// Linux's pair of `cpuhp_bringup_mask` calls: every CPU to the kick state (each starts
    /// booting; a failure there is rolled back and retried by the second pass), then each to
    /// online. A CPU whose second pass fails is walked down to offline.
    fn bringup_mask(
        &mut self,
        cpus: &[CpuId],
        kick: StateId,
        online: StateId,
        done: &mut BringupOutcomes,
    ) {
        for &cpu in cpus {
            let _ = self.cpu_up(cpu, kick);
        }
        for &cpu in cpus {
            let r = self.device_up(cpu, online);
            if r.is_err() {
                self.rollback_to_offline(cpu);
            }
            done.push((cpu, r));
        }
    }

    /// The clean-up of `cpuhp_bringup_mask`: a failed `cpu_up` may have rolled back only to
    /// the kick state; the control side runs the remaining teardowns down to offline. Unlike a
    /// `cpu_down`, no last-CPU check and no `CPU_POST_DEAD`: the CPU never came online.
    fn rollback_to_offline(&mut self, cpu: CpuId) {
        let (core, p) = self.core_mut();
        let state = core.cpus[cpu.index()].state;
        // `can_rollback_cpu`: a CPU that got past the bring-up cannot be rolled back from here.
        if state == StateId::OFFLINE || state > core.layout.bringup_cpu {
            return;
        }
        core.set_state(cpu, StateId::OFFLINE);
        // This walk undoes the failed bring-up (docs/rules.md, `startup-failure`).
        core.cpus[cpu.index()].rollback = true;
        // Only PREPARE teardowns lie below the kick state, and they cannot fail by type.
        let _ = core.invoke_range(p, false, cpu, StateId::OFFLINE, false);
    }

    /// `cpu_up` that also marks the CPU's device online.
    fn device_up(&mut self, cpu: CpuId, target: StateId) -> Result<(), Error> {
        let r = self.cpu_up(cpu, target);
        // Up also when the error reports a panic of a callback that cannot fail.
        if self.core().cpus[cpu.index()].state == target {
            self.core_mut().0.devices.offline[cpu.index()] = false;
        }
        r
    }
}
