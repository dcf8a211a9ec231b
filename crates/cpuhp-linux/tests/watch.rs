//! The watcher and the follower, driven as a program would drive them: uevent packets in the
//! kernel's format fed through a channel, sysfs as a directory tree or the simulator, and the
//! follower's callbacks pinned to this machine's own CPUs.

use std::sync::mpsc::{Sender, channel};
use std::sync::{Arc, Mutex};

use cpuhp::{CpuId, Errno, Online, StateId};
use cpuhp_linux::{
    Cause, CpuAction, CpuSets, CpuWatcher, FollowKind, FollowReport, Follower, Fs, HostIo, IoError,
    Outcome, SimKernel, Step, SysfsIo, UeventError, parse_uevent,
};

// ---- recorded packets (the kernel's format: ACTION@DEVPATH, then KEY=VALUE, NUL-separated) ----

fn packet(action: &str, cpu: u32, seqnum: u64) -> Vec<u8> {
    let devpath = format!("/devices/system/cpu/cpu{cpu}");
    let mut p = format!("{action}@{devpath}\0ACTION={action}\0DEVPATH={devpath}\0SUBSYSTEM=cpu\0");
    if action == "add" {
        p.push_str("MODALIAS=cpu:type:x86,ven0000fam0006mod003F:feature:,0000,0001,0002\0");
    }
    p.push_str(&format!("SEQNUM={seqnum}\0"));
    p.into_bytes()
}

const NET: &[u8] = b"add@/devices/virtual/net/veth0\0ACTION=add\0DEVPATH=/devices/virtual/net/veth0\0SUBSYSTEM=net\0INTERFACE=veth0\0IFINDEX=7\0SEQNUM=3301\0";
const CACHE: &[u8] = b"add@/devices/system/cpu/cpu1/cache/index0\0ACTION=add\0DEVPATH=/devices/system/cpu/cpu1/cache/index0\0SUBSYSTEM=cpu\0SEQNUM=3302\0";
const MACHINECHECK: &[u8] = b"online@/devices/system/machinecheck/machinecheck1\0ACTION=online\0DEVPATH=/devices/system/machinecheck/machinecheck1\0SUBSYSTEM=machinecheck\0SEQNUM=3303\0";

#[test]
fn parses_recorded_cpu_packets() {
    for (action, want) in [
        ("online", CpuAction::Online),
        ("offline", CpuAction::Offline),
        ("add", CpuAction::Add),
        ("remove", CpuAction::Remove),
    ] {
        let u = parse_uevent(&packet(action, 3, 4242)).unwrap();
        assert_eq!(u.action, action);
        assert_eq!(u.devpath, "/devices/system/cpu/cpu3");
        assert_eq!(u.seqnum, Some(4242));
        assert_eq!(u.cpu_event(), Some((want, 3)));
    }
    let add = parse_uevent(&packet("add", 12, 1)).unwrap();
    assert_eq!(
        add.get("MODALIAS").map(|m| m.starts_with("cpu:type:x86")),
        Some(true)
    );
    assert_eq!(add.fields.len(), 5);
    for other in [NET, CACHE, MACHINECHECK] {
        assert_eq!(parse_uevent(other).unwrap().cpu_event(), None);
    }
}

#[test]
fn malformed_and_truncated_packets_are_errors_never_panics() {
    assert_eq!(parse_uevent(b""), Err(UeventError::Empty));
    assert_eq!(
        parse_uevent(b"libudev\0\xfe\xed\xca\xfe\x28\0\0\0"),
        Err(UeventError::Udev)
    );
    let full = packet("offline", 2, 77);
    // Every truncation parses or is refused; none that parses names another CPU or action (a
    // value cut short cannot be told from a shorter value, so `cpu2` cut to `cpu` is not a CPU).
    let mut refused = 0;
    for n in 0..full.len() {
        match parse_uevent(&full[..n]) {
            Ok(u) => assert!(
                matches!(u.cpu_event(), None | Some((CpuAction::Offline, 2))),
                "{n}: {u:?}"
            ),
            Err(_) => refused += 1,
        }
    }
    assert!(refused > 20, "{refused}");
    assert!(matches!(
        parse_uevent(b"offline@/devices/system/cpu/cpu2\0ACTION=offline\0DEVP"),
        Err(UeventError::Malformed(m)) if m.contains("\"DEVP\" has no '='")
    ));
    for junk in [
        &b"\0\0\0\0"[..],
        b"offline/devices/system/cpu/cpu2\0",
        b"offline@/devices/system/cpu/cpu2\0ACTION=online\0",
        b"offline@/devices/system/cpu/cpu2\0SEQNUM=x\0",
        b"\xff\xfe@/\xff\0A=\xff\0",
    ] {
        let r = parse_uevent(junk);
        assert!(
            r.is_err() || r.as_ref().is_ok_and(|u| u.cpu_event().is_none()),
            "{junk:?}"
        );
    }
    // Arbitrary bytes: a deterministic sweep of short strings over a small alphabet.
    let alphabet = b"a@/=\0\xffc1";
    for i in 0..alphabet.len().pow(5) {
        let mut n = i;
        let bytes: Vec<u8> = (0..5)
            .map(|_| {
                let b = alphabet[n % alphabet.len()];
                n /= alphabet.len();
                b
            })
            .collect();
        let _ = parse_uevent(&bytes);
    }
}

