//! Boot-time bring-up: the secondary CPUs coming up at boot (`smp_init`), as the `boot/`
//! recordings show it.
//!
//! At boot, a kernel has registered only part of its state table: the states of `kernel/cpu.c`
//! and those set up by code that runs before `smp_init`; the rest are set up later by initcalls.
//! The boot bring-up therefore steps through fewer states than a later `online` write. This module
//! knows, for each kernel preset, which states with a startup callback exist at that point, and
//! builds the machine a boot replay starts from.

use std::sync::Mutex;

use cpuhp::StateId;
use cpuhp::preset::{Preset, PresetState};

/// Linux 6.1: the PREPARE and ONLINE states whose startups run during the boot bring-up.
const LINUX_6_1_SMP_INIT: &[u32] = &[
    1, 2, 33, 40, 41, 43, 46, 47, 50, 62, 68, 91, 156, 158, 162, 196, 197, 198, 199, 201, 202, 235,
];

/// Linux 6.12: the same (6.12 also sets up `tmigr` before `smp_init`).
const LINUX_6_12_SMP_INIT: &[u32] = &[
    1, 2, 31, 37, 38, 40, 42, 43, 45, 56, 61, 62, 85, 86, 150, 151, 155, 186, 187, 188, 189, 190,
    192, 193, 235,
];

/// The states (by number) whose startup callbacks a kernel has registered when it brings up the
/// secondary CPUs at boot, outside the STARTING section (whose callbacks are the kernel's own and
/// all present). `None` for a preset of no recorded kernel.
///
/// # Examples
///
/// ```
/// use conformance::boot::smp_init_startups;
/// use cpuhp::preset;
///
/// // `mm/compaction:online` (204) is set up by an initcall, after the boot bring-up.
/// let states = smp_init_startups(&preset::LINUX_6_1).unwrap();
/// assert!(states.contains(&91) && !states.contains(&204));
/// assert!(smp_init_startups(&preset::DEMO).is_none());
/// ```
pub fn smp_init_startups(preset: &Preset) -> Option<&'static [u32]> {
    match preset.name {
        "linux-6.1" => Some(LINUX_6_1_SMP_INIT),
        "linux-6.12" => Some(LINUX_6_12_SMP_INIT),
        _ => None,
    }
}

/// `preset` as it stands at `smp_init`: every state without a startup (their teardowns do not
/// run at bring-up), every STARTING-section state, and the startup states of
/// [`smp_init_startups`]. Built once per preset and kept for the life of the process (a machine
/// needs a `'static` preset). `None` for a preset of no recorded kernel.
///
/// # Examples
///
/// ```
/// use conformance::boot::at_smp_init;
/// use cpuhp::preset;
///
/// let early = at_smp_init(&preset::LINUX_6_12).unwrap();
/// assert_eq!(early.name, "linux-6.12");
/// assert!(early.states.len() < preset::LINUX_6_12.states.len());
/// assert!(!early.states.iter().any(|s| s.name == "mm/compaction:online"));
/// ```
pub fn at_smp_init(preset: &'static Preset) -> Option<&'static Preset> {
    static BUILT: Mutex<Vec<&'static Preset>> = Mutex::new(Vec::new());
    let startups = smp_init_startups(preset)?;
    let mut built = BUILT.lock().unwrap_or_else(|e| e.into_inner());
    if let Some(p) = built.iter().find(|p| p.name == preset.name) {
        return Some(p);
    }
    let l = preset.layout;
    let starting = |s: &PresetState| {
        let n = StateId(s.number);
        n >= l.ap_offline && n <= l.ap_online
    };
    let states: Vec<PresetState> = preset
        .states
        .iter()
        .filter(|s| s.startup.is_none() || starting(s) || startups.contains(&s.number))
        .copied()
        .collect();
    // Leaked on purpose, at most once per preset: the machine borrows its preset for 'static.
    let early: &'static Preset = Box::leak(Box::new(Preset {
        states: Box::leak(states.into_boxed_slice()),
        ..*preset
    }));
    built.push(early);
    Some(early)
}

/// The `cpuhp.parallel=` boot parameter as a `BOOTARG` line states it.
///
/// # Examples
///
/// ```
/// use conformance::boot::parse_parallel;
///
/// assert_eq!(parse_parallel("unset"), Some(None));
/// assert_eq!(parse_parallel("0"), Some(Some(false)));
/// assert_eq!(parse_parallel("on"), Some(Some(true)));
/// assert_eq!(parse_parallel("maybe"), None);
/// ```
pub fn parse_parallel(value: &str) -> Option<Option<bool>> {
    // `kstrtobool`: the first character decides, except for "on"/"off".
    match value {
        "unset" => Some(None),
        "on" => Some(Some(true)),
        "off" => Some(Some(false)),
        v => match v.as_bytes().first() {
            Some(b'1' | b'y' | b'Y') => Some(Some(true)),
            Some(b'0' | b'n' | b'N') => Some(Some(false)),
            _ => None,
        },
    }
}
