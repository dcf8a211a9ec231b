//! The two scenarios, each check failing the program with its own [`Code`].

use alloc::vec::Vec;
use core::sync::atomic::{AtomicBool, Ordering::Relaxed};

use cpuhp::{CpuId, Errno, ErrorKind, Hotplug, Online, Prepare, Slot, StateId, Topology, preset};
use notifier::{AtomicChain, Chain, FnBlock, NotifyResult, Rcu};
use spin::Mutex;

use crate::platform::{Call, Uniprocessor, call};
use crate::rcu::UpRcu;
use crate::{Code, ensure, ensure_eq};

// ---------------------------------------------------------------------------------------------
// 1. The seed's rule on a notifier chain: four CPU notifiers, the third vetoes CPU_UP_PREPARE for
//    CPU 2; only the two that already said OK hear CPU_UP_CANCELED.

/// Linux's `CPU_UP_PREPARE` and `CPU_UP_CANCELED`.
const CPU_UP_PREPARE: u64 = 3;
const CPU_UP_CANCELED: u64 = 4;

static CPU_CHAIN: AtomicChain<u64, u32, UpRcu> = AtomicChain::with_rcu(UpRcu::new());

/// What the notifiers heard: (notifier, event, CPU).
static HEARD: Mutex<Vec<(char, u64, u32)>> = Mutex::new(Vec::new());
/// Set if a callback ever ran outside a read section.
static OUTSIDE: AtomicBool = AtomicBool::new(false);

fn hear(name: char, event: u64, cpu: u32) {
    if !CPU_CHAIN.rcu().in_read_section() {
        OUTSIDE.store(true, Relaxed);
    }
    HEARD.lock().push((name, event, cpu));
}

fn a(event: u64, cpu: &u32) -> NotifyResult {
    hear('a', event, *cpu);
    NotifyResult::OK
}
fn b(event: u64, cpu: &u32) -> NotifyResult {
    hear('b', event, *cpu);
    NotifyResult::OK
}
fn c(event: u64, cpu: &u32) -> NotifyResult {
    hear('c', event, *cpu);
    if event == CPU_UP_PREPARE && *cpu == 2 {
        NotifyResult::from_error(Errno::ENOMEM)
    } else {
        NotifyResult::OK
    }
}
fn d(event: u64, cpu: &u32) -> NotifyResult {
    hear('d', event, *cpu);
    NotifyResult::OK
}

static A: FnBlock<u64, u32> = FnBlock::new(a, 40);
static B: FnBlock<u64, u32> = FnBlock::new(b, 30);
static C: FnBlock<u64, u32> = FnBlock::new(c, 20);
static D: FnBlock<u64, u32> = FnBlock::new(d, 10);

fn take_heard() -> Vec<(char, u64, u32)> {
    core::mem::take(&mut *HEARD.lock())
}

/// Scenario 1 (codes 1–6).
pub fn notifier_chain() {
    // Registered out of priority order: the chain sorts them.
    for block in [&D, &B, &A, &C] {
        match CPU_CHAIN.register(block) {
            Ok(reg) => reg.keep(),
            Err(_) => crate::fail(Code::ChainRegister, "register"),
        }
    }
    ensure_eq(
        CPU_CHAIN.len(),
        4,
        Code::ChainRegister,
        "blocks on the chain",
    );

    let ret = CPU_CHAIN.call_robust(CPU_UP_PREPARE, CPU_UP_CANCELED, &2);
    ensure_eq(
        ret.to_errno(),
        Errno::ENOMEM.to_neg(),
        Code::ChainVetoResult,
        "CPU_UP_PREPARE for CPU 2",
    );
    // Linux's order: the cancel walks the same direction, over the blocks that said OK.
    ensure_eq(
        take_heard(),
        alloc::vec![
            ('a', CPU_UP_PREPARE, 2),
            ('b', CPU_UP_PREPARE, 2),
            ('c', CPU_UP_PREPARE, 2),
            ('a', CPU_UP_CANCELED, 2),
            ('b', CPU_UP_CANCELED, 2),
        ],
        Code::ChainVetoSequence,
        "callbacks of the vetoed CPU_UP_PREPARE for CPU 2",
    );

    let ret = CPU_CHAIN.call_robust(CPU_UP_PREPARE, CPU_UP_CANCELED, &1);
    ensure_eq(
        ret.to_errno(),
        0,
        Code::ChainPlainCall,
        "CPU_UP_PREPARE for CPU 1",
    );
    ensure_eq(
        take_heard(),
        alloc::vec![
            ('a', CPU_UP_PREPARE, 1),
            ('b', CPU_UP_PREPARE, 1),
            ('c', CPU_UP_PREPARE, 1),
            ('d', CPU_UP_PREPARE, 1),
        ],
        Code::ChainPlainCall,
        "callbacks of CPU_UP_PREPARE for CPU 1",
    );
    ensure(
        !OUTSIDE.load(Relaxed) && !CPU_CHAIN.rcu().in_read_section(),
        Code::ChainOutsideReadSection,
        "a callback ran outside a read section, or a section stayed open",
    );

    // Unregistering waits for a grace period (`UpRcu::synchronize`); the veto goes with it.
    ensure(
        CPU_CHAIN.unregister(&C).is_ok() && !CPU_CHAIN.is_registered(&C),
        Code::ChainUnregister,
        "unregister the vetoing block",
    );
    let ret = CPU_CHAIN.call_robust(CPU_UP_PREPARE, CPU_UP_CANCELED, &2);
    ensure_eq(
        ret.to_errno(),
        0,
        Code::ChainUnregister,
        "CPU_UP_PREPARE for CPU 2 without c",
    );
    ensure_eq(
        take_heard(),
        alloc::vec![
            ('a', CPU_UP_PREPARE, 2),
            ('b', CPU_UP_PREPARE, 2),
            ('d', CPU_UP_PREPARE, 2),
        ],
        Code::ChainUnregister,
        "callbacks without c",
    );
}

