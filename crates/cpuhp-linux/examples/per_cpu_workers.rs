//! A worker pool with one pinned worker per online CPU that follows CPU hotplug.
//!
//! Two userspace cpuhp states do the work: `workers:queue` gives a CPU its job queue, and
//! `workers:thread` starts its worker (the startup runs on a thread pinned to the CPU, and the
//! worker inherits that affinity). Before a CPU goes, the teardown of `workers:thread` drains its
//! worker: the worker finishes the jobs queued for it and exits. When a worker fails to start, the
//! queue that was already set up for it is torn down again, and the kernel's CPU stays online
//! without a worker.
//!
//! ```text
//! cargo run -p cpuhp-linux --example per_cpu_workers            # a simulated kernel
//! cargo run -p cpuhp-linux --example per_cpu_workers -- --real 30   # follow this machine for 30 s
//! ```
//!
//! Simulated, the example drives the kernel itself (the simulator behind the same file interface
//! as the real one) and hands the watcher the uevents a kernel would send. With `--real` it only
//! follows: CPUs go and come when someone writes their `online` files (as root).

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{Sender, channel};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use cpuhp::{CpuId, Errno, Online};
use cpuhp_linux::{CpuSets, CpuWatcher, Follower, Fs, HostIo, SimKernel, SysfsIo, current_cpu};

type Job = Box<dyn FnOnce() + Send>;

struct Worker {
    jobs: Sender<Option<Job>>,
    thread: JoinHandle<u32>,
}

/// The pool: a queue per CPU (once `workers:queue` ran), a worker per CPU (`workers:thread`).
#[derive(Default)]
struct Pool {
    queues: Mutex<BTreeMap<u32, Vec<Job>>>,
    workers: Mutex<BTreeMap<u32, Worker>>,
    /// Makes the next worker start fail (to show the rollback).
    fail_next_start: AtomicBool,
}

impl Pool {
    fn submit(&self, cpu: u32, job: Job) -> Result<(), String> {
        match self.workers.lock().unwrap().get(&cpu) {
            Some(w) => w.jobs.send(Some(job)).map_err(|e| e.to_string()),
            None => Err(format!("no worker on CPU {cpu}")),
        }
    }

    fn states(self: &Arc<Pool>) -> (Online, Online) {
        let (p1, p2, p3, p4) = (self.clone(), self.clone(), self.clone(), self.clone());
        let queue = Online::new()
            .startup(move |cpu: CpuId| {
                p1.queues.lock().unwrap().insert(cpu.0, Vec::new());
                println!("  cpu {}: queue ready", cpu.0);
                Ok(())
            })
            .teardown(move |cpu: CpuId| {
                p2.queues.lock().unwrap().remove(&cpu.0);
                println!("  cpu {}: queue freed", cpu.0);
                Ok(())
            });
        let thread = Online::new()
            .startup(move |cpu: CpuId| {
                if p3.fail_next_start.swap(false, Ordering::SeqCst) {
                    println!("  cpu {}: worker failed to start (ENOMEM)", cpu.0);
                    return Err(Errno::ENOMEM);
                }
                let (tx, rx) = channel::<Option<Job>>();
                // Spawned from the thread pinned to `cpu`: the worker inherits its affinity.
                let thread = std::thread::spawn(move || {
                    let mut done = 0;
                    while let Ok(Some(job)) = rx.recv() {
                        job();
                        done += 1;
                    }
                    done
                });
                p3.workers
                    .lock()
                    .unwrap()
                    .insert(cpu.0, Worker { jobs: tx, thread });
                println!(
                    "  cpu {}: worker started (startup ran on CPU {:?})",
                    cpu.0,
                    current_cpu()
                );
                Ok(())
            })
            .teardown(move |cpu: CpuId| {
                let Some(w) = p4.workers.lock().unwrap().remove(&cpu.0) else {
                    return Ok(());
                };
                // Drain: the stop message queues behind the jobs already submitted.
                let _ = w.jobs.send(None);
                match w.thread.join() {
                    Ok(done) => println!("  cpu {}: worker drained after {done} jobs", cpu.0),
                    Err(_) => println!("  cpu {}: worker panicked", cpu.0),
                }
                Ok(())
            });
        (queue, thread)
    }
}

fn install(follower: &mut Follower, pool: &Arc<Pool>) -> Result<(), String> {
    let (queue, thread) = pool.states();
    follower
        .add_state("workers:queue", queue)
        .map_err(|r| r.to_string())?;
    follower
        .add_state("workers:thread", thread)
        .map_err(|r| r.to_string())?;
    Ok(())
}