// ---- a directory tree shaped like /sys ----

struct Tree {
    dir: tempfile::TempDir,
}

impl Tree {
    fn new(possible: &str, present: &str, online: &str) -> Tree {
        let t = Tree {
            dir: tempfile::tempdir().unwrap(),
        };
        std::fs::create_dir_all(t.cpu()).unwrap();
        t.set(possible, present, online);
        t
    }

    fn cpu(&self) -> std::path::PathBuf {
        self.dir.path().join("sys/devices/system/cpu")
    }

    fn set(&self, possible: &str, present: &str, online: &str) {
        for (f, v) in [
            ("possible", possible),
            ("present", present),
            ("online", online),
        ] {
            std::fs::write(self.cpu().join(f), format!("{v}\n")).unwrap();
        }
    }

    fn io(&self) -> HostIo {
        HostIo::new(self.dir.path(), None).unwrap()
    }
}

fn watcher(t: &Tree) -> (CpuWatcher<HostIo>, Sender<Vec<u8>>) {
    let (tx, rx) = channel();
    (CpuWatcher::with_packets(t.io(), rx).unwrap(), tx)
}

/// One wake-up: the changes as `(action, cpu, cause)`.
fn wake(w: &mut CpuWatcher<HostIo>) -> Vec<(CpuAction, u32, Cause)> {
    w.wait(None)
        .unwrap()
        .unwrap()
        .into_iter()
        .map(|c| (c.action, c.cpu, c.cause))
        .collect()
}

#[test]
fn reports_each_change_with_its_uevent_and_the_online_set_after_it() {
    let t = Tree::new("0-3", "0-3", "0-3");
    let (mut w, tx) = watcher(&t);
    t.set("0-3", "0-3", "0-2");
    tx.send(packet("offline", 3, 10)).unwrap();
    let c = w.next().unwrap().unwrap();
    assert_eq!((c.action, c.cpu), (CpuAction::Offline, 3));
    assert_eq!(c.cause, Cause::Uevent { seqnum: Some(10) });
    assert_eq!(c.online.to_string(), "0-2");
    t.set("0-3", "0-3", "0-3");
    tx.send(packet("online", 3, 11)).unwrap();
    let c = w.next().unwrap().unwrap();
    assert_eq!(
        (c.action, c.cpu, c.online.to_string()),
        (CpuAction::Online, 3, "0-3".into())
    );
    drop(tx);
    assert!(w.next().is_none());
    let s = w.stats();
    assert_eq!((s.packets, s.cpu_events, s.rereads, s.stale), (2, 2, 2, 0));
}

#[test]
fn a_missed_uevent_is_caught_by_the_reread() {
    let t = Tree::new("0-3", "0-3", "0-3");
    let (mut w, tx) = watcher(&t);
    // CPUs 2 and 3 went offline; the uevent for 2 was lost.
    t.set("0-3", "0-3", "0-1");
    tx.send(packet("offline", 3, 20)).unwrap();
    assert_eq!(
        wake(&mut w),
        [
            (CpuAction::Offline, 2, Cause::Reread),
            (CpuAction::Offline, 3, Cause::Uevent { seqnum: Some(20) }),
        ]
    );
    assert_eq!(w.sets().online.to_string(), "0-1");
    // An unrelated packet does not wake a re-read; a CPU's does, and finds nothing new.
    tx.send(NET.to_vec()).unwrap();
    assert_eq!(wake(&mut w), []);
    assert_eq!(w.stats().rereads, 1);
}

