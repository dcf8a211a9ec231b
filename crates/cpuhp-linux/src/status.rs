//! `linux status` (each CPU's online, state, target, fail) and `linux states` (the live
//! `hotplug/states` table), in the formats the simulator's `cpuhp states` uses.

use std::fmt::Write as _;

use cpuhp::CpuId;
use serde::Serialize;

use crate::io::{Fs, SysfsIo};
use crate::probe::CpuInfo;

/// One line of `hotplug/states`.
///
/// # Examples
///
/// ```
/// let s = cpuhp_linux::parse_states(" 91: cpu:bringup\n236: online\n")?;
/// assert_eq!(s[0], cpuhp_linux::StateRow { number: 91, name: "cpu:bringup".into() });
/// # Ok::<(), cpuhp_linux::Error>(())
/// ```
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct StateRow {
    /// The state number.
    pub number: u32,
    /// Its name.
    pub name: String,
}

/// Parses the text of `hotplug/states` (`%3d: %s` per line).
///
/// # Errors
///
/// [`Error::Parse`](crate::Error::Parse) naming the first line that is not `NUMBER: NAME`.
pub fn parse_states(text: &str) -> Result<Vec<StateRow>, crate::Error> {
    text.lines()
        .filter(|l| !l.trim().is_empty())
        .enumerate()
        .map(|(i, l)| {
            l.split_once(':')
                .and_then(|(n, name)| {
                    Some(StateRow {
                        number: n.trim().parse().ok()?,
                        name: name.trim().to_string(),
                    })
                })
                .ok_or_else(|| {
                    crate::Error::Parse(format!(
                        "hotplug/states line {}: expected `NUMBER: NAME`, found {l:?}",
                        i + 1
                    ))
                })
        })
        .collect()
}

/// Prints a state table as Linux's `hotplug/states` does (`%3d: %s`).
///
/// # Examples
///
/// ```
/// let rows = cpuhp_linux::parse_states("  0: offline\n236: online\n")?;
/// assert_eq!(cpuhp_linux::states_text(&rows), "  0: offline\n236: online\n");
/// # Ok::<(), cpuhp_linux::Error>(())
/// ```
pub fn states_text(rows: &[StateRow]) -> String {
    let mut out = String::new();
    for r in rows {
        let _ = writeln!(out, "{:3}: {}", r.number, r.name);
    }
    out
}

/// The state table as JSON: `[{"number": 0, "name": "offline"}, …]`.
///
/// # Examples
///
/// ```
/// let rows = cpuhp_linux::parse_states("  0: offline\n")?;
/// assert_eq!(cpuhp_linux::states_json(&rows), r#"[{"number":0,"name":"offline"}]"#);
/// # Ok::<(), cpuhp_linux::Error>(())
/// ```
pub fn states_json(rows: &[StateRow]) -> String {
    serde_json::to_string(rows).unwrap_or_default()
}

/// Reads the live table.
///
/// # Errors
///
/// `hotplug/states` cannot be read or parsed.
///
/// # Examples
///
/// ```
/// use cpuhp_linux::{read_states, SimKernel};
/// let rows = read_states(&SimKernel::new(&cpuhp::preset::LINUX_6_1, 2)?)?;
/// assert_eq!(rows.len(), 65);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn read_states(io: &dyn SysfsIo) -> Result<Vec<StateRow>, crate::Error> {
    parse_states(&io.read(Fs::Cpu, "hotplug/states")?)
}

/// Looks a state up by number or by name in the live table.
///
/// # Errors
///
/// [`Error::Usage`](crate::Error::Usage) for a name or number the table does not have.
///
/// # Examples
///
/// ```
/// let rows = cpuhp_linux::parse_states("  0: offline\n199: RCU/tree:online\n")?;
/// assert_eq!(cpuhp_linux::resolve_state(&rows, "RCU/tree:online")?, 199);
/// assert_eq!(cpuhp_linux::resolve_state(&rows, "199")?, 199);
/// assert!(cpuhp_linux::resolve_state(&rows, "nope").is_err());
/// # Ok::<(), cpuhp_linux::Error>(())
/// ```
pub fn resolve_state(rows: &[StateRow], state: &str) -> Result<u32, crate::Error> {
    let hit = match state.trim().parse::<u32>() {
        Ok(n) => rows.iter().find(|r| r.number == n),
        Err(_) => rows.iter().find(|r| r.name == state.trim()),
    };
    hit.map(|r| r.number)
        .ok_or_else(|| crate::Error::Usage(format!("no state {state:?} in hotplug/states")))
}

