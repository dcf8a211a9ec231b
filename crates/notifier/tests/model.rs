//! Model test: random sequences of register / unregister / plain / bounded / robust calls with
//! random return values, run on every chain kind and compared with a tiny reference model of
//! Linux's `kernel/notifier.c` — the order of callbacks, the events they see, the results, the
//! registration errors.

use std::sync::{Arc, Mutex};

use notifier::{
    AtomicChain, BlockingChain, Bounded, Chain, Notifier, NotifierBlock, NotifyResult, RawChain,
    RegisterError, UnregisterError,
};
use proptest::prelude::*;
use proptest::test_runner::FileFailurePersistence;

const BLOCKS: usize = 6;
const UP: u8 = 1;
const DOWN: u8 = 2;

#[derive(Clone, Copy, Debug)]
enum Call {
    Plain,
    Bounded(usize),
    Robust,
    RobustReversed,
    /// `call_robust_errno`: only a result with an errno is a veto.
    RobustErrno,
}

#[derive(Clone, Debug)]
enum Op {
    Register {
        block: usize,
        unique: bool,
    },
    Unregister {
        block: usize,
    },
    /// `rets[i] = (up, down)`: what block i returns for each event during this call.
    Call {
        call: Call,
        rets: [(i32, i32); BLOCKS],
    },
}

/// Interesting return values: every standard one, errnos, a bare stop mask, odd non-stopping
/// values.
fn ret_value() -> impl Strategy<Value = i32> {
    prop_oneof![
        3 => Just(NotifyResult::OK.raw()),
        2 => Just(NotifyResult::DONE.raw()),
        1 => Just(NotifyResult::STOP.raw()),
        1 => Just(NotifyResult::BAD.raw()),
        // The bare stop bit; an errno without it (the walk goes on: a veto only for
        // `call_robust_errno`).
        1 => prop::sample::select(vec![NotifyResult::STOP_MASK.raw(), 0x0002]),
        1 => (1..=4095i32).prop_map(|e| NotifyResult::from_errno(-e).raw()),
        1 => Just(2),
        1 => Just(0x7fff),
    ]
}

fn op() -> impl Strategy<Value = Op> {
    let call = prop_oneof![
        Just(Call::Plain),
        (0..=BLOCKS + 1).prop_map(Call::Bounded),
        Just(Call::Robust),
        Just(Call::RobustReversed),
        Just(Call::RobustErrno),
    ];
    prop_oneof![
        3 => (0..BLOCKS, any::<bool>()).prop_map(|(block, unique)| Op::Register { block, unique }),
        1 => (0..BLOCKS).prop_map(|block| Op::Unregister { block }),
        4 => (call, prop::array::uniform6((ret_value(), ret_value())))
            .prop_map(|(call, rets)| Op::Call { call, rets }),
    ]
}

/// What happened, comparably: callbacks seen, and each operation's result.
#[derive(Debug, PartialEq, Eq)]
enum Event {
    Callback { block: usize, event: u8 },
    Registered(Result<(), RegisterError>),
    Unregistered(Result<(), UnregisterError>),
    Called(i32),
    CalledBounded(Bounded),
}

// ----- the reference model -------------------------------------------------------------------

struct Model {
    prios: [i32; BLOCKS],
    /// Registered blocks in call order.
    chain: Vec<usize>,
}