#[test]
fn reordered_and_stale_uevents_never_leave_a_wrong_set() {
    let t = Tree::new("0-3", "0-3", "0-3");
    let (mut w, tx) = watcher(&t);
    // 2 then 3 went offline; the packets arrive 3 first, in one backlog.
    t.set("0-3", "0-3", "0-1");
    tx.send(packet("offline", 3, 31)).unwrap();
    tx.send(packet("offline", 2, 30)).unwrap();
    assert_eq!(
        wake(&mut w),
        [
            (CpuAction::Offline, 2, Cause::Uevent { seqnum: Some(30) }),
            (CpuAction::Offline, 3, Cause::Uevent { seqnum: Some(31) }),
        ]
    );
    // 2 came back online and went offline again before the watcher woke, and the packets
    // arrive out of order: both changes, in the order they happened; the set is sysfs's, 0-1.
    tx.send(packet("offline", 2, 33)).unwrap();
    tx.send(packet("online", 2, 32)).unwrap();
    assert_eq!(
        wake(&mut w),
        [
            (CpuAction::Online, 2, Cause::Uevent { seqnum: Some(32) }),
            (CpuAction::Offline, 2, Cause::Uevent { seqnum: Some(33) }),
        ]
    );
    assert_eq!(w.sets().online.to_string(), "0-1");
    // A stale `offline` for a CPU that is offline, seen before: matches nothing, changes nothing.
    tx.send(packet("offline", 3, 31)).unwrap();
    assert_eq!(wake(&mut w), []);
    assert_eq!(w.stats().stale, 1);
    // Then it really comes online, reported once the re-read shows it.
    t.set("0-3", "0-3", "0-2");
    tx.send(packet("online", 2, 34)).unwrap();
    assert_eq!(
        wake(&mut w),
        [(CpuAction::Online, 2, Cause::Uevent { seqnum: Some(34) })]
    );
}

#[test]
fn cpus_appearing_with_new_numbers_and_vanishing() {
    let t = Tree::new("0-3", "0-3", "0-3");
    let (mut w, tx) = watcher(&t);
    // A CPU with a number never seen before (a board hot-added, a bigger possible set in a
    // test tree) arrives and comes online; CPU 1 leaves.
    t.set("0-3,70", "0,2-3,70", "0,2-3,70");
    tx.send(packet("add", 70, 40)).unwrap();
    tx.send(packet("online", 70, 41)).unwrap();
    assert_eq!(
        wake(&mut w),
        [
            (CpuAction::Offline, 1, Cause::Reread),
            (CpuAction::Remove, 1, Cause::Reread),
            (CpuAction::Add, 70, Cause::Uevent { seqnum: Some(40) }),
            (CpuAction::Online, 70, Cause::Uevent { seqnum: Some(41) }),
        ]
    );
    assert_eq!(w.sets().online.to_string(), "0,2-3,70");
    // And everything above 3 goes again; the masks shrink without a panic.
    t.set("0-3", "0,2-3", "0,2");
    tx.send(packet("remove", 70, 42)).unwrap();
    assert_eq!(
        wake(&mut w),
        [
            (CpuAction::Offline, 3, Cause::Reread),
            (CpuAction::Offline, 70, Cause::Reread),
            (CpuAction::Remove, 70, Cause::Uevent { seqnum: Some(42) }),
        ]
    );
}

#[test]
fn malformed_packets_force_a_reread_and_bad_files_are_errors() {
    let t = Tree::new("0-3", "0-3", "0-3");
    let (mut w, tx) = watcher(&t);
    t.set("0-3", "0-3", "0-2");
    tx.send(b"offline@/devices/system/cpu/cpu3\0ACTI".to_vec())
        .unwrap();
    tx.send(Vec::new()).unwrap();
    assert_eq!(wake(&mut w), [(CpuAction::Offline, 3, Cause::Reread)]);
    assert_eq!(w.stats().malformed, 2);
    // A garbled `online` file: an error naming the file; the old sets are kept.
    std::fs::write(t.cpu().join("online"), "0-2,banana\n").unwrap();
    tx.send(packet("online", 3, 50)).unwrap();
    let e = w.wait(None).unwrap_err();
    assert!(e.to_string().contains("online: not a CPU list"), "{e}");
    assert_eq!(w.sets().online.to_string(), "0-2");
    std::fs::write(t.cpu().join("online"), "0-9000\n").unwrap();
    assert!(w.resync().is_err(), "more CPUs than Linux allows");
    std::fs::remove_file(t.cpu().join("online")).unwrap();
    assert!(w.resync().unwrap_err().to_string().contains("ENOENT"));
}