// ---------------------------------------------------------------------------------------------
// 2. The state machine on a 4-CPU machine (the `DEMO` state table): a `setup_state` whose ONLINE
//    startup fails on CPU 3, then a bring-up whose ONLINE startup fails.

/// The demo table's numbers: where a CPU is online, the first dynamic PREPARE and ONLINE slots,
/// and the core's states with callbacks.
const ONLINE: u32 = 99;
const PREP_DYN: u32 = 10;
const ONLINE_DYN: u32 = 70;
const KICK_AP: u32 = 29; // cpuhp_kick_ap_alive
const BRINGUP_CPU: u32 = 30; // bringup_cpu / finish_cpu
const TEARDOWN_CPU: u32 = 61; // takedown_cpu
const SCHED_ACTIVE: u32 = 98; // sched_cpu_activate / sched_cpu_deactivate
/// Linux traces the control side's `cpuhp_kick_ap_work` (handing a section to the hotplug thread)
/// as a callback whose step is the state the CPU was in when the hand-off began.
const KICK_AP_WORK_FROM_ONLINE: u32 = ONLINE;

/// Makes the second scenario's ONLINE startup fail on CPU 2.
static ARMED: AtomicBool = AtomicBool::new(false);

/// Where every CPU is.
fn states(hp: &Hotplug<Uniprocessor>) -> Vec<u32> {
    (0..hp.nr_cpus())
        .map(|cpu| {
            hp.cpu_status(CpuId(cpu))
                .map_or(u32::MAX, |s| s.state.get())
        })
        .collect()
}

