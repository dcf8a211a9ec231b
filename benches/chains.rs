//! Chain calls with 1, 8 and 64 no-op callbacks (`u64` in, notifier value out), with one reader,
//! two readers, and one reader while a writer registers and unregisters a block every ~10 µs —
//! beside the floor (a plain loop over `Vec<Box<dyn Fn>>` with the STOP_MASK check), an
//! `RwLock<Vec<…>>`, and the peer crates registry-io and signals2. Plus `ThreadRcu` alone (group
//! `thread-rcu`): an empty read section, a robust call, and `unregister` with an idle reader.
//!
//! `cargo bench -p cpuhp-benches --bench chains`; `scripts/bench-table.py` turns the results
//! into the table of BENCHMARKS.md.

use std::hint::black_box;
use std::sync::atomic::{AtomicBool, Ordering::Relaxed};
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant};

use criterion::measurement::WallTime;
use criterion::{BenchmarkGroup, Criterion, criterion_group, criterion_main};
use notifier::{
    AtomicChain, BlockingChain, Chain, NotifierBlock, NotifyResult, RawChain, Rcu, ThreadRcu,
};
use registry_io::SyncRegistry;
use signals2::{Connect1, Emit1, Signal};

const SIZES: [usize; 3] = [1, 8, 64];
const WRITER_PERIOD: Duration = Duration::from_micros(10);

type Floor = Vec<Box<dyn Fn(u64) -> i32 + Send + Sync>>;

fn floor_callbacks(n: usize) -> Floor {
    (0..n)
        .map(|_| {
            Box::new(|x: u64| {
                black_box(x);
                NotifyResult::OK.raw()
            }) as Box<dyn Fn(u64) -> i32 + Send + Sync>
        })
        .collect()
}

#[inline(always)]
fn floor_call(callbacks: &Floor, x: u64) -> i32 {
    let mut ret = NotifyResult::DONE.raw();
    for f in callbacks {
        ret = f(x);
        if ret & NotifyResult::STOP_MASK.raw() != 0 {
            break;
        }
    }
    ret
}

fn noop_block() -> Arc<NotifierBlock<impl Fn(u64, &()) -> NotifyResult + Send + Sync>> {
    Arc::new(NotifierBlock::new(
        |x: u64, _: &()| {
            black_box(x);
            NotifyResult::OK
        },
        0,
    ))
}

/// Something to call, and a writer's unit of work on it (register + unregister one block).
trait Subject: Sync {
    fn call(&self, x: u64) -> i32;
    fn churn(&self);
}

struct FloorSubject {
    callbacks: Floor,
    /// The floor has no writer; its "writer" churns an unrelated chain, for the same load.
    unrelated: AtomicChain<u64>,
}

impl Subject for FloorSubject {
    #[inline]
    fn call(&self, x: u64) -> i32 {
        floor_call(&self.callbacks, x)
    }
    fn churn(&self) {
        churn_chain(&self.unrelated);
    }
}

fn churn_chain<C: Chain<u64>>(chain: &C) {
    let reg = chain.register(noop_block()).unwrap();
    reg.unregister().unwrap();
}

fn filled<C: Chain<u64>>(chain: C, n: usize) -> C {
    for _ in 0..n {
        chain.register(noop_block()).unwrap().keep();
    }
    chain
}

struct ChainSubject<C>(C);

impl<C: Chain<u64> + Sync> Subject for ChainSubject<C> {
    #[inline]
    fn call(&self, x: u64) -> i32 {
        self.0.call(x, &()).raw()
    }
    fn churn(&self) {
        churn_chain(&self.0);
    }
}

/// A `RawChain` shared between threads the way its contract says: behind the caller's lock.
struct LockedRaw(Mutex<RawChain<u64>>);

impl Subject for LockedRaw {
    #[inline]
    fn call(&self, x: u64) -> i32 {
        self.0.lock().unwrap().call(x, &()).raw()
    }
    fn churn(&self) {
        churn_chain(&*self.0.lock().unwrap());
    }
}

struct RwLockSubject(RwLock<Floor>);

impl Subject for RwLockSubject {
    #[inline]
    fn call(&self, x: u64) -> i32 {
        floor_call(&self.0.read().unwrap(), x)
    }
    fn churn(&self) {
        self.0
            .write()
            .unwrap()
            .push(floor_callbacks(1).pop().unwrap());
        self.0.write().unwrap().pop();
    }
}

struct RegistryIo(SyncRegistry<u64>);

impl Subject for RegistryIo {
    #[inline]
    fn call(&self, x: u64) -> i32 {
        self.0.notify(&x);
        0
    }
    fn churn(&self) {
        let id = self.0.register(|x: &u64| {
            black_box(x);
        });
        self.0.unregister_and_wait(id);
    }
}

struct Signals2(Signal<(u64,), i32>);

impl Subject for Signals2 {
    #[inline]
    fn call(&self, x: u64) -> i32 {
        self.0.emit(x).unwrap_or(0)
    }
    fn churn(&self) {
        let c = self.0.connect(|x: u64| {
            black_box(x);
            NotifyResult::OK.raw()
        });
        c.disconnect();
    }
}

#[derive(Clone, Copy)]
enum Setting {
    OneReader,
    TwoReaders,
    ReaderAndWriter,
}