#[test]
fn polling_sees_what_no_uevent_announces() {
    // A `hotplug/target` write sends no uevent: polling (or the rescan) finds it.
    let t = Tree::new("0-1", "0-1", "0-1");
    let mut w = CpuWatcher::polling(t.io(), std::time::Duration::from_millis(1)).unwrap();
    assert_eq!(w.source(), "poll");

    t.set("0-1", "0-1", "0");
    let c = w.wait(None).unwrap().unwrap();
    assert_eq!(
        (c[0].action, c[0].cpu, c[0].cause),
        (CpuAction::Offline, 1, Cause::Reread)
    );
}

#[test]
fn short_waits_do_not_shorten_the_polling_interval() {
    let t = Tree::new("0-1", "0-1", "0-1");
    let mut w = CpuWatcher::polling(t.io(), std::time::Duration::from_secs(3600)).unwrap();
    t.set("0-1", "0-1", "0");
    for _ in 0..3 {
        let quick = w.wait(Some(std::time::Duration::ZERO)).unwrap().unwrap();
        assert!(quick.is_empty());
    }
    assert_eq!(w.stats().rereads, 0);
    assert_eq!(
        w.resync().unwrap().len(),
        1,
        "the change is there to be read"
    );
}

#[test]
fn missing_present_and_possible_default_to_what_is_known() {
    let t = Tree::new("0-3", "0-3", "0-1,3");
    std::fs::remove_file(t.cpu().join("possible")).unwrap();
    std::fs::remove_file(t.cpu().join("present")).unwrap();
    let s = CpuSets::read(&t.io()).unwrap();
    assert_eq!(
        (
            s.possible.to_string(),
            s.present.to_string(),
            s.online.to_string()
        ),
        ("0-1,3".into(), "0-1,3".into(), "0-1,3".into())
    );
}

// ---- the follower ----

