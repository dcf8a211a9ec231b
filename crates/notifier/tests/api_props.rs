//! API-level property test, every chain kind: random sequences of every public operation —
//! register (plain and unique-priority), unregister (of unknown blocks too), dropping guards,
//! plain / bounded / robust / reversed calls with arbitrary events and `nr_to_call`, callbacks
//! that register, unregister or call their own chain, callbacks that panic, calls from two
//! threads. Each operation returns a value or a typed error (never a panic of the crate's own,
//! never a hang), and the chain matches a reference model after every step.

use std::cell::Cell;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::{Arc, Mutex, Once};

use notifier::{
    AtomicChain, BlockingChain, Bounded, Chain, Notifier, NotifierBlock, NotifyResult, RawChain,
    RegisterError, Registration, UnregisterError, take_callback_panic,
};
use proptest::prelude::*;

/// Blocks 0..BLOCKS may be registered; block BLOCKS never is (the unknown block).
const BLOCKS: usize = 5;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Inner {
    Register { block: usize, unique: bool },
    Unregister { block: usize },
    Call { event: u64 },
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Up {
    Ret(i32),
    Panic,
    /// Does `Inner` on its own chain, then returns the value.
    Then(Inner, i32),
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Down {
    Ret(i32),
    Panic,
}

#[derive(Clone, Copy, Debug)]
enum CallKind {
    Plain,
    Bounded(usize),
    Robust,
    Reversed,
}

#[derive(Clone, Debug)]
enum Op {
    /// `Registration::unregister` on the block's guard, if it has one.
    GuardUnregister {
        block: usize,
    },
    Register {
        block: usize,
        unique: bool,
    },
    Unregister {
        block: usize,
    },
    DropGuard {
        block: usize,
    },
    Call {
        kind: CallKind,
        event: u64,
        up: [Up; BLOCKS],
        down: [Down; BLOCKS],
    },
    /// The same plain call from two threads at once (sequentially on a `RawChain`).
    Twice {
        event: u64,
        rets: [i32; BLOCKS],
    },
}

#[derive(Clone, Debug, PartialEq, Eq)]
enum Ev {
    Cb {
        block: usize,
        event: u64,
        nested: bool,
    },
    Registered(Result<(), RegisterError>),
    Unregistered(Result<(), UnregisterError>),
    NestedCall(i32),
    Result(i32),
    Bounded(Bounded),
    Panicked,
    Payload(bool),
    Len(usize, [bool; BLOCKS]),
}

fn ret() -> BoxedStrategy<i32> {
    prop_oneof![
        4 => Just(NotifyResult::OK.raw()),
        2 => Just(NotifyResult::DONE.raw()),
        1 => Just(NotifyResult::STOP.raw()),
        1 => Just(NotifyResult::BAD.raw()),
        1 => (1..=4095i32).prop_map(|e| NotifyResult::from_errno(-e).raw()),
        1 => any::<i32>(),
    ]
    .boxed()
}

fn inner() -> BoxedStrategy<Inner> {
    prop_oneof![
        (0..=BLOCKS, any::<bool>()).prop_map(|(block, unique)| Inner::Register {
            block: block.min(BLOCKS - 1),
            unique
        }),
        (0..=BLOCKS).prop_map(|block| Inner::Unregister { block }),
        any::<u64>().prop_map(|event| Inner::Call { event }),
    ]
    .boxed()
}

fn up() -> BoxedStrategy<Up> {
    prop_oneof![
        6 => ret().prop_map(Up::Ret),
        1 => Just(Up::Panic),
        2 => (inner(), ret()).prop_map(|(i, r)| Up::Then(i, r)),
    ]
    .boxed()
}

fn down() -> BoxedStrategy<Down> {
    prop_oneof![6 => ret().prop_map(Down::Ret), 1 => Just(Down::Panic)].boxed()
}

fn op() -> BoxedStrategy<Op> {
    let kind = prop_oneof![
        Just(CallKind::Plain),
        prop_oneof![0..=BLOCKS + 1, any::<usize>()].prop_map(CallKind::Bounded),
        Just(CallKind::Robust),
        Just(CallKind::Reversed),
    ];
    prop_oneof![
        3 => (0..BLOCKS, any::<bool>()).prop_map(|(block, unique)| Op::Register { block, unique }),
        1 => (0..=BLOCKS).prop_map(|block| Op::Unregister { block }),
        1 => (0..BLOCKS).prop_map(|block| Op::DropGuard { block }),
        1 => (0..BLOCKS).prop_map(|block| Op::GuardUnregister { block }),
        4 => (kind, any::<u64>(), prop::array::uniform5(up()), prop::array::uniform5(down()))
            .prop_map(|(kind, event, up, down)| Op::Call { kind, event, up, down }),
        1 => (any::<u64>(), prop::array::uniform5(ret())).prop_map(|(event, rets)| Op::Twice { event, rets }),
    ]
    .boxed()
}

// ----- the reference model -------------------------------------------------------------------

#[derive(Clone, Copy, PartialEq, Eq)]
enum Kind {
    Raw,
    Atomic,
    Blocking,
}

struct Model {
    kind: Kind,
    prios: [i32; BLOCKS + 1],
    chain: Vec<usize>,
    guards: [bool; BLOCKS],
}

impl Model {
    fn register(&mut self, block: usize, unique: bool) -> Result<(), RegisterError> {
        let p = self.prios[block];
        for &b in self.chain.iter().take_while(|&&b| self.prios[b] >= p) {
            if b == block {
                return Err(RegisterError::AlreadyRegistered);
            }
            if unique && self.prios[b] == p {
                return Err(RegisterError::PriorityTaken);
            }
        }
        let at = self
            .chain
            .iter()
            .position(|&b| self.prios[b] < p)
            .unwrap_or(self.chain.len());
        self.chain.insert(at, block);
        Ok(())
    }

    fn unregister(&mut self, block: usize) -> Result<(), UnregisterError> {
        let at = self
            .chain
            .iter()
            .position(|&b| b == block)
            .ok_or(UnregisterError::NotRegistered)?;
        self.chain.remove(at);
        Ok(())
    }

    fn state(&self) -> Ev {
        let mut reg = [false; BLOCKS];
        for &b in &self.chain {
            reg[b] = true;
        }
        Ev::Len(self.chain.len(), reg)
    }

    fn inner(&mut self, op: Inner, log: &mut Vec<Ev>) {
        match op {
            Inner::Register { block, unique } => log.push(Ev::Registered(match self.kind {
                Kind::Blocking => Err(RegisterError::WouldDeadlock),
                _ => self.register(block, unique),
            })),
            Inner::Unregister { block } => log.push(Ev::Unregistered(match self.kind {
                Kind::Raw => self.unregister(block),
                _ => Err(UnregisterError::WouldDeadlock),
            })),
            Inner::Call { event } => {
                for &b in &self.chain {
                    log.push(Ev::Cb {
                        block: b,
                        event,
                        nested: true,
                    });
                }
                let r = if self.chain.is_empty() {
                    NotifyResult::DONE
                } else {
                    NotifyResult::OK
                };
                log.push(Ev::NestedCall(r.raw()));
            }
        }
    }

    /// The up walk over `snapshot`: (result, callbacks called, panicked).
    fn up_walk(
        &mut self,
        snapshot: &[usize],
        event: u64,
        up: &[Up; BLOCKS],
        limit: usize,
        log: &mut Vec<Ev>,
    ) -> (i32, usize, bool) {
        let mut result = NotifyResult::DONE.raw();
        for (n, &b) in snapshot.iter().take(limit).enumerate() {
            log.push(Ev::Cb {
                block: b,
                event,
                nested: false,
            });
            result = match up[b] {
                Up::Ret(r) => r,
                Up::Panic => return (result, n + 1, true),
                Up::Then(op, r) => {
                    self.inner(op, log);
                    r
                }
            };
            if NotifyResult::from_raw(result).is_stop() {
                return (result, n + 1, false);
            }
        }
        (result, snapshot.len().min(limit), false)
    }

    fn call(
        &mut self,
        kind: CallKind,
        event: u64,
        up: &[Up; BLOCKS],
        down: &[Down; BLOCKS],
        log: &mut Vec<Ev>,
    ) {
        let snapshot = self.chain.clone();
        match kind {
            CallKind::Plain | CallKind::Bounded(_) => {
                let limit = if let CallKind::Bounded(n) = kind {
                    n
                } else {
                    usize::MAX
                };
                let (r, nr_calls, panicked) = self.up_walk(&snapshot, event, up, limit, log);
                log.push(match (panicked, kind) {
                    (true, _) => Ev::Panicked,
                    (_, CallKind::Plain) => Ev::Result(r),
                    _ => Ev::Bounded(Bounded {
                        result: NotifyResult::from_raw(r),
                        nr_calls,
                    }),
                });
            }
            CallKind::Robust | CallKind::Reversed => {
                let (r, n, panicked) = self.up_walk(&snapshot, event, up, usize::MAX, log);
                let r = if panicked {
                    NotifyResult::PANICKED.raw()
                } else {
                    r
                };
                if NotifyResult::from_raw(r).is_stop() {
                    let mut ok = snapshot[..n - 1].to_vec();
                    if matches!(kind, CallKind::Reversed) {
                        ok.reverse();
                    }
                    for b in ok {
                        log.push(Ev::Cb {
                            block: b,
                            event: !event,
                            nested: false,
                        });
                        match down[b] {
                            Down::Ret(r) if !NotifyResult::from_raw(r).is_stop() => {}
                            _ => break,
                        }
                    }
                }
                log.push(Ev::Result(r));
                log.push(Ev::Payload(panicked));
            }
        }
    }

    fn plain_result(&self, rets: &[i32; BLOCKS]) -> (i32, Vec<usize>) {
        let mut r = NotifyResult::DONE.raw();
        let mut called = Vec::new();
        for &b in &self.chain {
            called.push(b);
            r = rets[b];
            if NotifyResult::from_raw(r).is_stop() {
                break;
            }
        }
        (r, called)
    }
}

// ----- the implementation under test ----------------------------------------------------------

struct Script {
    up_event: u64,
    up: [Up; BLOCKS],
    down: [Down; BLOCKS],
    log: Vec<Ev>,
}

static SCRIPT: Mutex<Script> = Mutex::new(Script {
    up_event: 0,
    up: [Up::Ret(1); BLOCKS],
    down: [Down::Ret(1); BLOCKS],
    log: Vec::new(),
});
/// Serialises the proptests of this file (they share `SCRIPT`).
static SERIAL: Mutex<()> = Mutex::new(());

fn script() -> std::sync::MutexGuard<'static, Script> {
    SCRIPT.lock().unwrap_or_else(|e| e.into_inner())
}

/// Runs an `Inner` on the chain under test.
type InnerRunner = Box<dyn Fn(Inner)>;

thread_local! {
    /// Nested-call depth on this thread: nested callbacks just return OK.
    static DEPTH: Cell<u32> = const { Cell::new(0) };
    /// Runs an `Inner` on the chain under test (set per case on the calling thread).
    static INNER: std::cell::RefCell<Option<InnerRunner>> = const { std::cell::RefCell::new(None) };
}

/// A panic payload the silent hook recognises.
const SCRIPTED: &str = "scripted panic";

struct Scripted(usize);

impl Notifier<u64> for Scripted {
    fn notify(&self, event: u64, _: &()) -> NotifyResult {
        let nested = DEPTH.get() > 0;
        let (up, down, is_up) = {
            let mut s = script();
            s.log.push(Ev::Cb {
                block: self.0,
                event,
                nested,
            });
            (s.up[self.0], s.down[self.0], event == s.up_event)
        };
        if nested {
            return NotifyResult::OK;
        }
        if !is_up {
            return match down {
                Down::Ret(r) => NotifyResult::from_raw(r),
                Down::Panic => std::panic::panic_any(SCRIPTED),
            };
        }
        match up {
            Up::Ret(r) => NotifyResult::from_raw(r),
            Up::Panic => std::panic::panic_any(SCRIPTED),
            Up::Then(op, r) => {
                DEPTH.set(1);
                INNER.with(|i| (i.borrow().as_ref().expect("inner runner set"))(op));
                DEPTH.set(0);
                NotifyResult::from_raw(r)
            }
        }
    }
}

fn silence_scripted_panics() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        let default = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            if info.payload().downcast_ref::<&str>() != Some(&SCRIPTED) {
                default(info);
            }
        }));
    });
}

