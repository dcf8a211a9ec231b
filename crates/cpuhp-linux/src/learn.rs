//! `linux learn`: a full offline and online of one CPU, recorded, turned into a *preset file* —
//! the live state table plus, for each state, the callbacks the kernel called and where they
//! ran — which the simulator can boot from, and which can be compared with a built-in preset.

use std::collections::BTreeMap;

use cpuhp::preset::{OwnCpu, Preset, PresetKind, PresetState};
use cpuhp::{Context, StateId};
use serde::{Deserialize, Serialize};

use crate::io::SysfsIo;
use crate::ops::Op;
use crate::record::{Recording, record};

/// The format tag of a preset file.
pub const PRESET_FORMAT: &str = "cpuhp-preset/1";

/// One callback direction of a learned state.
///
/// # Examples
///
/// ```
/// let c: cpuhp_linux::LearnedCallback =
///     serde_json::from_str(r#"{"symbol": "bio_cpu_dead", "ctx": "control", "instances": 2}"#)?;
/// assert_eq!(c.instances, Some(2));
/// # Ok::<(), serde_json::Error>(())
/// ```
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct LearnedCallback {
    /// The symbol (`%ps`: ` [module]` appended for a module's).
    pub symbol: String,
    /// Where it ran: `control` (the task writing sysfs) or `cpu` (the CPU's hotplug thread).
    pub ctx: String,
    /// For a multi-instance state: how many instances were called.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub instances: Option<u32>,
}

/// One state of a preset file.
///
/// # Examples
///
/// ```
/// let s: cpuhp_linux::LearnedState =
///     serde_json::from_str(r#"{"number": 0, "name": "offline", "startup": null, "teardown": null}"#)?;
/// assert_eq!(s.name, "offline");
/// # Ok::<(), serde_json::Error>(())
/// ```
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct LearnedState {
    /// The number, from `hotplug/states`.
    pub number: u32,
    /// The name, from `hotplug/states`.
    pub name: String,
    /// The startup the kernel called while the CPU came online (`null`: none traced).
    pub startup: Option<LearnedCallback>,
    /// The teardown the kernel called while the CPU went offline (`null`: none traced).
    pub teardown: Option<LearnedCallback>,
}

/// A preset file: what `linux learn` writes.
///
/// # Examples
///
/// ```
/// use cpuhp_linux::{learn, PresetFile, SimKernel};
///
/// let mut k = SimKernel::new(&cpuhp::preset::LINUX_6_1, 2)?;
/// let f = learn(&mut k, 1, "doc")?;
/// assert_eq!(f.states.len(), 65);
/// let rcu = f.states.iter().find(|s| s.number == 199).unwrap();
/// assert_eq!(rcu.startup.as_ref().unwrap().symbol, "rcutree_online_cpu");
/// assert_eq!(rcu.startup.as_ref().unwrap().ctx, "cpu");
/// assert!(f.diff(&cpuhp::preset::LINUX_6_1).is_empty());
/// assert!(f.states.last().unwrap().teardown.is_none(), "the kick is not a callback");
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PresetFile {
    /// [`PRESET_FORMAT`].
    pub format: String,
    /// The kernel release it was learned on.
    pub kernel: String,
    /// The CPU that was taken offline and online.
    pub cpu: u32,
    /// The states, ascending.
    pub states: Vec<LearnedState>,
}

fn ctx_name(c: Context) -> &'static str {
    match c {
        Context::Control => "control",
        _ => "cpu",
    }
}

/// Records `offline CPU` then `online CPU` (restored if either fails) and learns the table.
///
/// # Errors
///
/// As [`record`]; an operation that failed (the CPU could not go offline or come back).
pub fn learn(io: &mut dyn SysfsIo, cpu: u32, tag: &str) -> Result<PresetFile, crate::Error> {
    let rec = record(
        io,
        &[Op::Offline(vec![cpu]), Op::Online(vec![cpu])],
        None,
        tag,
    )?;
    if let Err(e) = &rec.outcome {
        return Err(crate::Error::Parse(format!(
            "learning needs a clean offline and online of CPU {cpu}: {e}"
        )));
    }
    Ok(PresetFile::from_recording(&rec, cpu))
}

