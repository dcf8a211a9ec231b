//! Replays `data/notifier.txt` — recorded on Linux 6.1 with `hporacle.c run_notifier=1` — on
//! every pairing of our chain kinds, and compares the `HPORACLE` lines exactly.

use std::sync::{Arc, Mutex};

use conformance::{notifier_cases, ChainKind, ModuleParams, OracleLog};

const GOLDEN: &str = include_str!("../data/notifier.txt");

/// Re-enacts the trace's `insmod` / `rmmod` commands and returns the module's lines.
fn replay(blocking: ChainKind, raw: ChainKind) -> Vec<String> {
    let log = Arc::new(Mutex::new(OracleLog::new()));
    let mut out = Vec::new();
    for line in GOLDEN.lines() {
        if let Some(args) = line.strip_prefix("CMD insmod hporacle") {
            let params = ModuleParams::parse(args.split(' ')).expect("module parameters");
            *log.lock().unwrap() = OracleLog::new();
            log.lock()
                .unwrap()
                .log(format_args!("{}", params.load_line()));
            notifier_cases::run(params.run_notifier, blocking, raw, &log);
            log.lock().unwrap().log(format_args!("load_done"));
        } else if line == "CMD rmmod hporacle" {
            log.lock().unwrap().log(format_args!("unload begin"));
            log.lock().unwrap().log(format_args!("unload done"));
        }
        out.extend(log.lock().unwrap().take());
    }
    out
}

fn golden_lines() -> Vec<String> {
    GOLDEN
        .lines()
        .filter(|l| l.starts_with("HPORACLE "))
        .map(str::to_string)
        .collect()
}

fn assert_replays(blocking: ChainKind, raw: ChainKind) {
    let want = golden_lines();
    let got = replay(blocking, raw);
    for (i, (w, g)) in want.iter().zip(&got).enumerate() {
        assert_eq!(
            g,
            w,
            "line {} differs (blocking role: {blocking}, raw role: {raw})",
            i + 1
        );
    }
    assert_eq!(
        got.len(),
        want.len(),
        "line count (blocking role: {blocking}, raw role: {raw})"
    );
}

#[test]
fn golden_file_has_the_expected_shape() {
    assert_eq!(golden_lines().len(), 172);
}

#[test]
fn blocking_and_raw_as_in_linux() {
    assert_replays(ChainKind::Blocking, ChainKind::Raw);
}

#[test]
fn atomic_chain_behaves_the_same() {
    assert_replays(ChainKind::Atomic, ChainKind::Atomic);
}

#[test]
fn every_pairing_of_kinds_behaves_the_same() {
    for blocking in ChainKind::ALL {
        for raw in ChainKind::ALL {
            assert_replays(blocking, raw);
        }
    }
}