/// Scenario 2 (codes 10–25).
pub fn state_machine() {
    let Ok(mut hp) = Hotplug::new(&preset::DEMO, Topology::new(4), Uniprocessor::new()) else {
        crate::fail(Code::MachineBoot, "Hotplug::new(DEMO, 4 CPUs)");
    };
    ensure_eq(
        states(&hp),
        alloc::vec![ONLINE; 4],
        Code::MachineBoot,
        "CPU states at boot",
    );
    hp.platform().take_log(); // the boot's bring-up

    // 2a. setup_state: the startup fails on CPU 3, after succeeding on 0-2, which are torn down.
    let err = hp
        .setup_state(
            Slot::OnlineDyn,
            "free:fails-on-3",
            Online::new()
                .startup(|cpu: CpuId| {
                    if cpu.0 == 3 {
                        Err(Errno::ENOMEM)
                    } else {
                        Ok(())
                    }
                })
                .teardown(|_| Ok(())),
        )
        .err();
    ensure_eq(
        err.map(|e| (e.kind(), e.errno())),
        Some((ErrorKind::Callback, Errno::ENOMEM)),
        Code::SetupResult,
        "setup_state failing on CPU 3",
    );
    let s = ONLINE_DYN;
    ensure_eq(
        hp.platform().take_log(),
        alloc::vec![
            call(0, s, true, 0),
            call(1, s, true, 0),
            call(2, s, true, 0),
            call(3, s, true, -12),
            call(0, s, false, 0),
            call(1, s, false, 0),
            call(2, s, false, 0),
        ],
        Code::SetupSequence,
        "callbacks of the failed setup_state",
    );
    ensure_eq(
        states(&hp),
        alloc::vec![ONLINE; 4],
        Code::SetupState,
        "CPU states after it",
    );
    ensure_eq(
        hp.state_name(StateId(s)),
        None,
        Code::SetupState,
        "the failed state's slot",
    );

    // 2b. A PREPARE and an ONLINE state; CPU 2 goes down, then comes up with the ONLINE startup
    //     failing: everything that succeeded is undone in reverse and CPU 2 ends offline.
    let prep = hp.setup_state(
        Slot::PrepareDyn,
        "free:prepare",
        Prepare::new().startup(|_| Ok(())).teardown(|_| ()),
    );
    let online = hp.setup_state(
        Slot::OnlineDyn,
        "free:online",
        Online::new()
            .startup(|cpu: CpuId| {
                if cpu.0 == 2 && ARMED.load(Relaxed) {
                    Err(Errno::ENOMEM)
                } else {
                    Ok(())
                }
            })
            .teardown(|_| Ok(())),
    );
    ensure_eq(
        (prep.map(StateId::get).ok(), online.map(StateId::get).ok()),
        (Some(PREP_DYN), Some(ONLINE_DYN)),
        Code::BringupInstall,
        "the two states' numbers",
    );
    let installed: Vec<Call> = [PREP_DYN, ONLINE_DYN]
        .iter()
        .flat_map(|&step| (0..4).map(move |cpu| call(cpu, step, true, 0)))
        .collect();
    ensure_eq(
        hp.platform().take_log(),
        installed,
        Code::BringupInstall,
        "their startups",
    );

    ensure(
        hp.cpu_down(CpuId(2), StateId::OFFLINE).is_ok(),
        Code::BringupDown,
        "cpu_down(2)",
    );
    ensure_eq(
        hp.platform().take_log(),
        alloc::vec![
            // The hotplug thread's ONLINE section, then the control side's record of it.
            call(2, SCHED_ACTIVE, false, 0),
            call(2, ONLINE_DYN, false, 0),
            call(2, KICK_AP_WORK_FROM_ONLINE, false, 0),
            // The control side stops the CPU and runs the PREPARE teardowns.
            call(2, TEARDOWN_CPU, false, 0),
            call(2, BRINGUP_CPU, false, 0),
            call(2, PREP_DYN, false, 0),
        ],
        Code::BringupDown,
        "teardowns of cpu_down(2)",
    );

    ARMED.store(true, Relaxed);
    let err = hp.cpu_up(CpuId(2), StateId(ONLINE)).err();
    ensure_eq(
        err.map(|e| (e.kind(), e.errno())),
        Some((ErrorKind::Callback, Errno::ENOMEM)),
        Code::BringupResult,
        "cpu_up(2) with its ONLINE startup failing",
    );
    ensure_eq(
        hp.platform().take_log(),
        alloc::vec![
            call(2, PREP_DYN, true, 0),
            call(2, KICK_AP, true, 0),
            // `bringup_cpu` boots the CPU and waits for its hotplug thread's ONLINE section,
            // which fails at our startup, so `bringup_cpu` returns that error when it exits.
            call(2, ONLINE_DYN, true, -12),
            call(2, BRINGUP_CPU, true, -12),
            // The failing startup gets no teardown; everything that succeeded is undone in
            // reverse: the CPU is stopped, then the PREPARE section torn down.
            call(2, TEARDOWN_CPU, false, 0),
            call(2, BRINGUP_CPU, false, 0),
            call(2, PREP_DYN, false, 0),
        ],
        Code::BringupSequence,
        "callbacks of the failed cpu_up(2)",
    );
    ensure_eq(
        states(&hp),
        alloc::vec![ONLINE, ONLINE, 0, ONLINE],
        Code::BringupState,
        "CPU states after the failed cpu_up(2)",
    );
    ensure(
        !hp.online_mask().contains(CpuId(2)) && hp.online_mask().weight() == 3,
        Code::BringupState,
        "online mask after the failed cpu_up(2)",
    );

    ARMED.store(false, Relaxed);
    ensure(
        hp.cpu_up(CpuId(2), StateId(ONLINE)).is_ok(),
        Code::BringupRetry,
        "cpu_up(2) without the failure",
    );
    ensure_eq(
        states(&hp),
        alloc::vec![ONLINE; 4],
        Code::BringupRetry,
        "CPU states at the end",
    );
    ensure_eq(
        hp.platform().take_log(),
        alloc::vec![
            call(2, PREP_DYN, true, 0),
            call(2, KICK_AP, true, 0),
            // The ONLINE section runs inside `bringup_cpu`, which exits last.
            call(2, ONLINE_DYN, true, 0),
            call(2, SCHED_ACTIVE, true, 0),
            call(2, BRINGUP_CPU, true, 0),
        ],
        Code::BringupRetry,
        "callbacks of cpu_up(2)",
    );
}