type Blocks = Vec<Arc<NotifierBlock<Scripted>>>;

fn inner_op<C: Chain<u64>>(chain: &C, blocks: &Blocks, op: Inner) {
    let ev = match op {
        Inner::Register { block, unique } => {
            let r = if unique {
                chain.register_unique_prio(blocks[block].clone())
            } else {
                chain.register(blocks[block].clone())
            };
            Ev::Registered(r.map(Registration::keep))
        }
        Inner::Unregister { block } => Ev::Unregistered(chain.unregister(&blocks[block])),
        Inner::Call { event } => Ev::NestedCall(chain.call(event, &()).raw()),
    };
    script().log.push(ev);
}

fn state<C: Chain<u64>>(chain: &C, blocks: &Blocks) -> Ev {
    let mut reg = [false; BLOCKS];
    for (b, r) in reg.iter_mut().enumerate() {
        *r = chain.is_registered(&blocks[b]);
    }
    Ev::Len(chain.len(), reg)
}

/// Runs `ops` on `chain` and on the model, comparing after each step.
fn check<C: Chain<u64> + 'static>(
    kind: Kind,
    chain: &'static C,
    twice: impl Fn(&'static C, u64) -> [NotifyResult; 2],
    prios: [i32; BLOCKS + 1],
    ops: &[Op],
) -> Result<(), TestCaseError> {
    let blocks: Blocks = (0..=BLOCKS)
        .map(|b| Arc::new(NotifierBlock::new(Scripted(b), prios[b])))
        .collect();
    {
        let blocks = blocks.clone();
        INNER.with(|i| *i.borrow_mut() = Some(Box::new(move |op| inner_op(chain, &blocks, op))));
    }
    let mut model = Model {
        kind,
        prios,
        chain: Vec::new(),
        guards: [false; BLOCKS],
    };
    let mut guards: Vec<Option<Registration<'static, C>>> = (0..BLOCKS).map(|_| None).collect();
    script().log.clear();
    let _ = take_callback_panic();
    for (step, op) in ops.iter().enumerate() {
        let mut want = Vec::new();
        match *op {
            Op::Register { block, unique } => {
                let r = if unique {
                    chain.register_unique_prio(blocks[block].clone())
                } else {
                    chain.register(blocks[block].clone())
                };
                let m = model.register(block, unique);
                want.push(Ev::Registered(m));
                let got = r.map(|g| {
                    // A new guard replaces the old one, whose drop unregisters the block.
                    if guards[block].replace(g).is_some() {
                        let _ = model.unregister(block);
                    }
                });
                script().log.push(Ev::Registered(got));
                if m.is_ok() {
                    model.guards[block] = true;
                }
            }
            Op::Unregister { block } => {
                want.push(Ev::Unregistered(model.unregister(block)));
                let r = chain.unregister(&blocks[block]);
                script().log.push(Ev::Unregistered(r));
            }
            Op::DropGuard { block } => {
                if model.guards[block] {
                    let _ = model.unregister(block);
                    model.guards[block] = false;
                }
                drop(guards[block].take());
            }
            Op::GuardUnregister { block } => {
                if model.guards[block] {
                    model.guards[block] = false;
                    want.push(Ev::Unregistered(model.unregister(block)));
                }
                if let Some(g) = guards[block].take() {
                    let r = g.unregister();
                    script().log.push(Ev::Unregistered(r));
                }
            }
            Op::Call {
                kind: call,
                event,
                up,
                down,
            } => {
                {
                    let mut s = script();
                    s.up_event = event;
                    s.up = up;
                    s.down = down;
                }
                model.call(call, event, &up, &down, &mut want);
                let got = match call {
                    CallKind::Plain => catch_unwind(AssertUnwindSafe(|| {
                        Ev::Result(chain.call(event, &()).raw())
                    })),
                    CallKind::Bounded(n) => catch_unwind(AssertUnwindSafe(|| {
                        Ev::Bounded(chain.call_bounded(event, &(), n))
                    })),
                    CallKind::Robust => Ok(Ev::Result(chain.call_robust(event, !event, &()).raw())),
                    CallKind::Reversed => Ok(Ev::Result(
                        chain.call_robust_reversed(event, !event, &()).raw(),
                    )),
                };
                DEPTH.set(0);
                let mut s = script();
                s.log.push(got.unwrap_or(Ev::Panicked));
                if matches!(call, CallKind::Robust | CallKind::Reversed) {
                    s.log.push(Ev::Payload(take_callback_panic().is_some()));
                }
            }
            Op::Twice { event, rets } => {
                {
                    let mut s = script();
                    s.up_event = event;
                    s.up = rets.map(Up::Ret);
                }
                let (r, called) = model.plain_result(&rets);
                let got = twice(chain, event);
                prop_assert_eq!(
                    got,
                    [NotifyResult::from_raw(r); 2],
                    "step {}: {:?}",
                    step,
                    op
                );
                // Two walks' callbacks, interleaved: compare as multisets.
                let log: Vec<Ev> = std::mem::take(&mut script().log);
                let mut got_cbs: Vec<(usize, u64, bool)> = log
                    .iter()
                    .map(|e| match *e {
                        Ev::Cb {
                            block,
                            event,
                            nested,
                        } => (block, event, nested),
                        ref other => panic!("unexpected {other:?}"),
                    })
                    .collect();
                got_cbs.sort_unstable();
                let mut want_cbs: Vec<(usize, u64, bool)> = called
                    .iter()
                    .chain(&called)
                    .map(|&b| (b, event, false))
                    .collect();
                want_cbs.sort_unstable();
                prop_assert_eq!(got_cbs, want_cbs, "step {}: {:?}", step, op);
            }
        }
        want.push(model.state());
        script().log.push(state(chain, &blocks));
        let got = std::mem::take(&mut script().log);
        prop_assert_eq!(got, want, "step {}: {:?}", step, op);
    }
    drop(guards);
    for b in &blocks {
        let _ = chain.unregister(b);
    }
    prop_assert!(chain.is_empty());
    INNER.with(|i| *i.borrow_mut() = None);
    Ok(())
}

