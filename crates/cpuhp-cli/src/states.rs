//! `cpuhp states`: a preset's state table as Linux prints `/sys/devices/system/cpu/hotplug/states`,
//! or (`--diff OLD NEW`) what changed between two presets' tables.

use clap::{Args as ClapArgs, ValueEnum};
use cpuhp::preset::Preset;
use cpuhp::{Hotplug, Inline, Topology};

/// The presets.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum PresetArg {
    /// Linux 6.1 on x86_64: the 65 states of the recordings.
    #[value(name = "linux-6.1")]
    Linux61,
    /// Linux 6.12 on x86_64: the renumbered table, with `cpu:kick_ap`.
    #[value(name = "linux-6.12")]
    Linux612,
    /// The demo preset: only the core's own states.
    Demo,
}

impl PresetArg {
    fn preset(self) -> &'static Preset {
        match self {
            PresetArg::Linux61 => &cpuhp::preset::LINUX_6_1,
            PresetArg::Linux612 => &cpuhp::preset::LINUX_6_12,
            PresetArg::Demo => &cpuhp::preset::DEMO,
        }
    }
}

/// Arguments of `cpuhp states`.
#[derive(ClapArgs, Debug)]
pub struct Args {
    /// Which preset.
    #[arg(long, value_enum, default_value_t = PresetArg::Linux61)]
    preset: PresetArg,
    /// Compare two presets instead: the states added, removed and renumbered from OLD to NEW
    /// (matched by name).
    #[arg(long, value_enum, num_args = 2, value_names = ["OLD", "NEW"], conflicts_with_all = ["preset", "preset_file"])]
    diff: Option<Vec<PresetArg>>,
    /// A preset file written by `cpuhp linux learn` (instead of --preset).
    #[arg(long, value_name = "FILE", conflicts_with = "preset")]
    preset_file: Option<std::path::PathBuf>,
}

pub fn run(args: &Args) -> u8 {
    if let Some(pair) = &args.diff {
        // clap guarantees exactly two values.
        print!("{}", diff(pair[0].preset(), pair[1].preset()));
        return 0;
    }
    let preset = match &args.preset_file {
        Some(f) => match load_preset_file(f) {
            Ok(p) => p,
            Err(e) => {
                eprintln!("error: {e}");
                return 2;
            }
        },
        None => args.preset.preset(),
    };
    let text = Hotplug::new(preset, Topology::new(1), Inline)
        .map_err(|e| e.to_string())
        .and_then(|hp| hp.sysfs_read("hotplug/states").map_err(|e| e.to_string()));
    match text {
        Ok(t) => {
            // A closed pipe (`| head`) is not an error (as `run`).
            let _ = std::io::Write::write_all(&mut std::io::stdout().lock(), t.as_bytes());
            0
        }
        Err(e) => {
            eprintln!("error: {e}");
            2
        }
    }
}

/// A preset file written by `cpuhp linux learn`, loaded for the simulator (for the rest of the
/// process: presets are `'static`).
pub fn load_preset_file(f: &std::path::Path) -> Result<&'static Preset, String> {
    std::fs::read_to_string(f)
        .map_err(|e| format!("read {}: {e}", f.display()))
        .and_then(|t| cpuhp_linux::PresetFile::parse(&t).map_err(|e| e.to_string()))
        .and_then(|p| p.to_preset().map_err(|e| e.to_string()))
}

/// One line of a diff: a state added, removed or renumbered.
struct Row {
    change: &'static str,
    name: &'static str,
    old: Option<u32>,
    new: Option<u32>,
}

/// The table of changes from `old` to `new`, ordered by state number (the new one where there
/// is one), with a summary line first.
fn diff(old: &Preset, new: &Preset) -> String {
    let find = |p: &Preset, name: &str| p.states.iter().find(|s| s.name == name).map(|s| s.number);
    let mut rows: Vec<Row> = Vec::new();
    let mut unchanged = 0;
    for s in new.states {
        let (change, o) = match find(old, s.name) {
            None => ("added", None),
            Some(n) if n != s.number => ("renumbered", Some(n)),
            Some(_) => {
                unchanged += 1;
                continue;
            }
        };
        rows.push(Row {
            change,
            name: s.name,
            old: o,
            new: Some(s.number),
        });
    }
    for s in old.states {
        if find(new, s.name).is_none() {
            rows.push(Row {
                change: "removed",
                name: s.name,
                old: Some(s.number),
                new: None,
            });
        }
    }
    rows.sort_by_key(|r| (r.new.or(r.old), r.change != "removed"));
    let count = |c: &str| rows.iter().filter(|r| r.change == c).count();
    let width = rows.iter().map(|r| r.name.len()).max().unwrap_or(4).max(4);
    let num = |n: Option<u32>| n.map_or("-".to_string(), |n| n.to_string());
    let (a, b) = (old.name, new.name);
    let mut out = format!(
        "{a} ({} states) -> {b} ({} states): {} added, {} removed, {} renumbered, {unchanged} unchanged\n",
        old.states.len(),
        new.states.len(),
        count("added"),
        count("removed"),
        count("renumbered"),
    );
    let (wa, wb) = (a.len().max(3), b.len().max(3));
    out += &format!("{:<10}  {:<width$}  {a:>wa$}  {b:>wb$}\n", "change", "name");
    for r in rows {
        out += &format!(
            "{:<10}  {:<width$}  {:>wa$}  {:>wb$}\n",
            r.change,
            r.name,
            num(r.old),
            num(r.new)
        );
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn diff_of_6_1_and_6_12_names_every_change() {
        let d = diff(&cpuhp::preset::LINUX_6_1, &cpuhp::preset::LINUX_6_12);
        let lines: Vec<&str> = d.lines().collect();
        assert_eq!(
            lines[0],
            "linux-6.1 (65 states) -> linux-6.12 (69 states): \
             7 added, 3 removed, 55 renumbered, 7 unchanged"
        );
        let row = |name: &str| {
            lines
                .iter()
                .find(|l| l.split_whitespace().nth(1) == Some(name))
                .map(|l| l.split_whitespace().collect::<Vec<_>>())
                .unwrap_or_default()
        };
        assert_eq!(row("cpu:kick_ap"), ["added", "cpu:kick_ap", "-", "85"]);
        assert_eq!(
            row("cpu:bringup"),
            ["renumbered", "cpu:bringup", "91", "86"]
        );
        assert_eq!(row("slab:prepare"), ["removed", "slab:prepare", "48", "-"]);
        assert!(row("online").is_empty(), "unchanged states are not listed");
    }

    #[test]
    fn a_preset_against_itself_has_no_changes() {
        let d = diff(&cpuhp::preset::LINUX_6_12, &cpuhp::preset::LINUX_6_12);
        assert_eq!(d.lines().count(), 2);
        assert!(d.starts_with("linux-6.12 (69 states) -> linux-6.12 (69 states): 0 added, 0 removed, 0 renumbered, 69 unchanged\n"));
    }
}
