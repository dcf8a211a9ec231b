//! Callback-level fault injection, for tests and failure exploration.
//!
//! A [`Fault`] makes a callback fail with a chosen errno without being called — like Linux's
//! `hotplug/fail`, but for any CPU, direction, instance and errno, and for a number of shots.
//! Faults never fire for callbacks that cannot fail by type (STARTING callbacks, PREPARE
//! teardowns).

use alloc::vec::Vec;

use crate::{CpuId, Errno, InstanceId, StateId};

/// One injected failure.
///
/// # Examples
///
/// ```
/// use cpuhp::{preset, CpuId, Errno, Fault, Hotplug, Inline, Online, Slot, StateId, Topology};
///
/// let mut hp = Hotplug::new(&preset::DEMO, Topology::new(2), Inline)?;
/// let s = hp.setup_state(Slot::OnlineDyn, "x", Online::new().startup(|_| Ok(())).teardown(|_| Ok(())))?;
/// hp.inject(Fault::teardown(s, Errno::EBUSY).on_cpu(CpuId(1)).once());
/// let e = hp.cpu_down(CpuId(1), StateId::OFFLINE).unwrap_err();
/// assert_eq!(e.errno(), Errno::EBUSY);
/// hp.cpu_down(CpuId(1), StateId::OFFLINE)?; // once: gone
/// # Ok::<(), cpuhp::Error>(())
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Fault {
    /// The state whose callback fails.
    pub state: StateId,
    /// Only for this CPU (`None`: any).
    pub cpu: Option<CpuId>,
    /// The startup (`true`) or the teardown.
    pub bringup: bool,
    /// Only for this instance (`None`: any, or a single-instance state).
    pub instance: Option<InstanceId>,
    /// What the callback returns.
    pub errno: Errno,
    /// How many more times it fires (`None`: every time).
    pub times: Option<u32>,
    /// How many matching calls it lets through (they run normally) before it fires.
    pub skip: u32,
}

impl Fault {
    /// The startup of `state` fails with `errno`, on every CPU, every time.
    ///
    /// # Examples
    ///
    /// ```
    /// use cpuhp::{preset, CpuId, Errno, Fault, Hotplug, Inline, Online, Slot, StateId, Topology};
    ///
    /// let mut hp = Hotplug::new(&preset::DEMO, Topology::new(2), Inline)?;
    /// let s = hp.setup_state(Slot::OnlineDyn, "x", Online::new().startup(|_| Ok(())))?;
    /// hp.cpu_down(CpuId(1), StateId::OFFLINE)?;
    /// hp.inject(Fault::startup(s, Errno::ENOMEM));
    /// for _ in 0..2 { // every time
    ///     assert_eq!(hp.cpu_up(CpuId(1), StateId(99)).unwrap_err().errno(), Errno::ENOMEM);
    /// }
    /// assert_eq!(hp.online_mask().to_string(), "0");
    /// # Ok::<(), cpuhp::Error>(())
    /// ```
    pub fn startup(state: StateId, errno: Errno) -> Fault {
        Fault {
            state,
            cpu: None,
            bringup: true,
            instance: None,
            errno,
            times: None,
            skip: 0,
        }
    }

    /// The teardown of `state` fails with `errno`, on every CPU, every time.
    ///
    /// # Examples
    ///
    /// ```
    /// use cpuhp::{preset, CpuId, Errno, Fault, Hotplug, Inline, Online, Slot, StateId, Topology};
    ///
    /// let mut hp = Hotplug::new(&preset::DEMO, Topology::new(3), Inline)?;
    /// let s = hp.setup_state(Slot::OnlineDyn, "x", Online::new().teardown(|_| Ok(())))?;
    /// hp.inject(Fault::teardown(s, Errno::EBUSY));
    /// assert!(hp.cpu_down(CpuId(1), StateId::OFFLINE).is_err());
    /// assert!(hp.cpu_down(CpuId(2), StateId::OFFLINE).is_err()); // on every CPU
    /// assert_eq!(hp.online_mask().to_string(), "0-2");
    /// # Ok::<(), cpuhp::Error>(())
    /// ```
    pub fn teardown(state: StateId, errno: Errno) -> Fault {
        Fault {
            bringup: false,
            ..Fault::startup(state, errno)
        }
    }

    /// Only for `cpu`.
    ///
    /// # Examples
    ///
    /// ```
    /// use cpuhp::{preset, CpuId, Errno, Fault, Hotplug, Inline, Online, Slot, StateId, Topology};
    ///
    /// let mut hp = Hotplug::new(&preset::DEMO, Topology::new(3), Inline)?;
    /// let s = hp.setup_state(Slot::OnlineDyn, "x", Online::new().teardown(|_| Ok(())))?;
    /// hp.inject(Fault::teardown(s, Errno::EBUSY).on_cpu(CpuId(2)));
    /// hp.cpu_down(CpuId(1), StateId::OFFLINE)?;
    /// assert!(hp.cpu_down(CpuId(2), StateId::OFFLINE).is_err());
    /// assert_eq!(hp.online_mask().to_string(), "0,2");
    /// # Ok::<(), cpuhp::Error>(())
    /// ```
    pub fn on_cpu(self, cpu: CpuId) -> Fault {
        Fault {
            cpu: Some(cpu),
            ..self
        }
    }

