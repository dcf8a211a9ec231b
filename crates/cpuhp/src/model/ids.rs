//! Small typed numbers: CPUs, states, instances.

use core::fmt;

/// A CPU number (Linux's `unsigned int cpu`).
///
/// # Examples
///
/// ```
/// use cpuhp::CpuId;
/// assert_eq!(CpuId(3).index(), 3);
/// assert_eq!(CpuId(3).to_string(), "3");
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct CpuId(pub u32);

impl CpuId {
    /// The number as an index.
    ///
    /// # Examples
    ///
    /// ```
    /// use cpuhp::CpuId;
    ///
    /// let per_cpu = ["idle", "busy"];
    /// assert_eq!(per_cpu[CpuId(1).index()], "busy");
    /// ```
    pub const fn index(self) -> usize {
        self.0 as usize
    }
}

impl fmt::Display for CpuId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

/// A hotplug state: its number in the ordered state space (Linux's `enum cpuhp_state`).
/// `StateId(0)` is always "offline".
///
/// # Examples
///
/// ```
/// use cpuhp::StateId;
/// assert!(StateId(211) > StateId(91));
/// assert_eq!(StateId::OFFLINE.get(), 0);
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct StateId(pub u32);

impl StateId {
    /// State 0: the CPU is off; every CPU starts and ends here.
    pub const OFFLINE: StateId = StateId(0);

    /// The number.
    ///
    /// # Examples
    ///
    /// ```
    /// use cpuhp::StateId;
    ///
    /// assert_eq!(StateId(211).get(), 211);
    /// assert_eq!(StateId::default().get(), StateId::OFFLINE.get());
    /// ```
    pub const fn get(self) -> u32 {
        self.0
    }

    pub(crate) const fn index(self) -> usize {
        self.0 as usize
    }
}

impl fmt::Display for StateId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

/// An instance of a multi-instance state, as returned by `add_instance`.
///
/// # Examples
///
/// ```
/// use cpuhp::InstanceId;
/// assert_eq!(InstanceId(7).to_string(), "#7");
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct InstanceId(pub u64);

impl fmt::Display for InstanceId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "#{}", self.0)
    }
}
