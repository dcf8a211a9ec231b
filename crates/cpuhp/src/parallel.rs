//! Parallel bring-up (Linux 6.5): kick many CPUs booting at once, then finish each.
//!
//! With a layout that has `CPUHP_BP_KICK_AP`, bringing a CPU up is split: the control side runs
//! the PREPARE startups up to the kick, which starts the CPU booting *without waiting*; then
//! `CPUHP_BRINGUP_CPU` waits for it and the CPU finishes. Kicking every CPU first and finishing
//! them one by one overlaps their boot times.

use alloc::vec::Vec;

use crate::{CpuId, Error, Hotplug, Platform, StateId};

/// What [`Hotplug::bringup_cpus_parallel`] returns: each CPU's outcome, in order of completion.
pub type BringupOutcomes = Vec<(CpuId, Result<(), Error>)>;

impl<P: Platform> Hotplug<P> {
    /// Brings `cpus` online in parallel (Linux's `cpuhp_bringup_cpus_parallel`): every CPU to
    /// the kick state first (each starts booting), then each to online. A CPU whose bring-up fails
    /// is rolled back all the way to offline without disturbing the others. Without a kick state in
    /// the layout, the CPUs come up one by one. Returns each CPU's outcome, in order of
    /// completion.
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
        let Some(kick) = self.layout().bp_kick_ap else {
            for &cpu in cpus {
                done.push((cpu, self.device_up(cpu, online)));
            }
            return done;
        };
        // Phase 1: PREPARE startups and the kick, CPU after CPU; the boots overlap.
        let mut kicked = Vec::with_capacity(cpus.len());
        for &cpu in cpus {
            match self.cpu_up(cpu, kick) {
                Ok(()) => kicked.push(cpu),
                Err(e) => done.push((cpu, Err(e))),
            }
        }
        // Phase 2: wait for each CPU and take it the rest of the way.
        for cpu in kicked {
            let r = self.device_up(cpu, online);
            if r.is_err() {
                // Rolled back to the kick state: from there, all the way down.
                let _ = self.down_locked(cpu, false, StateId::OFFLINE);
            }
            done.push((cpu, r));
        }
        done
    }

    /// `cpu_up` that also marks the CPU's device online.
    fn device_up(&mut self, cpu: CpuId, target: StateId) -> Result<(), Error> {
        self.cpu_up(cpu, target)?;
        self.core_mut().0.dev_offline[cpu.index()] = false;
        Ok(())
    }
}
