//! Per-CPU hotplug state: Linux's `struct cpuhp_cpu_state`.
//!
//! Its size does not depend on the number of states: a CPU's progress is one number (`state`),
//! and everything else describes the transition under way.

use crate::{Errno, InstanceId, StateId};

/// One CPU's hotplug state. Fields as in Linux; each documents its invariant.
#[derive(Clone, Debug)]
pub(crate) struct CpuHp {
    /// The last state whose startup completed (going up) or the next whose teardown runs
    /// (going down): states `1..=state` are up.
    pub(crate) state: StateId,
    /// Where the current (or last) transition is headed.
    pub(crate) target: StateId,
    /// One-shot fault injection: the next callback of this state on this CPU fails with
    /// `EAGAIN` without being called (`hotplug/fail`; `None` reads as -1).
    pub(crate) fail: Option<StateId>,
    /// Direction of the current transition (`true`: up).
    pub(crate) bringup: bool,
    /// The current transition is a rollback: a failure now does not reverse direction again.
    pub(crate) rollback: bool,
    /// The hotplug thread runs one callback (`cb_state`, for `node`) instead of a range.
    pub(crate) single: bool,
    /// The hotplug thread has more to do.
    pub(crate) should_run: bool,
    pub(crate) cb_state: StateId,
    /// Multi-instance: the one instance a single invocation is for.
    pub(crate) node: Option<InstanceId>,
    /// Multi-instance rollback: the instance that failed; undo stops there.
    pub(crate) last: Option<InstanceId>,
    /// The hotplug thread's result for the control side.
    pub(crate) result: Result<(), Errno>,
}

impl CpuHp {
    pub(crate) fn new(state: StateId, target: StateId) -> CpuHp {
        CpuHp {
            state,
            target,
            fail: None,
            bringup: false,
            rollback: false,
            single: false,
            should_run: false,
            cb_state: StateId::OFFLINE,
            node: None,
            last: None,
            result: Ok(()),
        }
    }
}
