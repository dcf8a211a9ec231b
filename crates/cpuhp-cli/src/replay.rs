//! `cpuhp replay FILE…`: re-enact each recording on a simulated machine of its kernel (Linux 6.1
//! or 6.12, from its `KERNEL` line; with the test module's behaviour) and compare every output
//! line.

use std::io::Write;

use clap::Args as ClapArgs;
use conformance::ChainKind;
use conformance::replay::{Options, Output, Verdict, compare, preset_for_release, replay};

/// Arguments of `cpuhp replay`.
#[derive(ClapArgs, Debug)]
pub struct Args {
    /// Recordings: text files of `KERNEL`, `CMD`, `WRITE`, `TRACE`, `ONLINE`, `CPUSTATE` and
    /// `INFO` lines, one event each, as recorded on a real kernel.
    #[arg(required = true)]
    files: Vec<std::path::PathBuf>,
    /// Print the complete file this implementation produces (inputs and outputs) instead of
    /// comparing, so any other tool can diff it against the recording.
    #[arg(long)]
    emit: bool,
    /// Which notifier chain kind plays the module's blocking chain: blocking, atomic or raw.
    #[arg(long, default_value = "blocking")]
    blocking_chain: ChainKind,
    /// Which notifier chain kind plays the module's raw chain: raw, atomic or blocking.
    #[arg(long, default_value = "raw")]
    raw_chain: ChainKind,
    /// The kernel of recordings without a `KERNEL` line: a preset (`linux-6.1`, `linux-6.12`) or a
    /// release (`6.12.117+deb12-amd64`). Without it, such a recording replays on the kernel
    /// preset that agrees longest with it, and the report says so. A `KERNEL` line always wins.
    #[arg(long)]
    kernel: Option<String>,
    /// Lines of context shown around the first difference.
    #[arg(long, default_value_t = 3)]
    context: usize,
}

/// Exit code of the worst result: 2 input errors, 1 mismatch, 3 deliberate difference, 0 pass.
fn worse(a: u8, b: u8) -> u8 {
    let rank = |c: u8| match c {
        2 => 3,
        1 => 2,
        3 => 1,
        _ => 0,
    };
    if rank(b) > rank(a) { b } else { a }
}

pub fn run(args: &Args) -> u8 {
    let kernel = match args.kernel.as_deref() {
        None => None,
        Some(k) => match cpuhp::preset::by_name(k)
            .filter(|p| p.name.starts_with("linux-"))
            .or_else(|| preset_for_release(k))
        {
            Some(p) => Some(p),
            None => {
                eprintln!(
                    "cpuhp replay: --kernel {k}: not a kernel this replay models \
                     (linux-6.1, linux-6.12, or a 6.1.x / 6.12.x release)"
                );
                return 2;
            }
        },
    };
    let opts = Options {
        blocking: args.blocking_chain,
        raw: args.raw_chain,
        kernel,
        ..Options::default()
    };
    let mut code = 0;
    let mut tally = Tally::default();
    let stdout = std::io::stdout();
    let mut out = stdout.lock();
    for path in &args.files {
        let name = path.display();
        let text = match std::fs::read_to_string(path) {
            Ok(t) => t,
            Err(e) => {
                eprintln!("cpuhp replay: {name}: {e}");
                tally.unreadable += 1;
                code = worse(code, 2);
                continue;
            }
        };
        if text.trim().is_empty() {
            eprintln!("cpuhp replay: {name}: not a recording (the file is empty)");
            tally.unreadable += 1;
            code = worse(code, 2);
            continue;
        }
        let ours = match replay(&text, &opts) {
            Ok(o) => o,
            Err(e) => {
                eprintln!("cpuhp replay: {name}:{}: {}", e.line, e);
                tally.unreadable += 1;
                code = worse(code, 2);
                continue;
            }
        };
        if args.emit {
            // A closed pipe (`| head`) is not an error.
            let _ = write!(out, "{ours}");
            continue;
        }
        let verdict = compare(&text, &ours);
        tally.add(&verdict);
        let c = report(
            &mut out,
            &name.to_string(),
            &text,
            &ours,
            &verdict,
            args.context,
        );
        code = worse(code, c);
    }
    if !args.emit {
        let _ = writeln!(out, "{tally}");
    }
    code
}

/// What a run of `cpuhp replay` found, for its last line.
#[derive(Default)]
struct Tally {
    identical: usize,
    /// Each deliberate difference's reason, once, with how many recordings it covers.
    deliberate: Vec<(String, usize)>,
    different: usize,
    unreadable: usize,
}

impl Tally {
    fn add(&mut self, verdict: &Verdict) {
        match verdict {
            Verdict::Pass { .. } => self.identical += 1,
            Verdict::Deliberate { reason, .. } => {
                match self.deliberate.iter_mut().find(|(r, _)| r == reason) {
                    Some((_, n)) => *n += 1,
                    None => self.deliberate.push((reason.to_string(), 1)),
                }
            }
            Verdict::Mismatch { .. } => self.different += 1,
        }
    }
}

