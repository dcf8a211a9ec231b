//! `cpuhp states`: a preset's state table as Linux prints `/sys/devices/system/cpu/hotplug/states`.

use clap::{Args as ClapArgs, ValueEnum};
use cpuhp::{Hotplug, Inline, Topology};

/// The presets.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum PresetArg {
    /// Linux 6.1 on x86_64: the 65 states of the recordings.
    #[value(name = "linux-6.1")]
    Linux61,
    /// The demo preset: only the core's own states.
    Demo,
}

/// Arguments of `cpuhp states`.
#[derive(ClapArgs, Debug)]
pub struct Args {
    /// Which preset.
    #[arg(long, value_enum, default_value_t = PresetArg::Linux61)]
    preset: PresetArg,
    /// A preset file written by `cpuhp linux learn` (instead of --preset).
    #[arg(long, value_name = "FILE", conflicts_with = "preset")]
    preset_file: Option<std::path::PathBuf>,
}

pub fn run(args: &Args) -> u8 {
    let preset = match (&args.preset_file, args.preset) {
        (Some(f), _) => match std::fs::read_to_string(f)
            .map_err(|e| format!("read {}: {e}", f.display()))
            .and_then(|t| cpuhp_linux::PresetFile::parse(&t).map_err(|e| e.to_string()))
            .and_then(|p| p.to_preset().map_err(|e| e.to_string()))
        {
            Ok(p) => p,
            Err(e) => {
                eprintln!("error: {e}");
                return 2;
            }
        },
        (None, PresetArg::Linux61) => &cpuhp::preset::LINUX_6_1,
        (None, PresetArg::Demo) => &cpuhp::preset::DEMO,
    };
    let text = Hotplug::new(preset, Topology::new(1), Inline)
        .map_err(|e| e.to_string())
        .and_then(|hp| hp.sysfs_read("hotplug/states").map_err(|e| e.to_string()));
    match text {
        Ok(t) => {
            print!("{t}");
            0
        }
        Err(e) => {
            eprintln!("error: {e}");
            2
        }
    }
}
