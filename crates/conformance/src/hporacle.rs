//! The test module `hporacle`, as the recordings under `data/` show it (the crate README gives
//! their format), re-enacted on a simulated machine: its load (notifier cases, states
//! prep/a/b/c, the multi-instance state and its instances), its unload, and its failure rules.

use std::sync::{Arc, Mutex, MutexGuard};

use cpuhp::sim::Machine;
use cpuhp::{CpuId, Errno, InstanceId, Online, OnlineMulti, Prepare, Slot, StateId};

use crate::notifier_cases::{self, SharedLog};
use crate::{ChainKind, ModuleParams};

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// Why a replay of a PREPARE teardown failure differs from Linux.
pub const PREP_TEARDOWN_CANNOT_FAIL: &str = "PREPARE-section teardowns cannot fail by type (cpuhp::Prepare): \
     Linux (6.1 and 6.12) lets this one fail and leaves the CPU stuck half-way (its state at \
     ap:online_idle, its target at cpu:teardown); here it succeeds and the CPU goes offline";

/// The module's parameters, shared with its callbacks (which consume `fail_times`).
pub type SharedParams = Arc<Mutex<ModuleParams>>;

/// `injected_error()`: `-errno` of the first failure rule that fires for this callback, or 0.
fn injected_error(params: &SharedParams, name: &str, phase: &str, cpu: CpuId) -> i64 {
    let mut p = lock(params);
    for rule in p.fail.iter_mut() {
        // sysfs_streq: equal up to a trailing newline.
        if rule.state.trim_end_matches('\n') != name || rule.phase.trim_end_matches('\n') != phase {
            continue;
        }
        if (rule.cpu >= 0 && rule.cpu != i64::from(cpu.0)) || rule.times == 0 {
            continue;
        }
        if rule.times > 0 {
            rule.times -= 1;
        }
        return -rule.errno;
    }
    0
}

/// `hp_cb()`: logs the call, returns what the rules say.
fn hp_cb(
    params: &SharedParams,
    log: &SharedLog,
    name: &str,
    phase: &str,
    cpu: CpuId,
) -> Result<(), Errno> {
    let ret = injected_error(params, name, phase, cpu);
    log_call(log, name, phase, cpu, ret);
    if ret == 0 {
        Ok(())
    } else {
        // An errno outside 1..=4095 is not one; the callback still fails.
        Err(i32::try_from(ret)
            .ok()
            .and_then(Errno::from_neg)
            .unwrap_or(Errno::EINVAL))
    }
}

fn log_call(log: &SharedLog, name: &str, phase: &str, cpu: CpuId, ret: i64) {
    // on=<cpu>: where the callback ran. PREPARE callbacks log "bp"; an ONLINE callback run from
    // the control side logs the control CPU, 0 (the recordings pinned the shell to CPU 0).
    let on = if name == "prep" {
        "bp".to_string()
    } else {
        cpuhp::sim::current_cpu().unwrap_or(CpuId(0)).to_string()
    };
    lock(log).log(format_args!(
        "cpuhp state={name} phase={phase} cpu={cpu} on={on} ret={ret}"
    ));
}

/// An instance of the module's multi-instance state.
struct MInst {
    name: &'static str,
}