/// "28 recordings: 26 identical, 2 deliberate differences (…), 0 different".
impl std::fmt::Display for Tally {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let plural =
            |n: usize, one: &str, many: &str| format!("{n} {}", if n == 1 { one } else { many });
        let deliberate: usize = self.deliberate.iter().map(|(_, n)| n).sum();
        let total = self.identical + deliberate + self.different + self.unreadable;
        write!(
            f,
            "{}: {} identical, {}",
            plural(total, "recording", "recordings"),
            self.identical,
            plural(
                deliberate,
                "deliberate difference",
                "deliberate differences"
            ),
        )?;
        if !self.deliberate.is_empty() {
            let reasons: Vec<&str> = self.deliberate.iter().map(|(r, _)| r.as_str()).collect();
            write!(f, " ({})", reasons.join("; "))?;
        }
        write!(f, ", {} different", self.different)?;
        if self.unreadable > 0 {
            write!(f, ", {} not replayed (bad input)", self.unreadable)?;
        }
        Ok(())
    }
}

fn report(
    out: &mut impl Write,
    name: &str,
    text: &str,
    ours: &Output,
    verdict: &Verdict,
    context: usize,
) -> u8 {
    let show = |out: &mut dyn Write, at: usize, expected: &Option<String>, got: &Option<String>| {
        let exp: Vec<&str> = text.lines().collect();
        let from = at.saturating_sub(context);
        for (i, l) in exp.iter().enumerate().take(at).skip(from) {
            let _ = writeln!(out, "    {:>5}  {l}", i + 1);
        }
        let _ = writeln!(
            out,
            "  - {:>5}  {}",
            at + 1,
            expected.as_deref().unwrap_or("<end of recording>")
        );
        let _ = writeln!(
            out,
            "  + {:>5}  {}",
            at + 1,
            got.as_deref().unwrap_or("<end of replay>")
        );
        for (i, l) in ours.lines.iter().enumerate().skip(at + 1).take(context) {
            let _ = writeln!(out, "  + {:>5}  {}", i + 1, l.text);
        }
    };
    let kernel = if ours.kernel_inferred {
        format!("on {} (inferred: no KERNEL line)", ours.kernel)
    } else {
        format!("on {}", ours.kernel)
    };
    match verdict {
        Verdict::Pass { lines } => {
            let _ = writeln!(out, "PASS {name} ({lines} lines) {kernel}");
            0
        }
        Verdict::Deliberate {
            at,
            expected,
            got,
            reason,
        } => {
            let _ = writeln!(
                out,
                "DELIBERATE DIFFERENCE {name} {kernel}: line {}: {reason}",
                at + 1
            );
            show(out, *at, expected, got);
            3
        }
        Verdict::Mismatch { at, expected, got } => {
            let _ = writeln!(
                out,
                "FAIL {name} {kernel}: line {} differs (- recording, + replay)",
                at + 1
            );
            show(out, *at, expected, got);
            1
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(files: Vec<std::path::PathBuf>, kernel: Option<&str>) -> Args {
        Args {
            files,
            emit: false,
            blocking_chain: ChainKind::Blocking,
            raw_chain: ChainKind::Raw,
            kernel: kernel.map(str::to_string),
            context: 3,
        }
    }

    fn temp(name: &str, text: &str) -> std::path::PathBuf {
        let path = std::env::temp_dir().join(format!("cpuhp-replay-{}-{name}", std::process::id()));
        std::fs::write(&path, text).unwrap();
        path
    }

    #[test]
    fn an_unknown_kernel_exits_2() {
        let f = temp("unknown.txt", "KERNEL 5.10.0-30-amd64\nONLINE 0-3\n");
        assert_eq!(run(&args(vec![f.clone()], None)), 2);
        let _ = std::fs::remove_file(f);
        assert_eq!(run(&args(vec![], Some("linux-2.4"))), 2);
        assert_eq!(run(&args(vec![], Some("demo"))), 2);
    }

    #[test]
    fn the_kernel_option_decides_for_a_recording_without_a_kernel_line() {
        // Only on 6.12 does the boot CPU's target read 236.
        let f = temp("k.txt", "CPUSTATE cpu=0 state=236 target=236 fail=-1\n");
        assert_eq!(run(&args(vec![f.clone()], Some("linux-6.12"))), 0);
        assert_eq!(run(&args(vec![f.clone()], Some("6.12.117+deb12-amd64"))), 0);
        assert_eq!(run(&args(vec![f.clone()], Some("linux-6.1"))), 1);
        assert_eq!(run(&args(vec![f.clone()], None)), 0);
        let _ = std::fs::remove_file(f);
    }
}
