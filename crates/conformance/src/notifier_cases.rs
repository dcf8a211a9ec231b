//! The notifier part of the test module `hporacle` (`run_notifier=1` or `2`), re-enacted on our chains.
//!
//! Blocks n1(0), n2(10), n3(10), n4(-5), n5(0) are registered in that order on a "blocking"
//! chain and a "raw" chain; each case makes up to two named blocks return a given value for the
//! up (1) or down (2) event, and runs a plain or robust call on both chains. `run_notifier=1` then
//! exercises registration edge cases on the blocking chain. Which of our chain kinds plays each
//! role is a parameter: all three must produce Linux's lines.

use std::sync::{Arc, Mutex, MutexGuard};

use notifier::{Notifier, NotifierBlock, NotifyResult};

use crate::{AnyChain, ChainKind, OracleLog};

/// The module log, shared with the callbacks that write to it.
pub type SharedLog = Arc<Mutex<OracleLog>>;

const VAL_UP: u64 = 1;
const VAL_DOWN: u64 = 2;

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// `(block id, event, return value)`: the block returns this value for this event.
type Rule = (&'static str, u64, NotifyResult);

struct Case {
    name: &'static str,
    robust: bool,
    rules: &'static [Rule],
}

const fn errno(e: i32) -> NotifyResult {
    NotifyResult::from_errno(-e)
}

/// `notifier_cases()`: run_notifier=1.
const CASES_1: &[Case] = &[
    Case {
        name: "plain_all_ok",
        robust: false,
        rules: &[],
    },
    Case {
        name: "plain_all_done",
        robust: false,
        rules: &[
            ("n1", VAL_UP, NotifyResult::DONE),
            ("n2", VAL_UP, NotifyResult::DONE),
        ],
    },
    Case {
        name: "plain_stop_at_n3",
        robust: false,
        rules: &[("n3", VAL_UP, NotifyResult::STOP)],
    },
    Case {
        name: "plain_bad_at_n1",
        robust: false,
        rules: &[("n1", VAL_UP, NotifyResult::BAD)],
    },
    Case {
        name: "plain_errno_at_n5",
        robust: false,
        rules: &[("n5", VAL_UP, errno(22))],
    },
    Case {
        name: "robust_all_ok",
        robust: true,
        rules: &[],
    },
    Case {
        name: "robust_einval_at_n1",
        robust: true,
        rules: &[("n1", VAL_UP, errno(22))],
    },
    Case {
        name: "robust_bad_at_first_n2",
        robust: true,
        rules: &[("n2", VAL_UP, NotifyResult::BAD)],
    },
    Case {
        name: "robust_ebusy_at_last_n4",
        robust: true,
        rules: &[("n4", VAL_UP, errno(16))],
    },
    Case {
        name: "robust_stop_at_n3",
        robust: true,
        rules: &[("n3", VAL_UP, NotifyResult::STOP)],
    },
    Case {
        name: "robust_done_at_n3",
        robust: true,
        rules: &[("n3", VAL_UP, NotifyResult::DONE)],
    },
    Case {
        name: "robust_fail_n5_and_down_fail_n2",
        robust: true,
        rules: &[
            ("n5", VAL_UP, errno(12)),
            ("n2", VAL_DOWN, NotifyResult::BAD),
        ],
    },
    Case {
        name: "robust_fail_n4_and_down_stop_n3",
        robust: true,
        rules: &[
            ("n4", VAL_UP, NotifyResult::BAD),
            ("n3", VAL_DOWN, NotifyResult::STOP),
        ],
    },
];

/// `notifier_cases2()`: run_notifier=2.
const CASES_2: &[Case] = &[
    Case {
        name: "robust_enomem_at_last_n4",
        robust: true,
        rules: &[("n4", VAL_UP, errno(12))],
    },
    Case {
        name: "plain_enomem_at_last_n4",
        robust: false,
        rules: &[("n4", VAL_UP, errno(12))],
    },
    Case {
        name: "robust_done_at_last_n4",
        robust: true,
        rules: &[("n4", VAL_UP, NotifyResult::DONE)],
    },
    Case {
        name: "robust_stop_mask_only_at_n1",
        robust: true,
        rules: &[("n1", VAL_UP, NotifyResult::STOP_MASK)],
    },
];

/// What the current case wants, read by every callback (`cur_case`, `cur_chain`, `cur_rule`).
#[derive(Default)]
struct Current {
    case: &'static str,
    chain: &'static str,
    rules: &'static [Rule],
}

/// `onb_call`: logs the call and returns what the current case says (`NOTIFY_OK` by default;
/// the last matching rule wins, as in the module's loop).
struct OracleCallback {
    id: &'static str,
    prio: i32,
    current: Arc<Mutex<Current>>,
    log: SharedLog,
}

impl Notifier<u64> for OracleCallback {
    fn notify(&self, val: u64, _: &()) -> NotifyResult {
        let current = lock(&self.current);
        let ret = current
            .rules
            .iter()
            .rfind(|(id, v, _)| *id == self.id && *v == val)
            .map_or(NotifyResult::OK, |r| r.2);
        lock(&self.log).log(format_args!(
            "notifier case={} chain={} cb={} prio={} val={} ret={:#x}",
            current.case,
            current.chain,
            self.id,
            self.prio,
            val,
            ret.raw() as u32
        ));
        ret
    }
}

type Block = Arc<NotifierBlock<OracleCallback>>;

/// The module's notifier state: its blocks and chains.
struct Layer {
    current: Arc<Mutex<Current>>,
    log: SharedLog,
    blk_nbs: Vec<Block>,
    raw_nbs: Vec<Block>,
    blk_head: AnyChain<u64>,
    raw_head: AnyChain<u64>,
    empty_head: AnyChain<u64>,
}

const NBS: [(&str, i32); 5] = [("n1", 0), ("n2", 10), ("n3", 10), ("n4", -5), ("n5", 0)];

impl Layer {
    fn block(&self, id: &'static str, prio: i32) -> Block {
        Arc::new(NotifierBlock::new(
            OracleCallback {
                id,
                prio,
                current: self.current.clone(),
                log: self.log.clone(),
            },
            prio,
        ))
    }

    fn log(&self, args: std::fmt::Arguments<'_>) {
        lock(&self.log).log(args);
    }

    fn set_case(&self, name: &'static str, chain: &'static str, rules: &'static [Rule]) {
        *lock(&self.current) = Current {
            case: name,
            chain,
            rules,
        };
    }

    fn register_all(&self) {
        for (i, &(id, prio)) in NBS.iter().enumerate() {
            let ret = errno_of(self.blk_head.register(self.blk_nbs[i].clone()));
            self.log(format_args!(
                "api fn=blocking_notifier_chain_register name={id} prio={prio} ret={ret}"
            ));
            let ret = errno_of(self.raw_head.register(self.raw_nbs[i].clone()));
            self.log(format_args!(
                "api fn=raw_notifier_chain_register name={id} prio={prio} ret={ret}"
            ));
        }
    }

    fn unregister_all(&self) {
        for i in 0..NBS.len() {
            let _ = self.blk_head.unregister(&self.blk_nbs[i]);
            let _ = self.raw_head.unregister(&self.raw_nbs[i]);
        }
    }

    fn run_case(&self, case: &Case) {
        let call = if case.robust {
            "call_chain_robust"
        } else {
            "call_chain"
        };
        for (chain, head) in [("blocking", &self.blk_head), ("raw", &self.raw_head)] {
            self.set_case(case.name, chain, case.rules);
            let ret = if case.robust {
                head.call_robust(VAL_UP, VAL_DOWN)
            } else {
                head.call(VAL_UP)
            };
            self.log(format_args!(
                "notifier_result case={} chain={chain} call={call} ret={} hex={:#x}",
                case.name,
                ret.raw(),
                ret.raw() as u32
            ));
        }
    }

    /// The registration edge cases at the end of `notifier_cases()`.
    fn registration_cases(&self) {
        let n6 = self.block("n6", 10);
        let n7 = self.block("n7", 7);
        let ret = errno_of(self.blk_head.register_unique_prio(n6.clone()));
        self.log(format_args!(
            "api fn=blocking_notifier_chain_register_unique_prio name=n6 prio=10 ret={ret}"
        ));
        let ret = errno_of(self.blk_head.register_unique_prio(n7.clone()));
        self.log(format_args!(
            "api fn=blocking_notifier_chain_register_unique_prio name=n7 prio=7 ret={ret}"
        ));
        self.set_case("after_unique_prio_n7", "blocking", &[]);
        let ret = self.blk_head.call(VAL_UP);
        self.log(format_args!(
            "notifier_result case=after_unique_prio_n7 chain=blocking call=call_chain ret={} hex={:#x}",
            ret.raw(),
            ret.raw() as u32
        ));
        let ret = errno_of(self.blk_head.unregister(&n7));
        self.log(format_args!(
            "api fn=blocking_notifier_chain_unregister name=n7 ret={ret}"
        ));
        let ret = errno_of(self.blk_head.unregister(&n7));
        self.log(format_args!(
            "api fn=blocking_notifier_chain_unregister name=n7_again ret={ret}"
        ));
        let ret = errno_of(self.blk_head.register(self.blk_nbs[0].clone()));
        // notifier_chain_register: WARN(1, "notifier callback %ps already registered")
        lock(&self.log).raw("WARN cpu=0 at=kernel/notifier.c fn=notifier_chain_register".into());
        self.log(format_args!(
            "api fn=blocking_notifier_chain_register name=n1_again prio=0 ret={ret}"
        ));
        let ret = self.empty_head.call(VAL_UP);
        self.log(format_args!(
            "notifier_result case=empty chain=blocking call=call_chain ret={} hex={:#x}",
            ret.raw(),
            ret.raw() as u32
        ));
        let ret = self.empty_head.call_robust(VAL_UP, VAL_DOWN);
        self.log(format_args!(
            "notifier_result case=empty chain=blocking call=call_chain_robust ret={} hex={:#x}",
            ret.raw(),
            ret.raw() as u32
        ));
    }
}

/// 0 or the kernel's `-errno`.
fn errno_of<E: Into<notifier::Errno>>(r: Result<(), E>) -> i32 {
    r.map_or_else(|e| e.into().to_neg(), |()| 0)
}

/// Runs the module's notifier part for `run_notifier` (1 or 2; other values do nothing), with
/// the "blocking" chain of kind `blocking` and the "raw" chain of kind `raw`, logging to `log`.
/// Leaves both chains empty, as the module does.
///
/// # Examples
///
/// ```
/// use std::sync::{Arc, Mutex};
/// use conformance::{notifier_cases, ChainKind, OracleLog};
///
/// let log = Arc::new(Mutex::new(OracleLog::new()));
/// notifier_cases::run(2, ChainKind::Atomic, ChainKind::Raw, &log);
/// let lines = log.lock().unwrap().take();
/// assert!(lines[0].ends_with("api fn=blocking_notifier_chain_register name=n1 prio=0 ret=0"));
/// ```
pub fn run(run_notifier: i64, blocking: ChainKind, raw: ChainKind, log: &SharedLog) {
    let cases = match run_notifier {
        1 => CASES_1,
        2 => CASES_2,
        _ => return,
    };
    let mut layer = Layer {
        current: Arc::default(),
        log: log.clone(),
        blk_nbs: Vec::new(),
        raw_nbs: Vec::new(),
        blk_head: blocking.new_chain(),
        raw_head: raw.new_chain(),
        empty_head: blocking.new_chain(),
    };
    layer.blk_nbs = NBS
        .iter()
        .map(|&(id, prio)| layer.block(id, prio))
        .collect();
    layer.raw_nbs = NBS
        .iter()
        .map(|&(id, prio)| layer.block(id, prio))
        .collect();
    layer.register_all();
    for case in cases {
        layer.run_case(case);
    }
    if run_notifier == 1 {
        layer.registration_cases();
    }
    layer.unregister_all();
}