fn sync_twice<C: Chain<u64> + Sync>(chain: &'static C, event: u64) -> [NotifyResult; 2] {
    std::thread::scope(|s| {
        let other = s.spawn(move || chain.call(event, &()));
        let mine = chain.call(event, &());
        [mine, other.join().expect("no panic in a Twice walk")]
    })
}

fn config() -> ProptestConfig {
    ProptestConfig {
        cases: 256,
        failure_persistence: None,
        ..ProptestConfig::default()
    }
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn raw_chain_api(prios in prop::array::uniform6(-2..=2i32), ops in prop::collection::vec(op(), 0..20)) {
        let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
        silence_scripted_panics();
        let chain: &'static RawChain<u64> = Box::leak(Box::new(RawChain::new()));
        check(Kind::Raw, chain, |c, e| [c.call(e, &()), c.call(e, &())], prios, &ops)?;
    }

    #[test]
    fn atomic_chain_api(prios in prop::array::uniform6(-2..=2i32), ops in prop::collection::vec(op(), 0..20)) {
        let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
        silence_scripted_panics();
        let chain: &'static AtomicChain<u64> = Box::leak(Box::new(AtomicChain::new()));
        check(Kind::Atomic, chain, sync_twice, prios, &ops)?;
    }

    #[test]
    fn blocking_chain_api(prios in prop::array::uniform6(-2..=2i32), ops in prop::collection::vec(op(), 0..20)) {
        let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
        silence_scripted_panics();
        let chain: &'static BlockingChain<u64> = Box::leak(Box::new(BlockingChain::new()));
        check(Kind::Blocking, chain, sync_twice, prios, &ops)?;
    }
}