/// One CPU's hotplug files.
///
/// # Examples
///
/// ```
/// use cpuhp_linux::{read_status, SimKernel};
/// let row = &read_status(&SimKernel::new(&cpuhp::preset::LINUX_6_1, 2)?)?[1];
/// assert_eq!((row.online, row.online_file, row.fail), (true, Some(true), Some(-1)));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct CpuRow {
    /// The CPU.
    pub cpu: u32,
    /// Whether it is in `online`.
    pub online: bool,
    /// Its `online` file's value, `None` without the file.
    pub online_file: Option<bool>,
    /// `hotplug/state`.
    pub state: Option<u32>,
    /// `hotplug/target`.
    pub target: Option<u32>,
    /// `hotplug/fail` (`-1`: none armed).
    pub fail: Option<i64>,
}

/// Reads every CPU's files.
///
/// # Errors
///
/// `online` cannot be read; a file that exists holds something that is not a number.
///
/// # Examples
///
/// ```
/// use cpuhp_linux::{read_status, SimKernel};
/// let st = read_status(&SimKernel::new(&cpuhp::preset::LINUX_6_1, 2)?)?;
/// assert_eq!(st[1].state, Some(236));
/// assert_eq!(st[0].online_file, None);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn read_status(io: &dyn SysfsIo) -> Result<Vec<CpuRow>, crate::Error> {
    let info = CpuInfo::read(io)?;
    (0..info.nr_cpus)
        .map(|c| {
            Ok(CpuRow {
                cpu: c,
                online: info.online.contains(CpuId(c)),
                online_file: read_num::<u8>(io, &format!("cpu{c}/online"))?.map(|v| v != 0),
                state: read_num(io, &format!("cpu{c}/hotplug/state"))?,
                target: read_num(io, &format!("cpu{c}/hotplug/target"))?,
                fail: read_num(io, &format!("cpu{c}/hotplug/fail"))?,
            })
        })
        .collect()
}

/// A number file: `None` if it does not exist.
pub(crate) fn read_num<T: std::str::FromStr>(
    io: &dyn SysfsIo,
    rel: &str,
) -> Result<Option<T>, crate::Error> {
    if !io.exists(Fs::Cpu, rel) {
        return Ok(None);
    }
    let text = io.read(Fs::Cpu, rel)?;
    text.trim().parse().map(Some).map_err(|_| {
        crate::Error::Parse(format!(
            "{}: not a number: {:?}",
            io.display(Fs::Cpu, rel),
            text.trim()
        ))
    })
}

/// The status table: `CPU ONLINE STATE TARGET FAIL`, `-` for a missing file.
///
/// # Examples
///
/// ```
/// use cpuhp_linux::{read_status, status_table, SimKernel};
/// let t = status_table(&read_status(&SimKernel::new(&cpuhp::preset::LINUX_6_1, 2)?)?);
/// assert_eq!(t, "CPU ONLINE STATE TARGET FAIL\n  0 1(-)     236      0   -1\n  1 1        236    236   -1\n");
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn status_table(rows: &[CpuRow]) -> String {
    let opt = |v: Option<String>| v.unwrap_or_else(|| "-".into());
    let mut out = String::from("CPU ONLINE STATE TARGET FAIL\n");
    for r in rows {
        // The online mask's view, and `(-)` when the CPU has no online file to change it.
        let online = format!(
            "{}{}",
            u8::from(r.online),
            if r.online_file.is_none() { "(-)" } else { "" }
        );
        let _ = writeln!(
            out,
            "{:3} {:<6} {:>5} {:>6} {:>4}",
            r.cpu,
            online,
            opt(r.state.map(|v| v.to_string())),
            opt(r.target.map(|v| v.to_string())),
            opt(r.fail.map(|v| v.to_string())),
        );
    }
    out
}