// ---------------------------------------------------------------------------------------------
// 0. The runtime this program brings along: the allocator and the memory functions.

/// Scenario 0 (codes 30–34): run first, since everything else rests on it.
pub fn runtime() {
    use core::alloc::{GlobalAlloc, Layout};

    use crate::HEAP;
    use crate::heap::ARENA_SIZE;
    use crate::rt::{bcmp, memcmp, memcpy, memmove, memset};

    // Exhaustion is a null pointer, not a panic or an out-of-bounds block.
    let (Ok(too_big), Ok(page)) = (
        Layout::from_size_align(ARENA_SIZE + 1, 1),
        Layout::from_size_align(64, 4096),
    ) else {
        crate::fail(Code::HeapExhaustion, "building the test layouts");
    };
    // SAFETY: a non-zero-sized layout. (A non-null block is never freed: the program fails.)
    let p = unsafe { HEAP.alloc(too_big) };
    ensure(
        p.is_null(),
        Code::HeapExhaustion,
        "allocating more than the arena",
    );

    // Alignment is honoured from any cursor position (one byte in); freeing the last block
    // rewinds to its start, so the same request gets the same block again.
    let byte = Layout::new::<u8>();
    // SAFETY: non-zero-sized layouts; each non-null block is freed once, with its layout.
    unsafe {
        let one = HEAP.alloc(byte);
        let first = HEAP.alloc(page);
        let aligned = !one.is_null() && !first.is_null() && first.addr() % 4096 == 0;
        if !first.is_null() {
            HEAP.dealloc(first, page);
        }
        let again = HEAP.alloc(page);
        ensure(
            aligned && again == first,
            Code::HeapAlignment,
            "a 4096-aligned block, freed and allocated again",
        );
        HEAP.dealloc(again, page);
        HEAP.dealloc(one, byte);
    }

    // A growing Vec keeps its contents (in-place `realloc`, then a moved one).
    let mut v: Vec<u32> = Vec::with_capacity(1);
    v.extend(0..1000);
    let _pin = Vec::<u8>::with_capacity(1); // `v` is no longer last: the next growth moves it
    v.extend(1000..3000);
    ensure(
        v.iter().copied().eq(0..3000),
        Code::HeapAlignment,
        "a Vec grown in place and moved",
    );

    // The memory functions, called directly (LLVM may inline the calls it generates itself).
    let mut buf = *b"0123456789";
    // SAFETY: every range below lies inside `buf` (10 bytes) or `src` (4 bytes).
    unsafe {
        memmove(buf.as_mut_ptr().add(2), buf.as_ptr(), 6); // overlapping, copied backwards
        ensure_eq(
            &buf,
            b"0101234589",
            Code::MemMove,
            "memmove to a higher address",
        );
        memmove(buf.as_mut_ptr(), buf.as_ptr().add(3), 7); // overlapping, copied forwards
        ensure_eq(
            &buf,
            b"1234589589",
            Code::MemMove,
            "memmove to a lower address",
        );
        memset(buf.as_mut_ptr().add(1), i32::from(b'x'), 3);
        let src = *b"abcd";
        memcpy(buf.as_mut_ptr().add(6), src.as_ptr(), 4);
        ensure_eq(&buf, b"1xxx58abcd", Code::MemCopy, "memset and memcpy");
        let cmp = |a: &[u8], b: &[u8]| memcmp(a.as_ptr(), b.as_ptr(), a.len()).signum();
        let eq = |a: &[u8], b: &[u8]| bcmp(a.as_ptr(), b.as_ptr(), a.len()) == 0;
        ensure_eq(
            (
                cmp(b"abc", b"abd"),
                cmp(b"abd", b"abc"),
                cmp(b"\xff", b"\x01"),
                cmp(b"ab", b"ab"),
            ),
            (-1, 1, 1, 0),
            Code::MemCompare,
            "memcmp (bytes compare unsigned)",
        );
        ensure_eq(
            (eq(b"abc", b"abc"), eq(b"abc", b"abx"), eq(b"", b"")),
            (true, false, true),
            Code::MemCompare,
            "bcmp",
        );
    }
}