impl PresetFile {
    /// The preset a recording of an offline and an online shows.
    pub fn from_recording(rec: &Recording, cpu: u32) -> PresetFile {
        // (step, bringup) → (symbol, ctx, multi calls)
        let mut seen: BTreeMap<(u32, bool), (String, Context, u32, bool)> = BTreeMap::new();
        // `cpuhp_kick_ap_work` is traced at the online state, but it is `_cpu_down` handing the
        // ONLINE section to the hotplug thread, not a callback of that state.
        for c in rec
            .calls
            .iter()
            .filter(|c| c.cpu == cpu && c.symbol != "cpuhp_kick_ap_work")
        {
            let e = seen.entry((c.step, c.bringup)).or_insert((
                c.symbol.clone(),
                c.context,
                0,
                c.multi,
            ));
            if c.multi {
                e.2 += 1;
            }
        }
        // The recording's own tracefs instance added ring buffers, each an instance of the
        // ring-buffer state: the kernel without the recording has that many fewer.
        let ring_buffers = rec
            .states
            .iter()
            .find(|r| r.name == crate::record::RING_BUFFER_STATE)
            .map(|r| r.number);
        let cb = |n: u32, up: bool| {
            seen.get(&(n, up))
                .map(|(s, ctx, k, multi)| LearnedCallback {
                    symbol: s.clone(),
                    ctx: ctx_name(*ctx).into(),
                    instances: multi.then(|| {
                        if Some(n) == ring_buffers {
                            k.saturating_sub(rec.own_ring_buffers)
                        } else {
                            *k
                        }
                    }),
                })
        };
        PresetFile {
            format: PRESET_FORMAT.into(),
            kernel: rec.kernel.clone().unwrap_or_default(),
            cpu,
            states: rec
                .states
                .iter()
                .map(|r| LearnedState {
                    number: r.number,
                    name: r.name.clone(),
                    startup: cb(r.number, true),
                    teardown: cb(r.number, false),
                })
                .collect(),
        }
    }

    /// Parses a preset file.
    ///
    /// # Errors
    ///
    /// [`Error::Parse`](crate::Error::Parse): not JSON of this shape, or another format tag.
    pub fn parse(text: &str) -> Result<PresetFile, crate::Error> {
        let f: PresetFile = serde_json::from_str(text)
            .map_err(|e| crate::Error::Parse(format!("preset file: {e}")))?;
        if f.format != PRESET_FORMAT {
            return Err(crate::Error::Parse(format!(
                "preset file: format {:?}, expected {PRESET_FORMAT:?}",
                f.format
            )));
        }
        Ok(f)
    }

    /// The file's text (pretty JSON, one state per few lines).
    pub fn to_json(&self) -> String {
        serde_json::to_string_pretty(self).unwrap_or_default() + "\n"
    }

