//! Well-formed scenarios from a small grammar (`no_panic`'s (c), `explore_checkpoints`): a
//! machine of 1–6 CPUs, 0–5 states in random sections and slots (fixed slots that may collide),
//! multi-instance states with instances, planned failures, 0–3 notifiers with vetoes, 0–8
//! operations of every kind.

use proptest::prelude::*;
use proptest::sample::Index;

const SECTIONS: [&str; 3] = ["prepare", "starting", "online"];
const ERRNOS: &[&str] = &[
    "\"ENOMEM\"",
    "\"EBUSY\"",
    "\"EAGAIN\"",
    "\"EINVAL\"",
    "\"EIO\"",
    "12",
    "-16",
    "1",
];
const INSTANCES: &[&str] = &["i0", "i1", "i2", "i3"];

#[derive(Clone, Debug)]
struct GenMachine {
    cpus: u32,
    /// `threads_per_core` and `smt`, if written.
    smt: Option<(u32, Option<&'static str>)>,
    linux: bool,
}

#[derive(Clone, Debug)]
struct GenFail {
    startup: bool,
    cpu: Option<Index>,
    instance: Option<Index>,
    errno: &'static str,
    after: Option<u32>,
    times: Option<u32>,
}

#[derive(Clone, Debug)]
struct GenState {
    section: usize,
    /// A fixed slot: one of a few per section (so they collide), or any number.
    slot: Option<u32>,
    startup: Option<bool>,
    teardown: Option<bool>,
    multi: bool,
    instances: usize,
    fail: Vec<GenFail>,
    bug: Option<&'static str>,
}

#[derive(Clone, Debug)]
struct GenVeto {
    up: bool,
    cpu: Option<Index>,
    errno: &'static str,
    after: Option<u32>,
    times: Option<u32>,
}

#[derive(Clone, Debug)]
struct GenNotifier {
    priority: Option<i32>,
    veto: Vec<GenVeto>,
}

#[derive(Clone, Debug)]
enum GenOp {
    Up(Index, Option<u32>),
    Down(Index, Option<u32>),
    AddInstance(Index, Index),
    RemoveInstance(Index, Index),
    RemoveState(Index),
    Freeze,
    Thaw,
    Smt(&'static str),
    ParallelUp(Vec<Index>),
    DisableHotplug,
    EnableHotplug,
}

#[derive(Clone, Debug)]
pub(crate) struct GenScenario {
    machine: GenMachine,
    states: Vec<GenState>,
    notifiers: Vec<GenNotifier>,
    ops: Vec<GenOp>,
}

fn gen_machine() -> impl Strategy<Value = GenMachine> {
    let smt = prop_oneof![
        2 => Just(None),
        1 => Just(Some((1, None))),
        1 => Just(Some((2, None))),
        2 => prop::sample::select(vec!["on", "off", "forceoff"]).prop_map(|c| Some((2, Some(c)))),
    ];
    (1..=6u32, smt, prop::bool::weighted(0.15)).prop_map(|(cpus, smt, linux)| GenMachine {
        cpus,
        smt,
        linux,
    })
}

fn gen_fail() -> impl Strategy<Value = GenFail> {
    (
        any::<bool>(),
        prop::option::of(any::<Index>()),
        prop::option::weighted(0.3, any::<Index>()),
        prop::sample::select(ERRNOS),
        prop::option::of(0..3u32),
        prop::option::of(1..3u32),
    )
        .prop_map(|(startup, cpu, instance, errno, after, times)| GenFail {
            startup,
            cpu,
            instance,
            errno,
            after,
            times,
        })
}

fn gen_state() -> impl Strategy<Value = GenState> {
    (
        0..3usize,
        prop::option::weighted(0.4, any::<Index>()),
        prop::option::weighted(0.2, any::<bool>()),
        prop::option::weighted(0.2, any::<bool>()),
        prop::bool::weighted(0.3),
        0..=3usize,
        prop::collection::vec(gen_fail(), 0..3),
        prop::option::weighted(
            0.1,
            prop::sample::select(vec!["leak-on-failure", "teardown-leaks"]),
        ),
        prop::bool::weighted(0.1),
    )
        .prop_map(
            |(section, slot, startup, teardown, multi, instances, fail, bug, wild)| {
                // Slots of the demo preset's sections (PREPARE 1–28, STARTING 33–59, ONLINE
                // 63–97), a few each so that they collide; now and then anything.
                let few: [&[u32]; 3] = [&[1, 5, 28, 30], &[33, 40, 45, 59], &[63, 70, 97, 99]];
                let slot = slot.map(|i| {
                    if wild {
                        1 + i.index(999) as u32
                    } else {
                        few[section][i.index(few[section].len())]
                    }
                });
                // STARTING states have no dynamic slots.
                let slot = if section == 1 {
                    Some(slot.unwrap_or(40))
                } else {
                    slot
                };
                GenState {
                    section,
                    slot,
                    startup,
                    teardown,
                    multi,
                    instances,
                    fail,
                    bug,
                }
            },
        )
}

fn gen_notifier() -> impl Strategy<Value = GenNotifier> {
    let veto = (
        any::<bool>(),
        prop::option::of(any::<Index>()),
        prop::sample::select(ERRNOS),
        prop::option::of(0..3u32),
        prop::option::of(1..3u32),
    )
        .prop_map(|(up, cpu, errno, after, times)| GenVeto {
            up,
            cpu,
            errno,
            after,
            times,
        });
    (
        prop::option::of(-5..=5i32),
        prop::collection::vec(veto, 0..3),
    )
        .prop_map(|(priority, veto)| GenNotifier { priority, veto })
}

/// `to N`: offline, PREPARE, the kick and bring-up, AP states, `ap_online_idle`, ONLINE, active,
/// online — and past the end.
fn gen_target() -> impl Strategy<Value = Option<u32>> {
    prop::option::weighted(
        0.35,
        prop::sample::select(vec![
            0,
            1,
            10,
            28,
            29,
            30,
            31,
            32,
            40,
            59,
            60,
            61,
            62,
            63,
            70,
            97,
            98,
            99,
            100,
            154,
            236,
            1000,
            u32::MAX,
        ]),
    )
}

fn gen_op() -> impl Strategy<Value = GenOp> {
    prop_oneof![
        4 => (any::<Index>(), gen_target()).prop_map(|(c, t)| GenOp::Up(c, t)),
        4 => (any::<Index>(), gen_target()).prop_map(|(c, t)| GenOp::Down(c, t)),
        2 => (any::<Index>(), any::<Index>()).prop_map(|(s, i)| GenOp::AddInstance(s, i)),
        2 => (any::<Index>(), any::<Index>()).prop_map(|(s, i)| GenOp::RemoveInstance(s, i)),
        1 => any::<Index>().prop_map(GenOp::RemoveState),
        1 => Just(GenOp::Freeze),
        1 => Just(GenOp::Thaw),
        1 => prop::sample::select(vec!["on", "off", "forceoff"]).prop_map(GenOp::Smt),
        2 => prop::collection::vec(any::<Index>(), 1..5).prop_map(GenOp::ParallelUp),
        1 => Just(GenOp::DisableHotplug),
        1 => Just(GenOp::EnableHotplug),
    ]
}

pub(crate) fn gen_scenario() -> impl Strategy<Value = GenScenario> {
    (
        gen_machine(),
        prop::collection::vec(gen_state(), 0..=5),
        prop::collection::vec(gen_notifier(), 0..=3),
        prop::collection::vec(gen_op(), 0..=8),
    )
        .prop_map(|(machine, states, notifiers, ops)| GenScenario {
            machine,
            states,
            notifiers,
            ops,
        })
}

impl GenScenario {
    /// The scenario file. Only what the parser accepts is written: planned failures only of
    /// callbacks that exist and may fail, instances only on multi-instance states, SMT control
    /// only with SMT.
    pub(crate) fn to_toml(&self) -> String {
        use std::fmt::Write as _;

        let m = &self.machine;
        let name = |i: usize| format!("s{i}:{}", SECTIONS[self.states[i].section]);
        let cpu = |i: &Index| i.index(m.cpus as usize);
        let mut t = String::new();
        // The operations first: `ops` is a top-level key.
        let multi: Vec<usize> = (0..self.states.len())
            .filter(|&i| self.states[i].multi)
            .collect();
        let to = |target: &Option<u32>| target.map(|n| format!(" to {n}")).unwrap_or_default();
        let ops: Vec<String> = self
            .ops
            .iter()
            .filter_map(|op| {
                Some(match op {
                    GenOp::Up(c, target) => format!("up {}{}", cpu(c), to(target)),
                    GenOp::Down(c, target) => format!("down {}{}", cpu(c), to(target)),
                    GenOp::AddInstance(s, i) | GenOp::RemoveInstance(s, i) => {
                        if multi.is_empty() {
                            return None;
                        }
                        let verb = if matches!(op, GenOp::AddInstance(..)) {
                            "add-instance"
                        } else {
                            "remove-instance"
                        };
                        let s = multi[s.index(multi.len())];
                        let i = INSTANCES[i.index(INSTANCES.len())];
                        format!("{verb} {} {i}", name(s))
                    }
                    GenOp::RemoveState(s) => {
                        if self.states.is_empty() {
                            return None;
                        }
                        format!("remove-state {}", name(s.index(self.states.len())))
                    }
                    GenOp::Freeze => "freeze".into(),
                    GenOp::Thaw => "thaw".into(),
                    GenOp::Smt(c) => format!("smt {c}"),
                    GenOp::ParallelUp(cpus) => {
                        let mut s = "parallel-up".to_string();
                        for c in cpus {
                            let _ = write!(s, " {}", cpu(c));
                        }
                        s
                    }
                    GenOp::DisableHotplug => "disable-hotplug".into(),
                    GenOp::EnableHotplug => "enable-hotplug".into(),
                })
            })
            .collect();
        if !ops.is_empty() || self.ops.len() % 2 == 1 {
            let quoted: Vec<String> = ops.iter().map(|o| format!("\"{o}\"")).collect();
            let _ = writeln!(t, "ops = [{}]\n", quoted.join(", "));
        }
        let _ = writeln!(t, "[machine]\ncpus = {}", m.cpus);
        if let Some((tpc, smt)) = m.smt {
            let _ = writeln!(t, "threads_per_core = {tpc}");
            if let Some(smt) = smt {
                let _ = writeln!(t, "smt = \"{smt}\"");
            }
        }
        if m.linux {
            t.push_str("preset = \"linux-6.1\"\n");
        }
        for (k, st) in self.states.iter().enumerate() {
            let _ = write!(
                t,
                "\n[[state]]\nname = \"{}\"\nsection = \"{}\"\n",
                name(k),
                SECTIONS[st.section]
            );
            match st.slot {
                Some(n) => {
                    let _ = writeln!(t, "slot = {n}");
                }
                None if k % 2 == 1 => t.push_str("slot = \"dynamic\"\n"),
                None => {}
            }
            if let Some(b) = st.startup {
                let _ = writeln!(t, "startup = {b}");
            }
            if let Some(b) = st.teardown {
                let _ = writeln!(t, "teardown = {b}");
            }
            if st.multi {
                t.push_str("multi = true\n");
                let inst: Vec<String> = INSTANCES[..st.instances]
                    .iter()
                    .map(|i| format!("\"{i}\""))
                    .collect();
                let _ = writeln!(t, "instances = [{}]", inst.join(", "));
            }
            let (startup, teardown) = (st.startup.unwrap_or(true), st.teardown.unwrap_or(true));
            let fails: Vec<String> = st
                .fail
                .iter()
                .filter(|f| match (st.section, f.startup) {
                    (0, true) | (2, true) => startup,
                    (2, false) => teardown,
                    _ => false,
                })
                .map(|f| {
                    let on = if f.startup { "startup" } else { "teardown" };
                    let mut s = format!("{{ on = \"{on}\", errno = {}", f.errno);
                    if let Some(c) = &f.cpu {
                        let _ = write!(s, ", cpu = {}", cpu(c));
                    }
                    // Only instances declared with the state (an added one would need its
                    // `add-instance`).
                    if let (Some(i), true, true) = (&f.instance, st.multi, st.instances > 0) {
                        let _ = write!(s, ", instance = \"{}\"", INSTANCES[i.index(st.instances)]);
                    }
                    if let Some(a) = f.after {
                        let _ = write!(s, ", after = {a}");
                    }
                    if let Some(n) = f.times {
                        let _ = write!(s, ", times = {n}");
                    }
                    s + " }"
                })
                .collect();
            if !fails.is_empty() {
                let _ = writeln!(t, "fail = [{}]", fails.join(", "));
            }
            if let Some(b) = st.bug {
                let _ = writeln!(t, "bug = \"{b}\"");
            }
        }
        for (k, nb) in self.notifiers.iter().enumerate() {
            let _ = write!(t, "\n[[notifier]]\nname = \"n{k}\"\n");
            if let Some(p) = nb.priority {
                let _ = writeln!(t, "priority = {p}");
            }
            if !nb.veto.is_empty() {
                let vetoes: Vec<String> = nb
                    .veto
                    .iter()
                    .map(|v| {
                        let event = if v.up { "up_prepare" } else { "down_prepare" };
                        let mut s = format!("{{ event = \"{event}\", errno = {}", v.errno);
                        if let Some(c) = &v.cpu {
                            let _ = write!(s, ", cpu = {}", cpu(c));
                        }
                        if let Some(a) = v.after {
                            let _ = write!(s, ", after = {a}");
                        }
                        if let Some(n) = v.times {
                            let _ = write!(s, ", times = {n}");
                        }
                        s + " }"
                    })
                    .collect();
                let _ = writeln!(t, "veto = [{}]", vetoes.join(", "));
            }
        }
        t
    }
}
