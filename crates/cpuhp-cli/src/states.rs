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
}

pub fn run(args: &Args) -> u8 {
    let preset = match args.preset {
        PresetArg::Linux61 => &cpuhp::preset::LINUX_6_1,
        PresetArg::Demo => &cpuhp::preset::DEMO,
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