    /// Where this table differs from a preset, one line per difference: states missing on
    /// either side, other names, other callbacks. The STARTING/DYING section is compared by
    /// number and name only (the kernel does not trace it), and a multi-instance state with no
    /// instances has nothing to trace either.
    ///
    /// # Examples
    ///
    /// ```
    /// use cpuhp_linux::{learn, SimKernel};
    /// let mut f = learn(&mut SimKernel::new(&cpuhp::preset::LINUX_6_1, 2)?, 1, "doc")?;
    /// f.states.retain(|s| s.number != 199);
    /// assert_eq!(f.diff(&cpuhp::preset::LINUX_6_1), ["199 RCU/tree:online: only in the preset"]);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn diff(&self, preset: &Preset) -> Vec<String> {
        let mine: BTreeMap<u32, &LearnedState> =
            self.states.iter().map(|s| (s.number, s)).collect();
        let theirs: BTreeMap<u32, &PresetState> =
            preset.states.iter().map(|s| (s.number, s)).collect();
        let mut out = Vec::new();
        let numbers: std::collections::BTreeSet<u32> =
            mine.keys().chain(theirs.keys()).copied().collect();
        let l = preset.layout;
        for n in numbers {
            match (mine.get(&n), theirs.get(&n)) {
                (Some(m), None) => out.push(format!("{n} {}: only in the file", m.name)),
                (None, Some(t)) => out.push(format!("{n} {}: only in the preset", t.name)),
                (Some(m), Some(t)) => {
                    if m.name != t.name {
                        out.push(format!(
                            "{n}: named {:?} in the file, {:?} in the preset",
                            m.name, t.name
                        ));
                        continue;
                    }
                    // Not traced: STARTING/DYING callbacks, and the states a walk never calls
                    // (0 offline, the top online, and the idle:dead placeholder).
                    if (l.ap_idle_dead.get()..l.ap_online.get()).contains(&n)
                        || n == 0
                        || n == l.online.get()
                    {
                        continue;
                    }
                    for (up, got, want) in [
                        (true, &m.startup, t.startup),
                        (false, &m.teardown, t.teardown),
                    ] {
                        let dir = if up { "startup" } else { "teardown" };
                        let untraced = t.kind == PresetKind::Multi(0);
                        match (got, want) {
                            (Some(g), Some(w)) if g.symbol != w => out.push(format!(
                                "{n} {}: {dir} {} in the file, {w} in the preset",
                                m.name, g.symbol
                            )),
                            (Some(g), Some(_)) => {
                                if let PresetKind::Multi(k) = t.kind {
                                    if g.instances != Some(k) {
                                        out.push(format!(
                                            "{n} {}: {dir} called for {} instances, the preset has {k}",
                                            m.name,
                                            g.instances.unwrap_or(1)
                                        ));
                                    }
                                }
                            }
                            (Some(g), None) => out.push(format!(
                                "{n} {}: {dir} {} in the file, none in the preset",
                                m.name, g.symbol
                            )),
                            (None, Some(w)) if !untraced => out.push(format!(
                                "{n} {}: {dir} {w} in the preset, not called in the file",
                                m.name
                            )),
                            _ => {}
                        }
                    }
                }
                (None, None) => {}
            }
        }
        out
    }

    /// A simulator preset with this table, on the state space (`Layout`) of the built-in preset
    /// whose special states (`cpu:bringup`, `cpu:teardown`, `online`, …) sit at the same numbers.
    /// Strings are leaked: a preset lives for the whole program.
    ///
    /// # Errors
    ///
    /// [`Error::Parse`](crate::Error::Parse) when no built-in layout fits.
    ///
    /// # Examples
    ///
    /// ```
    /// use cpuhp_linux::{learn, SimKernel};
    /// let f = learn(&mut SimKernel::new(&cpuhp::preset::LINUX_6_1, 2)?, 1, "doc")?;
    /// let p = f.to_preset()?;
    /// let hp = cpuhp::Hotplug::new(p, cpuhp::Topology::new(2), cpuhp::Inline)?;
    /// assert_eq!(hp.state_name(cpuhp::StateId(199)), Some("RCU/tree:online"));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn to_preset(&self) -> Result<&'static Preset, crate::Error> {
        let name_at = |n: StateId| {
            self.states
                .iter()
                .find(|s| s.number == n.get())
                .map(|s| s.name.as_str())
        };
        let base = cpuhp::preset::ALL
            .iter()
            .copied()
            .find(|p| {
                let l = p.layout;
                [l.bringup_cpu, l.teardown_cpu, l.online]
                    .into_iter()
                    .all(|n| {
                        let want = p.states.iter().find(|s| s.number == n.get()).map(|s| s.name);
                        want.is_some() && name_at(n) == want
                    })
            })
            .ok_or_else(|| {
                crate::Error::Parse(
                    "preset file: no built-in state space has cpu:bringup, cpu:teardown and online at these numbers".into(),
                )
            })?;
        let leak = |s: &str| -> &'static str { Box::leak(s.to_string().into_boxed_str()) };
        let states: Vec<PresetState> = self
            .states
            .iter()
            .map(|s| {
                let known = base
                    .states
                    .iter()
                    .find(|b| b.number == s.number && b.name == s.name);
                let instances = s
                    .startup
                    .iter()
                    .chain(&s.teardown)
                    .find_map(|c| c.instances);
                PresetState {
                    number: s.number,
                    name: leak(&s.name),
                    // Untraced callbacks (STARTING/DYING) come from the built-in table.
                    startup: s
                        .startup
                        .as_ref()
                        .map(|c| leak(&c.symbol))
                        .or(known.and_then(|b| b.startup)),
                    teardown: s
                        .teardown
                        .as_ref()
                        .map(|c| leak(&c.symbol))
                        .or(known.and_then(|b| b.teardown)),
                    kind: match instances {
                        Some(k) => PresetKind::Multi(k),
                        None => known.map_or(PresetKind::Single, |b| b.kind),
                    },
                    cant_stop: known.is_some_and(|b| b.cant_stop),
                    // Whether a callback checks its CPU cannot be seen in a trace of a plain
                    // offline/online: it is the built-in table's knowledge of the kernel's code.
                    startup_own_cpu: known.map_or(OwnCpu::Any, |b| b.startup_own_cpu),
                    teardown_own_cpu: known.map_or(OwnCpu::Any, |b| b.teardown_own_cpu),
                }
            })
            .collect();
        Ok(Box::leak(Box::new(Preset {
            name: "file",
            kernel: leak(&self.kernel),
            states: Box::leak(states.into_boxed_slice()),
            ..*base
        })))
    }
}