    /// Only for `instance`.
    ///
    /// # Examples
    ///
    /// ```
    /// use cpuhp::{preset, Errno, Fault, Hotplug, Inline, OnlineMulti, Slot, Topology};
    ///
    /// let mut hp = Hotplug::new(&preset::DEMO, Topology::new(2), Inline)?;
    /// let s = hp.setup_state(Slot::OnlineDyn, "m", OnlineMulti::<u8>::new().teardown(|_, _| Ok(())))?;
    /// let (a, b) = (hp.add_instance(s, 1u8)?, hp.add_instance(s, 2u8)?);
    /// hp.inject(Fault::teardown(s, Errno::EBUSY).for_instance(b));
    /// hp.remove_instance(s, a)?; // not this one
    /// let e = hp.remove_instance(s, b).unwrap_err();
    /// assert_eq!(e.failure().and_then(|f| f.instance), Some(b));
    /// # Ok::<(), cpuhp::Error>(())
    /// ```
    pub fn for_instance(self, instance: InstanceId) -> Fault {
        Fault {
            instance: Some(instance),
            ..self
        }
    }

    /// Fires once.
    ///
    /// # Examples
    ///
    /// ```
    /// use cpuhp::{preset, CpuId, Errno, Fault, Hotplug, Inline, Online, Slot, StateId, Topology};
    ///
    /// let mut hp = Hotplug::new(&preset::DEMO, Topology::new(2), Inline)?;
    /// let s = hp.setup_state(Slot::OnlineDyn, "x", Online::new().teardown(|_| Ok(())))?;
    /// hp.inject(Fault::teardown(s, Errno::EBUSY).once());
    /// assert!(hp.cpu_down(CpuId(1), StateId::OFFLINE).is_err());
    /// assert!(hp.faults().is_empty()); // fired out
    /// hp.cpu_down(CpuId(1), StateId::OFFLINE)?;
    /// # Ok::<(), cpuhp::Error>(())
    /// ```
    pub fn once(self) -> Fault {
        self.times(1)
    }

    /// Lets the first `n` matching calls run normally; fires from the next one on.
    ///
    /// # Examples
    ///
    /// ```
    /// use cpuhp::{preset, CpuId, Errno, Fault, Hotplug, Inline, Online, Slot, StateId, Topology};
    ///
    /// let mut hp = Hotplug::new(&preset::DEMO, Topology::new(3), Inline)?;
    /// let s = hp.setup_state(Slot::OnlineDyn, "x", Online::new().teardown(|_| Ok(())))?;
    /// hp.inject(Fault::teardown(s, Errno::EBUSY).after(1).once());
    /// hp.cpu_down(CpuId(1), StateId::OFFLINE)?; // let through
    /// assert_eq!(hp.cpu_down(CpuId(2), StateId::OFFLINE).unwrap_err().errno(), Errno::EBUSY);
    /// # Ok::<(), cpuhp::Error>(())
    /// ```
    pub fn after(self, n: u32) -> Fault {
        Fault { skip: n, ..self }
    }

    /// Fires `n` times.
    ///
    /// # Examples
    ///
    /// ```
    /// use cpuhp::{preset, CpuId, Errno, Fault, Hotplug, Inline, Online, Slot, StateId, Topology};
    ///
    /// let mut hp = Hotplug::new(&preset::DEMO, Topology::new(2), Inline)?;
    /// let s = hp.setup_state(Slot::OnlineDyn, "x", Online::new().teardown(|_| Ok(())))?;
    /// hp.inject(Fault::teardown(s, Errno::EBUSY).times(2));
    /// for _ in 0..2 {
    ///     assert!(hp.cpu_down(CpuId(1), StateId::OFFLINE).is_err());
    /// }
    /// hp.cpu_down(CpuId(1), StateId::OFFLINE)?; // the third try goes through
    /// # Ok::<(), cpuhp::Error>(())
    /// ```
    pub fn times(self, n: u32) -> Fault {
        Fault {
            times: Some(n),
            ..self
        }
    }

    pub(crate) fn matches(
        &self,
        state: StateId,
        cpu: CpuId,
        bringup: bool,
        instance: Option<InstanceId>,
    ) -> bool {
        self.state == state
            && self.bringup == bringup
            && self.cpu.is_none_or(|c| c == cpu)
            && (self.instance.is_none() || self.instance == instance)
            && self.times != Some(0)
    }
}

/// The faults injected into a machine, in injection order: the first that matches a callback
/// fires. The engine asks only when the list is not empty, so a machine without faults pays one
/// length test per fallible call.
#[derive(Clone, Debug, Default)]
pub(crate) struct Faults(pub(crate) Vec<Fault>);

impl Faults {
    pub(crate) fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Takes one shot of the first fault matching this callback: its errno, unless it still has
    /// calls to let pass (`Fault::after`). A fault out of shots is dropped.
    pub(crate) fn take(
        &mut self,
        state: StateId,
        cpu: CpuId,
        bringup: bool,
        instance: Option<InstanceId>,
    ) -> Option<Errno> {
        let f = self
            .0
            .iter_mut()
            .find(|f| f.matches(state, cpu, bringup, instance))?;
        if f.skip > 0 {
            f.skip -= 1;
            return None;
        }
        if let Some(n) = &mut f.times {
            *n -= 1;
        }
        let errno = f.errno;
        self.0.retain(|f| f.times != Some(0));
        Some(errno)
    }
}