/// The loaded module.
pub struct Hporacle {
    params: SharedParams,
    log: SharedLog,
    /// prep, a, b, c and the state each got (if setup succeeded).
    states: Vec<(&'static str, Option<StateId>)>,
    multi: Option<StateId>,
    instances: Vec<(&'static str, Option<InstanceId>)>,
}

impl Hporacle {
    /// `hporacle_init`: loads the module with `params` on `machine`, logging to `log`. Notifier
    /// cases run with the "blocking" chain of kind `blocking` and the "raw" one of kind `raw`.
    pub fn load(
        machine: &Machine,
        params: ModuleParams,
        log: &SharedLog,
        blocking: ChainKind,
        raw: ChainKind,
    ) -> Hporacle {
        lock(log).restart();
        lock(log).log(format_args!("{}", params.load_line()));
        let run_notifier = params.run_notifier;
        let (run_cpuhp, run_multi) = (params.run_cpuhp, params.run_multi);
        let mut m = Hporacle {
            params: Arc::new(Mutex::new(params)),
            log: log.clone(),
            states: Vec::new(),
            multi: None,
            instances: Vec::new(),
        };
        if run_notifier != 0 {
            notifier_cases::run(run_notifier, blocking, raw, log);
        }
        if run_cpuhp {
            m.cpuhp_setup(machine);
        }
        if run_multi {
            m.multi_setup(machine);
        }
        lock(log).log(format_args!("load_done"));
        m
    }

    /// The module's parameters (`PARAM` lines write them).
    pub fn params(&self) -> &SharedParams {
        &self.params
    }

    fn log(&self, args: std::fmt::Arguments<'_>) {
        lock(&self.log).log(args);
    }

    fn cpuhp_setup(&mut self, machine: &Machine) {
        for name in ["prep", "a", "b", "c"] {
            self.log(format_args!("api fn=cpuhp_setup_state name={name} begin"));
            let (p, l) = (self.params.clone(), self.log.clone());
            let (p2, l2) = (self.params.clone(), self.log.clone());
            let start_sym = format!("{name}_startup [hporacle]");
            let tear_sym = format!("{name}_teardown [hporacle]");
            let result = if name == "prep" {
                let cbs = Prepare::new()
                    .startup_named(start_sym, move |cpu| hp_cb(&p, &l, "prep", "startup", cpu))
                    .teardown_named(tear_sym, move |cpu| {
                        // Cannot fail by type: a rule that says otherwise is the documented
                        // difference from Linux.
                        let ret = injected_error(&p2, "prep", "teardown", cpu);
                        if ret != 0 {
                            lock(&l2).note(PREP_TEARDOWN_CANNOT_FAIL);
                        }
                        log_call(&l2, "prep", "teardown", cpu, 0);
                    });
                machine.setup_state(Slot::PrepareDyn, format!("hporacle/{name}"), cbs)
            } else {
                let cbs = Online::new()
                    .startup_named(start_sym, move |cpu| hp_cb(&p, &l, name, "startup", cpu))
                    .teardown_named(tear_sym, move |cpu| hp_cb(&p2, &l2, name, "teardown", cpu));
                machine.setup_state(Slot::OnlineDyn, format!("hporacle/{name}"), cbs)
            };
            let ret = result
                .as_ref()
                .map_or_else(|e| i64::from(e.errno().to_neg()), |s| i64::from(s.get()));
            self.log(format_args!(
                "api fn=cpuhp_setup_state name={name} ret={ret}"
            ));
            self.states.push((name, result.ok()));
        }
    }

    fn multi_setup(&mut self, machine: &Machine) {
        let (p, l) = (self.params.clone(), self.log.clone());
        let (p2, l2) = (self.params.clone(), self.log.clone());
        let cbs = OnlineMulti::<MInst>::new()
            .startup_named("multi_startup [hporacle]", move |cpu, i: &MInst| {
                hp_cb(&p, &l, i.name, "startup", cpu)
            })
            .teardown_named("multi_teardown [hporacle]", move |cpu, i: &MInst| {
                hp_cb(&p2, &l2, i.name, "teardown", cpu)
            });
        let result = machine.setup_state(Slot::OnlineDyn, "hporacle/multi", cbs);
        let ret = result
            .as_ref()
            .map_or_else(|e| i64::from(e.errno().to_neg()), |s| i64::from(s.get()));
        self.log(format_args!(
            "api fn=cpuhp_setup_state_multi name=multi ret={ret}"
        ));
        let Ok(state) = result else { return };
        self.multi = Some(state);
        for name in ["multi/i0", "multi/i1", "multi/i2"] {
            self.log(format_args!(
                "api fn=cpuhp_state_add_instance name={name} begin"
            ));
            let r = machine.add_instance(state, MInst { name });
            let ret = r.as_ref().map_or_else(|e| e.errno().to_neg(), |_| 0);
            self.log(format_args!(
                "api fn=cpuhp_state_add_instance name={name} ret={ret}"
            ));
            self.instances.push((name, r.ok()));
        }
    }

    /// `hporacle_exit`: clears the failure rules, removes instances newest first, then the
    /// multi-instance state, then the states in reverse setup order.
    pub fn unload(self, machine: &Machine) {
        {
            let mut p = lock(&self.params);
            p.fail[0].state.clear();
            p.fail[1].state.clear();
        }
        self.log(format_args!("unload begin"));
        if let Some(state) = self.multi {
            for &(name, id) in self.instances.iter().rev() {
                let Some(id) = id else { continue };
                self.log(format_args!(
                    "api fn=cpuhp_state_remove_instance name={name} begin"
                ));
                let _ = machine.remove_instance(state, id);
                self.log(format_args!(
                    "api fn=cpuhp_state_remove_instance name={name} ret=0"
                ));
            }
            let _ = machine.remove_state(state);
            self.log(format_args!("api fn=cpuhp_remove_multi_state name=multi"));
        }
        for &(name, state) in self.states.iter().rev() {
            let Some(state) = state else { continue };
            self.log(format_args!("api fn=cpuhp_remove_state name={name} begin"));
            let _ = machine.remove_state(state);
            self.log(format_args!("api fn=cpuhp_remove_state name={name} done"));
        }
        self.log(format_args!("unload done"));
    }
}