impl Model {
    fn register(&mut self, block: usize, unique: bool) -> Result<(), RegisterError> {
        let p = self.prios[block];
        // Linux checks the blocks that will precede the new one, in order: the block itself
        // (always among them, if registered) means EEXIST, an equal priority under `unique` EBUSY;
        // whichever comes first wins.
        for &b in self.chain.iter().take_while(|&&b| self.prios[b] >= p) {
            if b == block {
                return Err(RegisterError::AlreadyRegistered);
            }
            if unique && self.prios[b] == p {
                return Err(RegisterError::PriorityTaken);
            }
        }
        // Higher priority first; FIFO among equals.
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

    /// Walks `blocks` with `event`; returns (result, number called).
    fn walk(
        blocks: &[usize],
        event: u8,
        rets: &[(i32, i32); BLOCKS],
        log: &mut Vec<Event>,
    ) -> (i32, usize) {
        let mut result = 0;
        for (n, &b) in blocks.iter().enumerate() {
            log.push(Event::Callback { block: b, event });
            result = if event == UP { rets[b].0 } else { rets[b].1 };
            if result & 0x8000 != 0 {
                return (result, n + 1);
            }
        }
        (result, blocks.len())
    }

    fn call(&self, call: Call, rets: &[(i32, i32); BLOCKS], log: &mut Vec<Event>) {
        match call {
            Call::Plain => {
                let (r, _) = Self::walk(&self.chain, UP, rets, log);
                log.push(Event::Called(r));
            }
            Call::Bounded(n) => {
                let limit = n.min(self.chain.len());
                let (r, nr_calls) = Self::walk(&self.chain[..limit], UP, rets, log);
                log.push(Event::CalledBounded(Bounded {
                    result: NotifyResult::from_raw(r),
                    nr_calls,
                }));
            }
            Call::Robust | Call::RobustReversed => {
                let (r, nr) = Self::walk(&self.chain, UP, rets, log);
                if r & 0x8000 != 0 {
                    let mut ok: Vec<usize> = self.chain[..nr - 1].to_vec();
                    if matches!(call, Call::RobustReversed) {
                        ok.reverse();
                    }
                    Self::walk(&ok, DOWN, rets, log);
                }
                log.push(Event::Called(r));
            }
            Call::RobustErrno => {
                let (r, nr) = Self::walk(&self.chain, UP, rets, log);
                // Linux's `notifier_to_errno`: an errno once the stop bit is cleared.
                if r & !0x8000 > NotifyResult::OK.raw() {
                    Self::walk(&self.chain[..nr - 1], DOWN, rets, log);
                }
                log.push(Event::Called(r));
            }
        }
    }
}

// ----- the implementation under test ----------------------------------------------------------

#[derive(Default)]
struct Script {
    rets: [(i32, i32); BLOCKS],
    log: Vec<Event>,
}

struct Recorder {
    block: usize,
    script: Arc<Mutex<Script>>,
}

impl Notifier<u8> for Recorder {
    fn notify(&self, event: u8, _: &()) -> NotifyResult {
        let mut s = self.script.lock().unwrap();
        s.log.push(Event::Callback {
            block: self.block,
            event,
        });
        NotifyResult::from_raw(if event == UP {
            s.rets[self.block].0
        } else {
            s.rets[self.block].1
        })
    }
}

fn run_impl<C: Chain<u8>>(chain: &C, prios: [i32; BLOCKS], ops: &[Op]) -> Vec<Event> {
    let script = Arc::new(Mutex::new(Script::default()));
    let blocks: Vec<_> = (0..BLOCKS)
        .map(|block| {
            Arc::new(NotifierBlock::new(
                Recorder {
                    block,
                    script: script.clone(),
                },
                prios[block],
            ))
        })
        .collect();
    let push = |e: Event| script.lock().unwrap().log.push(e);
    for op in ops {
        match *op {
            Op::Register { block, unique } => {
                let r = if unique {
                    chain.register_unique_prio(blocks[block].clone())
                } else {
                    chain.register(blocks[block].clone())
                };
                push(Event::Registered(r.map(|reg| reg.keep())));
            }
            Op::Unregister { block } => push(Event::Unregistered(chain.unregister(&blocks[block]))),
            Op::Call { call, rets } => {
                script.lock().unwrap().rets = rets;
                match call {
                    Call::Plain => {
                        let r = chain.call(UP, &());
                        push(Event::Called(r.raw()));
                    }
                    Call::Bounded(n) => {
                        let r = chain.call_bounded(UP, &(), n);
                        push(Event::CalledBounded(r));
                    }
                    Call::Robust => {
                        let r = chain.call_robust(UP, DOWN, &());
                        push(Event::Called(r.raw()));
                    }
                    Call::RobustReversed => {
                        let r = chain.call_robust_reversed(UP, DOWN, &());
                        push(Event::Called(r.raw()));
                    }
                    Call::RobustErrno => {
                        let r = chain.call_robust_errno(UP, DOWN, &());
                        push(Event::Called(r.raw()));
                    }
                }
            }
        }
    }
    for b in &blocks {
        let _ = chain.unregister(b);
    }
    assert!(chain.is_empty());
    std::mem::take(&mut script.lock().unwrap().log)
}

fn run_model(prios: [i32; BLOCKS], ops: &[Op]) -> Vec<Event> {
    let mut model = Model {
        prios,
        chain: Vec::new(),
    };
    let mut log = Vec::new();
    for op in ops {
        match *op {
            Op::Register { block, unique } => {
                let r = model.register(block, unique);
                log.push(Event::Registered(r));
            }
            Op::Unregister { block } => {
                let r = model.unregister(block);
                log.push(Event::Unregistered(r));
            }
            Op::Call { call, ref rets } => model.call(call, rets, &mut log),
        }
    }
    log
}

proptest! {
    #![proptest_config(ProptestConfig {
        cases: 10_000,
        failure_persistence: Some(Box::new(FileFailurePersistence::WithSource("regressions"))),
        ..ProptestConfig::default()
    })]

    #[test]
    fn every_chain_kind_matches_the_model(
        prios in prop::array::uniform6(-2..=2i32),
        ops in prop::collection::vec(op(), 0..24),
    ) {
        let want = run_model(prios, &ops);
        prop_assert_eq!(&run_impl(&RawChain::new(), prios, &ops), &want, "RawChain");
        prop_assert_eq!(&run_impl(&AtomicChain::new(), prios, &ops), &want, "AtomicChain");
        prop_assert_eq!(&run_impl(&BlockingChain::new(), prios, &ops), &want, "BlockingChain");
    }
}