fn submit_everywhere(pool: &Arc<Pool>, cpus: &[u32]) {
    let done = Arc::new(Mutex::new(Vec::new()));
    for &c in cpus {
        let d = done.clone();
        let job: Job = Box::new(move || d.lock().unwrap().push((c, current_cpu())));
        if let Err(e) = pool.submit(c, job) {
            println!("  submit to cpu {c}: {e}");
        }
    }
    // Wait for the jobs through the workers themselves: a job per worker that reports back.
    let (tx, rx) = channel();
    for &c in cpus {
        let tx = tx.clone();
        let _ = pool.submit(
            c,
            Box::new(move || {
                let _ = tx.send(());
            }),
        );
    }
    drop(tx);
    while rx.recv().is_ok() {}
    for (cpu, ran_on) in done.lock().unwrap().iter() {
        println!("  job for cpu {cpu} ran on CPU {ran_on:?}");
    }
}

fn uevent(action: &str, cpu: u32) -> Vec<u8> {
    let d = format!("/devices/system/cpu/cpu{cpu}");
    format!("{action}@{d}\0ACTION={action}\0DEVPATH={d}\0SUBSYSTEM=cpu\0").into_bytes()
}

fn simulated() -> Result<(), Box<dyn std::error::Error>> {
    // As many CPUs as this machine has online (at least 2), so that every worker can be pinned.
    let host = HostIo::new("/".as_ref(), None)
        .and_then(|h| CpuSets::read(&h))
        .map_or(2, |s| s.online.weight().max(2));
    let kernel = SimKernel::new(&cpuhp::preset::LINUX_6_1, host)?;
    let (uevents, rx) = channel();
    let mut watcher = CpuWatcher::with_packets(kernel, rx)?;
    let mut follower = Follower::new(watcher.sets())?;
    let pool = Arc::new(Pool::default());
    let last = host - 1;

    println!("== start: workers on CPUs {}", watcher.sets().online);
    install(&mut follower, &pool)?;
    submit_everywhere(&pool, &(0..host).collect::<Vec<_>>());

    println!("== coordinated offline of CPU {last}: drain its worker, then tell the kernel");
    let r = follower.offline(watcher.io_mut(), last);
    println!("  {r}");
    uevents.send(uevent("offline", last))?;
    let change = watcher.next().ok_or("watcher ended")??;
    println!(
        "  kernel: cpu {} {} (online {})",
        change.cpu, change.action, change.online
    );
    assert!(
        follower.apply(&change).is_empty(),
        "the follower was already there"
    );

    println!("== the kernel brings CPU {last} back, but its worker fails to start");
    pool.fail_next_start.store(true, Ordering::SeqCst);
    watcher
        .io_mut()
        .write(Fs::Cpu, &format!("cpu{last}/online"), "1")?;
    uevents.send(uevent("online", last))?;
    let change = watcher.next().ok_or("watcher ended")??;
    for r in follower.apply(&change) {
        println!("  {r}");
    }
    println!(
        "  queues now on CPUs {:?}",
        pool.queues.lock().unwrap().keys().collect::<Vec<_>>()
    );

    println!("== the kernel takes CPU {last} offline and back: this time the worker starts");
    for action in ["0", "1"] {
        watcher
            .io_mut()
            .write(Fs::Cpu, &format!("cpu{last}/online"), action)?;
        let name = if action == "1" { "online" } else { "offline" };
        uevents.send(uevent(name, last))?;
        let change = watcher.next().ok_or("watcher ended")??;
        for r in follower.apply(&change) {
            println!("  {r}");
        }
    }
    submit_everywhere(&pool, &[last]);
    Ok(())
}

fn real(seconds: u64) -> Result<(), Box<dyn std::error::Error>> {
    let mut watcher = CpuWatcher::new(HostIo::new("/".as_ref(), None)?)?;
    if let Some(why) = watcher.fallback() {
        println!("polling: {why}");
    }
    let mut follower = Follower::new(watcher.sets())?;
    let pool = Arc::new(Pool::default());
    println!(
        "== workers on CPUs {} for {seconds} s",
        watcher.sets().online
    );
    install(&mut follower, &pool)?;
    let end = Instant::now() + Duration::from_secs(seconds);
    while let Some(left) = end.checked_duration_since(Instant::now()) {
        let Some(changes) = watcher.wait(Some(left))? else {
            break;
        };
        for c in &changes {
            println!(
                "kernel: cpu {} {} ({}), online {}",
                c.cpu, c.action, c.cause, c.online
            );
        }
        if !changes.is_empty() {
            for r in follower.sync(watcher.sets()) {
                println!("  {r}");
            }
        }
    }
    Ok(())
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args.as_slice() {
        [] => simulated(),
        [flag, s] if flag == "--real" => real(s.parse().map_err(|_| "--real SECONDS")?),
        _ => Err("usage: per_cpu_workers [--real SECONDS]".into()),
    }
}