impl Setting {
    fn name(self) -> &'static str {
        match self {
            Setting::OneReader => "1-reader",
            Setting::TwoReaders => "2-readers",
            Setting::ReaderAndWriter => "reader+writer",
        }
    }
}

fn run(g: &mut BenchmarkGroup<'_, WallTime>, name: &str, subject: &dyn Subject, setting: Setting) {
    let stop = AtomicBool::new(false);
    std::thread::scope(|s| {
        match setting {
            Setting::OneReader => {}
            Setting::TwoReaders => {
                s.spawn(|| {
                    while !stop.load(Relaxed) {
                        black_box(subject.call(black_box(7)));
                    }
                });
            }
            Setting::ReaderAndWriter => {
                s.spawn(|| {
                    while !stop.load(Relaxed) {
                        let start = Instant::now();
                        subject.churn();
                        while start.elapsed() < WRITER_PERIOD {
                            std::hint::spin_loop();
                        }
                    }
                });
            }
        }
        g.bench_function(name, |b| b.iter(|| subject.call(black_box(7))));
        stop.store(true, Relaxed);
    });
}

fn chains(c: &mut Criterion) {
    for setting in [
        Setting::OneReader,
        Setting::TwoReaders,
        Setting::ReaderAndWriter,
    ] {
        for n in SIZES {
            let mut g = c.benchmark_group(format!("{}/{n}", setting.name()));
            g.warm_up_time(Duration::from_millis(700));
            g.measurement_time(Duration::from_secs(2));
            g.sample_size(40);

            let floor = FloorSubject {
                callbacks: floor_callbacks(n),
                unrelated: AtomicChain::new(),
            };
            run(&mut g, "floor", &floor, setting);
            run(
                &mut g,
                "AtomicChain",
                &ChainSubject(filled(AtomicChain::new(), n)),
                setting,
            );
            run(
                &mut g,
                "BlockingChain",
                &ChainSubject(filled(BlockingChain::new(), n)),
                setting,
            );
            run(
                &mut g,
                "RawChain",
                &LockedRaw(Mutex::new(filled(RawChain::new(), n))),
                setting,
            );
            run(
                &mut g,
                "RwLock<Vec>",
                &RwLockSubject(RwLock::new(floor_callbacks(n))),
                setting,
            );
            let registry = SyncRegistry::new();
            for _ in 0..n {
                registry.register(|x: &u64| {
                    black_box(x);
                });
            }
            run(&mut g, "registry-io", &RegistryIo(registry), setting);
            let signal = Signal::new();
            for _ in 0..n {
                signal.connect(|x: u64| {
                    black_box(x);
                    NotifyResult::OK.raw()
                });
            }
            run(&mut g, "signals2", &Signals2(signal), setting);
            g.finish();
        }
    }
}

/// `RawChain` alone, as its contract intends (one thread, no lock).
fn raw_unshared(c: &mut Criterion) {
    let mut g = c.benchmark_group("raw-unshared");
    g.warm_up_time(Duration::from_millis(700));
    g.measurement_time(Duration::from_secs(2));
    g.sample_size(40);
    for n in SIZES {
        let chain = filled(RawChain::new(), n);
        g.bench_function(format!("RawChain/{n}"), |b| {
            b.iter(|| chain.call(black_box(7), &()).raw())
        });
        let floor = floor_callbacks(n);
        g.bench_function(format!("floor/{n}"), |b| {
            b.iter(|| floor_call(&floor, black_box(7)))
        });
    }
    g.finish();
}

/// `ThreadRcu` alone: an empty read section (enter + leave, no callback), a robust call with one
/// callback, and `unregister` (a grace period) while one other thread holds a slot but is idle —
/// the cost of the read side's barrier and of the write side's.
fn thread_rcu(c: &mut Criterion) {
    let mut g = c.benchmark_group("thread-rcu");
    g.warm_up_time(Duration::from_millis(500));
    g.measurement_time(Duration::from_secs(2));
    g.sample_size(40);
    g.bench_function("read-section", |b| {
        b.iter(|| drop(black_box(ThreadRcu.read_lock())))
    });
    let chain = filled(AtomicChain::new(), 1);
    g.bench_function("AtomicChain/robust/1", |b| {
        b.iter(|| chain.call_robust(black_box(7), 8, &()).raw())
    });

    let (idle_tx, idle_rx) = std::sync::mpsc::channel::<()>();
    let (ready_tx, ready_rx) = std::sync::mpsc::channel::<()>();
    let idle = std::thread::spawn(move || {
        drop(ThreadRcu.read_lock()); // takes a slot, which every grace period then reads
        ready_tx.send(()).unwrap();
        let _ = idle_rx.recv();
    });
    ready_rx.recv().unwrap();
    let chain = AtomicChain::<u64>::new();
    let block = noop_block();
    g.bench_function("unregister/1-idle-reader", |b| {
        b.iter_custom(|iters| {
            let mut total = Duration::ZERO;
            for _ in 0..iters {
                let reg = chain.register(block.clone()).unwrap();
                let start = Instant::now();
                reg.unregister().unwrap();
                total += start.elapsed();
            }
            total
        })
    });
    drop(idle_tx);
    idle.join().unwrap();
    g.finish();
}

criterion_group!(benches, chains, raw_unshared, thread_rcu);
criterion_main!(benches);