/// What a callback saw: `(state, startup, cpu it was for, cpu it ran on)`.
type Log = Arc<Mutex<Vec<(&'static str, bool, u32, Option<u32>)>>>;

fn logged(log: &Log, name: &'static str, fail_startup: Option<(u32, Errno)>) -> Online {
    let (l1, l2) = (log.clone(), log.clone());
    Online::new()
        .startup(move |cpu: CpuId| {
            l1.lock()
                .unwrap()
                .push((name, true, cpu.0, cpuhp_linux::current_cpu()));
            match fail_startup {
                Some((c, e)) if c == cpu.0 => Err(e),
                _ => Ok(()),
            }
        })
        .teardown(move |cpu: CpuId| {
            l2.lock()
                .unwrap()
                .push((name, false, cpu.0, cpuhp_linux::current_cpu()));
            Ok(())
        })
}

/// This process's allowed CPUs (pinning works only there).
fn allowed() -> Vec<u32> {
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    let list = status
        .lines()
        .find_map(|l| l.strip_prefix("Cpus_allowed_list:"))
        .unwrap();
    cpuhp_linux::parse_cpus(list.trim()).unwrap()
}

/// Where a callback for `cpu` must have been pinned.
fn pin_of(cpu: u32) -> Option<u32> {
    allowed().contains(&cpu).then_some(cpu)
}

/// A step as `(state, startup, result, pinned to)`.
type StepView = (String, bool, Result<(), Errno>, Option<u32>);

fn steps(r: &FollowReport) -> Vec<StepView> {
    r.steps
        .iter()
        .map(|s: &Step| (s.name.clone(), s.startup, s.result, s.pinned))
        .collect()
}

fn st(name: &str, startup: bool, result: Result<(), Errno>, pinned: Option<u32>) -> StepView {
    (name.to_string(), startup, result, pinned)
}

#[test]
fn follower_runs_startups_pinned_on_each_cpu_and_teardowns_after_the_kernel_acted() {
    let t = Tree::new("0-1", "0-1", "0-1");
    let (mut w, tx) = watcher(&t);
    let mut f = Follower::new(w.sets()).unwrap();
    let log: Log = Arc::default();
    let a = f.add_state("pool:alloc", logged(&log, "a", None)).unwrap();
    let b = f
        .add_state("pool:workers", logged(&log, "b", None))
        .unwrap();
    assert!(a < b);
    // Installing ran each startup on each CPU, ascending, pinned there.
    let got = std::mem::take(&mut *log.lock().unwrap());
    assert_eq!(
        got,
        [
            ("a", true, 0, pin_of(0)),
            ("a", true, 1, pin_of(1)),
            ("b", true, 0, pin_of(0)),
            ("b", true, 1, pin_of(1)),
        ]
    );

    // The kernel takes CPU 1 offline on its own: teardowns in reverse, after the fact.
    t.set("0-1", "0-1", "0");
    tx.send(packet("offline", 1, 60)).unwrap();
    let change = w.next().unwrap().unwrap();
    let r = f.apply(&change);
    assert_eq!(r.len(), 1);
    assert_eq!(
        (r[0].cpu, r[0].kind, &r[0].outcome),
        (1, FollowKind::Teardown, &Outcome::Done)
    );
    assert_eq!(
        steps(&r[0]),
        [
            st("pool:workers", false, Ok(()), None),
            st("pool:alloc", false, Ok(()), None)
        ]
    );
    assert_eq!(f.followed().to_string(), "0");
    log.lock().unwrap().clear();

    // It comes back: startups ascending, on CPU 1.
    t.set("0-1", "0-1", "0-1");
    tx.send(packet("online", 1, 61)).unwrap();
    let r = f.apply(&w.next().unwrap().unwrap());
    assert_eq!(
        (r[0].kind, &r[0].outcome),
        (FollowKind::Startup, &Outcome::Done)
    );
    assert_eq!(
        steps(&r[0]),
        [
            st("pool:alloc", true, Ok(()), pin_of(1)),
            st("pool:workers", true, Ok(()), pin_of(1))
        ]
    );
    let ran: Vec<_> = log.lock().unwrap().iter().map(|e| (e.0, e.3)).collect();
    assert_eq!(
        ran,
        [("a", pin_of(1)), ("b", pin_of(1))],
        "each ran on the CPU it is for"
    );
    assert!(
        r[0].steps
            .iter()
            .all(|s| s.ran_on == s.pinned || s.pinned.is_none())
    );
    assert_eq!(f.followed().to_string(), "0-1");
    // Nothing changed: nothing runs.
    assert!(f.sync(w.sets()).is_empty());
}

#[test]
fn a_failed_startup_is_rolled_back_and_the_kernel_cpu_stays_online() {
    let mut k = SimKernel::new(&cpuhp::preset::LINUX_6_1, 2).unwrap();
    let mut f = Follower::new(&CpuSets::read(&k).unwrap()).unwrap();
    let log: Log = Arc::default();
    f.add_state("pool:alloc", logged(&log, "a", None)).unwrap();
    let e = f
        .add_state("pool:workers", logged(&log, "b", Some((1, Errno::ENOMEM))))
        .unwrap_err();
    assert_eq!(
        steps(&e),
        [
            st("pool:workers", true, Ok(()), pin_of(0)),
            st("pool:workers", true, Err(Errno::ENOMEM), pin_of(1)),
            st("pool:workers", false, Ok(()), pin_of(0)),
        ]
    );
    // Installing failed on CPU 1: rolled back on CPU 0 and not installed.
    log.lock().unwrap().clear();
    let b = f
        .add_state("pool:workers", logged(&log, "b", None))
        .unwrap();
    assert_eq!(b, StateId(71));

    // The third state fails on CPU 1 only once CPU 1 comes back: installed now (CPU 1 is down).
    k.write(Fs::Cpu, "cpu1/online", "0").unwrap();
    assert_eq!(f.sync(&CpuSets::read(&k).unwrap()).len(), 1);
    f.add_state("pool:stats", logged(&log, "c", Some((1, Errno::ENOMEM))))
        .unwrap();
    k.write(Fs::Cpu, "cpu1/online", "1").unwrap();
    let r = f.sync(&CpuSets::read(&k).unwrap());
    assert_eq!(r.len(), 1);
    assert_eq!(
        steps(&r[0]),
        [
            st("pool:alloc", true, Ok(()), pin_of(1)),
            st("pool:workers", true, Ok(()), pin_of(1)),
            st("pool:stats", true, Err(Errno::ENOMEM), pin_of(1)),
            st("pool:workers", false, Ok(()), pin_of(1)),
            st("pool:alloc", false, Ok(()), pin_of(1)),
        ]
    );
    assert_eq!(
        r[0].outcome,
        Outcome::StartupFailed {
            name: "pool:stats".into(),
            errno: Errno::ENOMEM
        }
    );
    assert_eq!(
        r[0].to_string(),
        "cpu 1: startup: startup of pool:stats failed with ENOMEM; rolled back; the kernel's CPU 1 \
         stays online (the kernel cannot be vetoed after the fact)"
    );
    assert_eq!(k.read(Fs::Cpu, "online").unwrap(), "0-1\n");
    assert_eq!(
        (f.followed().to_string(), f.failed().to_string()),
        ("0".into(), "1".into())
    );
    // Not retried while the kernel keeps it online; retried after it went and came back.
    assert!(f.sync(&CpuSets::read(&k).unwrap()).is_empty());
    k.write(Fs::Cpu, "cpu1/online", "0").unwrap();
    assert!(
        f.sync(&CpuSets::read(&k).unwrap()).is_empty(),
        "nothing was up on CPU 1"
    );
    assert_eq!(f.failed().to_string(), "");
    k.write(Fs::Cpu, "cpu1/online", "1").unwrap();
    let r = f.sync(&CpuSets::read(&k).unwrap());
    assert_eq!(r[0].steps.len(), 5, "the same failure again: {}", r[0]);
}

/// A file system that records every write (to show what was never written).
struct Recording {
    k: SimKernel,
    writes: Vec<String>,
}

impl SysfsIo for Recording {
    fn read(&self, fs: Fs, rel: &str) -> Result<String, IoError> {
        self.k.read(fs, rel)
    }
    fn write(&mut self, fs: Fs, rel: &str, value: &str) -> Result<(), IoError> {
        self.writes.push(format!("{value} > {rel}"));
        self.k.write(fs, rel, value)
    }
    fn exists(&self, fs: Fs, rel: &str) -> bool {
        self.k.exists(fs, rel)
    }
    fn writable(&self, fs: Fs, rel: &str) -> bool {
        self.k.writable(fs, rel)
    }
    fn mkdir(&mut self, fs: Fs, rel: &str) -> Result<(), IoError> {
        self.k.mkdir(fs, rel)
    }
    fn rmdir(&mut self, fs: Fs, rel: &str) -> Result<(), IoError> {
        self.k.rmdir(fs, rel)
    }
    fn list(&self, fs: Fs, rel: &str) -> Result<Vec<String>, IoError> {
        self.k.list(fs, rel)
    }
    fn display(&self, fs: Fs, rel: &str) -> String {
        self.k.display(fs, rel)
    }
    fn tracefs(&self) -> Result<(String, &'static str), String> {
        self.k.tracefs()
    }
    fn is_root(&self) -> bool {
        self.k.is_root()
    }
    fn uname_release(&self) -> Option<String> {
        self.k.uname_release()
    }
}

fn recording(cpus: u32) -> Recording {
    Recording {
        k: SimKernel::new(&cpuhp::preset::LINUX_6_1, cpus).unwrap(),
        writes: Vec::new(),
    }
}

fn vetoing(log: &Log, name: &'static str, veto: Option<u32>) -> Online {
    let (l1, l2) = (log.clone(), log.clone());
    Online::new()
        .startup(move |cpu: CpuId| {
            l1.lock()
                .unwrap()
                .push((name, true, cpu.0, cpuhp_linux::current_cpu()));
            Ok(())
        })
        .teardown(move |cpu: CpuId| {
            l2.lock()
                .unwrap()
                .push((name, false, cpu.0, cpuhp_linux::current_cpu()));
            if veto == Some(cpu.0) {
                Err(Errno::EBUSY)
            } else {
                Ok(())
            }
        })
}

#[test]
fn coordinated_offline_runs_teardowns_first_then_writes_online() {
    let mut io = recording(2);
    let mut f = Follower::new(&CpuSets::read(&io).unwrap()).unwrap();
    let log: Log = Arc::default();
    f.add_state("pool:alloc", vetoing(&log, "a", None)).unwrap();
    f.add_state("pool:drain", vetoing(&log, "b", None)).unwrap();
    let r = f.offline(&mut io, 1);
    assert_eq!(r.outcome, Outcome::Done, "{r}");
    assert_eq!(
        steps(&r),
        [
            st("pool:drain", false, Ok(()), pin_of(1)),
            st("pool:alloc", false, Ok(()), pin_of(1))
        ]
    );
    assert_eq!(io.writes, ["0 > cpu1/online"]);
    assert_eq!(io.read(Fs::Cpu, "online").unwrap(), "0\n");
    assert_eq!(f.followed().to_string(), "0");
    // The kernel's uevent then changes nothing: the follower is already there.
    assert!(f.sync(&CpuSets::read(&io).unwrap()).is_empty());
}

#[test]
fn a_userspace_veto_keeps_the_cpu_online_and_online_is_never_written() {
    let mut io = recording(2);
    let mut f = Follower::new(&CpuSets::read(&io).unwrap()).unwrap();
    let log: Log = Arc::default();
    f.add_state("pool:alloc", vetoing(&log, "a", Some(1)))
        .unwrap();
    f.add_state("pool:drain", vetoing(&log, "b", None)).unwrap();
    let r = f.offline(&mut io, 1);
    assert_eq!(
        steps(&r),
        [
            st("pool:drain", false, Ok(()), pin_of(1)),
            st("pool:alloc", false, Err(Errno::EBUSY), pin_of(1)),
            st("pool:drain", true, Ok(()), pin_of(1)),
        ]
    );
    assert_eq!(
        r.outcome,
        Outcome::Vetoed {
            name: "pool:alloc".into(),
            errno: Errno::EBUSY
        }
    );
    assert_eq!(
        r.to_string(),
        "cpu 1: offline: vetoed by pool:alloc (EBUSY); rolled back; online not written, CPU 1 stays online"
    );
    assert!(io.writes.is_empty(), "{:?}", io.writes);
    assert_eq!(io.read(Fs::Cpu, "online").unwrap(), "0-1\n");
    assert_eq!(f.followed().to_string(), "0-1");
}

#[test]
fn a_kernel_refusal_undoes_the_userspace_teardowns() {
    let mut io = recording(2);
    io.k.fail_path("write", Fs::Cpu, "cpu1/online", Errno::EBUSY);
    let mut f = Follower::new(&CpuSets::read(&io).unwrap()).unwrap();
    let log: Log = Arc::default();
    f.add_state("pool:alloc", vetoing(&log, "a", None)).unwrap();
    let r = f.offline(&mut io, 1);
    assert_eq!(
        steps(&r),
        [
            st("pool:alloc", false, Ok(()), pin_of(1)),
            st("pool:alloc", true, Ok(()), pin_of(1)),
        ]
    );
    assert_eq!(
        r.outcome,
        Outcome::KernelRefused {
            error: "write /sys/devices/system/cpu/cpu1/online: EBUSY".into(),
            restored: true
        }
    );
    assert_eq!(io.read(Fs::Cpu, "online").unwrap(), "0-1\n");
    assert_eq!(f.followed().to_string(), "0-1");
}

#[test]
fn coordinated_offline_refusals_run_nothing() {
    let mut io = recording(2);
    let mut f = Follower::new(&CpuSets::read(&io).unwrap()).unwrap();
    let log: Log = Arc::default();
    f.add_state("pool:alloc", vetoing(&log, "a", None)).unwrap();
    log.lock().unwrap().clear();
    let r = f.offline(&mut io, 0);
    assert!(
        matches!(&r.outcome, Outcome::Refused(m) if m.contains("CPU 0 has no online file")),
        "{r}"
    );
    let r = f.offline(&mut io, 5);
    assert!(
        matches!(&r.outcome, Outcome::Refused(m) if m.contains("no CPU 5")),
        "{r}"
    );
    assert!(log.lock().unwrap().is_empty() && io.writes.is_empty());
}

#[test]
fn a_follower_starts_from_whatever_the_kernel_has_online() {
    // CPU 0 offline (possible on some architectures), CPU 2 offline.
    let t = Tree::new("0-3", "0-3", "1,3");
    let sets = CpuSets::read(&t.io()).unwrap();
    let mut f = Follower::new(&sets).unwrap();
    assert_eq!(f.followed().to_string(), "1,3");
    let log: Log = Arc::default();
    f.add_state("x", logged(&log, "x", None)).unwrap();
    let cpus: Vec<u32> = log.lock().unwrap().iter().map(|e| e.2).collect();
    assert_eq!(cpus, [1, 3]);
    // A CPU beyond the possible set the follower started with: refused, reported.
    t.set("0-3,9", "0-3,9", "1,3,9");
    let r = f.sync(&CpuSets::read(&t.io()).unwrap());
    assert_eq!(r.len(), 1);
    assert!(matches!(&r[0].outcome, Outcome::Refused(m) if m.contains("CPU 9 is beyond the 4")));
    assert!(Follower::new(&CpuSets::read(&Tree::new("0-1", "0-1", "").io()).unwrap()).is_err());
}

/// Polls a stream to its next item with a waker that unparks this thread (no runtime).
#[cfg(feature = "tokio")]
fn next_of<S: futures_core::Stream + Unpin>(s: &mut S) -> Option<S::Item> {
    use std::task::{Context, Poll, Wake, Waker};
    struct Unpark(std::thread::Thread);
    impl Wake for Unpark {
        fn wake(self: Arc<Self>) {
            self.0.unpark();
        }
    }
    let waker = Waker::from(Arc::new(Unpark(std::thread::current())));
    let mut cx = Context::from_waker(&waker);
    loop {
        match std::pin::Pin::new(&mut *s).poll_next(&mut cx) {
            Poll::Ready(item) => return item,
            Poll::Pending => std::thread::park(),
        }
    }
}

#[cfg(feature = "tokio")]
#[test]
fn the_async_stream_yields_what_the_iterator_would() {
    let t = Tree::new("0-3", "0-3", "0-3");
    let (w, tx) = watcher(&t);
    let mut stream = w.into_stream();
    t.set("0-3", "0-3", "0-1");
    tx.send(packet("offline", 3, 70)).unwrap();
    let got: Vec<_> = (0..2)
        .map(|_| {
            let c = next_of(&mut stream).unwrap().unwrap();
            (c.action, c.cpu, c.cause)
        })
        .collect();
    assert_eq!(
        got,
        [
            (CpuAction::Offline, 2, Cause::Reread),
            (CpuAction::Offline, 3, Cause::Uevent { seqnum: Some(70) }),
        ]
    );
    std::fs::write(t.cpu().join("online"), "garbage\n").unwrap();
    tx.send(packet("online", 2, 71)).unwrap();
    assert!(
        next_of(&mut stream).unwrap().is_err(),
        "an error ends the stream"
    );
    assert!(next_of(&mut stream).is_none());
}

#[test]
fn a_cpu_that_went_and_came_back_between_two_reads_is_torn_down_and_started_again() {
    // The follower's threads pinned to CPU 1 lost their affinity while it was gone: the
    // watcher reports the bounce from the uevents, and the follower redoes CPU 1.
    let t = Tree::new("0-1", "0-1", "0-1");
    let (mut w, tx) = watcher(&t);
    let mut f = Follower::new(w.sets()).unwrap();
    let log: Log = Arc::default();
    f.add_state("pool:workers", logged(&log, "w", None))
        .unwrap();
    tx.send(packet("offline", 1, 80)).unwrap();
    tx.send(packet("online", 1, 81)).unwrap();
    let changes = w.wait(None).unwrap().unwrap();
    let seen: Vec<_> = changes.iter().map(|c| (c.action, c.cpu, c.cause)).collect();
    assert_eq!(
        seen,
        [
            (CpuAction::Offline, 1, Cause::Uevent { seqnum: Some(80) }),
            (CpuAction::Online, 1, Cause::Uevent { seqnum: Some(81) }),
        ]
    );
    let reports: Vec<FollowReport> = changes.iter().flat_map(|c| f.apply(c)).collect();
    assert_eq!(reports.len(), 2);
    assert_eq!(
        steps(&reports[0]),
        [st("pool:workers", false, Ok(()), pin_of(1))],
        "back online: the teardown runs on it"
    );
    assert_eq!(
        steps(&reports[1]),
        [st("pool:workers", true, Ok(()), pin_of(1))]
    );
    assert_eq!(f.followed().to_string(), "0-1");
    // Applying a change the follower is already past does nothing; sync agrees.
    assert!(f.apply(&changes[1]).is_empty());
    assert!(f.sync(w.sets()).is_empty());
}

#[test]
fn nohz_full_reading_null_means_no_cpu() {
    // Linux 6.1 without `nohz_full=` prints "(null)"; the follower's coordinated offline reads it
    // through the safety rules.
    let t = Tree::new("0-1", "0-1", "0-1");
    std::fs::write(t.cpu().join("nohz_full"), "(null)\n").unwrap();
    let info = cpuhp_linux::CpuInfo::read(&t.io()).unwrap();
    assert_eq!(
        (info.nohz_full.weight(), info.housekeeping.to_string()),
        (0, "0-1".into())
    );
    std::fs::write(t.cpu().join("nohz_full"), "(nil)\n").unwrap();
    assert!(
        cpuhp_linux::CpuInfo::read(&t.io()).is_err(),
        "anything else is still an error"
    );
}
