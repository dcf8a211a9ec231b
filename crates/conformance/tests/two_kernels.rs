//! The Linux 6.12 recordings (`data/linux-6.12`) and the boot bring-up recordings (`data/boot`,
//! 6.1 and 6.12, parallel and `cpuhp.parallel=0`) replay line for line on the kernel each names or
//! agrees with; the PREPARE-teardown failure is the one documented, deliberate difference. Also:
//! the kernel is chosen from the `KERNEL` line, an unknown kernel is refused, and input lines are
//! echoed exactly whatever their keys.

use std::path::PathBuf;

use conformance::replay::{Options, Verdict, compare, replay};
use cpuhp::preset;

fn files(dir: &str) -> Vec<PathBuf> {
    let dir = format!("{}/data/{dir}", env!("CARGO_MANIFEST_DIR"));
    let mut v: Vec<PathBuf> = std::fs::read_dir(&dir)
        .expect("data directory")
        .map(|e| e.expect("entry").path())
        .filter(|p| p.extension().is_some_and(|e| e == "txt"))
        .collect();
    v.sort();
    v
}

/// Replays `path` and returns its verdict and the preset it ran on; the emitted file of a pass is
/// the recording itself (but for the warnings we report and the recording did not capture).
fn check(path: &PathBuf) -> (Verdict, &'static str) {
    let text = std::fs::read_to_string(path).expect("recording");
    let ours = replay(&text, &Options::default()).expect("replayable");
    let verdict = compare(&text, &ours);
    if let Verdict::Pass { .. } = verdict {
        let emitted: String = ours
            .lines
            .iter()
            .filter(|l| !l.text.starts_with("WARN "))
            .map(|l| format!("{}\n", l.text))
            .collect();
        assert!(emitted == text, "{}: --emit differs", path.display());
    }
    (verdict, ours.kernel)
}

#[test]
fn every_linux_6_12_recording_replays_on_linux_6_12() {
    let all = files("linux-6.12");
    assert_eq!(all.len(), 12);
    for path in all {
        let name = path.file_stem().unwrap().to_str().unwrap().to_string();
        let (verdict, kernel) = check(&path);
        // The notifier cases involve no CPU state: both kernels replay it, the first one wins.
        let want_kernel = if name == "notifier" {
            "linux-6.1"
        } else {
            "linux-6.12"
        };
        assert_eq!(kernel, want_kernel, "{name}");
        if name == "cpuhp_offline_fail_prep_teardown" {
            let Verdict::Deliberate {
                expected,
                got,
                reason,
                ..
            } = verdict
            else {
                panic!("{name}: expected the deliberate difference, got {verdict:?}");
            };
            assert_eq!(
                expected.as_deref(),
                Some("HPORACLE seq=30 cpuhp state=prep phase=teardown cpu=1 on=bp ret=-22")
            );
            assert_eq!(
                got.as_deref(),
                Some("HPORACLE seq=30 cpuhp state=prep phase=teardown cpu=1 on=bp ret=0")
            );
            assert!(reason.contains("cannot fail by type"));
        } else {
            assert!(
                matches!(verdict, Verdict::Pass { .. }),
                "{name}: {verdict:?}"
            );
        }
    }
}

#[test]
fn every_boot_recording_replays_on_its_kernel() {
    let all = files("boot");
    assert_eq!(all.len(), 4);
    for path in all {
        let name = path.file_stem().unwrap().to_str().unwrap().to_string();
        let (verdict, kernel) = check(&path);
        assert!(
            name.starts_with(&format!("{kernel}_")),
            "{name} ran on {kernel}"
        );
        assert!(
            matches!(verdict, Verdict::Pass { .. }),
            "{name}: {verdict:?}"
        );
    }
}

/// The boot order itself, not only the recording's: on 6.12 as booted, CPUs 1–3 are each kicked
/// (to `cpu:kick_ap`, 85) before any is brought up (`cpu:bringup`, 86); with `cpuhp.parallel=0`
/// each goes all the way first.
#[test]
fn boot_bring_up_is_parallel_on_6_12_unless_the_parameter_says_0() {
    let order = |parallel: &str| -> Vec<String> {
        let input = format!(
            "KERNEL 6.12.117+deb12-amd64\nBOOTARG cpuhp.parallel={parallel}\nTRACE ctx=bp x\n"
        );
        let out = replay(&input, &Options::default()).unwrap();
        out.lines
            .iter()
            .map(|l| l.text.as_str())
            .filter(|l| l.contains("step: 85 ") || l.contains("step: 86 "))
            .filter(|l| l.contains("_enter"))
            .map(|l| {
                let cpu = l.split("cpu: ").nth(1).unwrap().split(' ').next().unwrap();
                let step = l.split("step: ").nth(1).unwrap().split(' ').next().unwrap();
                format!("{cpu}@{step}")
            })
            .collect()
    };
    let kicked_first = [
        "0001@85", "0002@85", "0003@85", "0001@86", "0002@86", "0003@86",
    ];
    let in_turn = [
        "0001@85", "0001@86", "0002@85", "0002@86", "0003@85", "0003@86",
    ];
    assert_eq!(order("unset"), kicked_first);
    assert_eq!(order("1"), kicked_first);
    assert_eq!(order("0"), in_turn);
}

#[test]
fn the_kernel_line_chooses_the_preset() {
    for (release, name, target) in [
        ("6.1.0-56-amd64", "linux-6.1", 0),
        ("6.12.117+deb12-amd64", "linux-6.12", 236),
    ] {
        let input = format!("KERNEL {release}\nCPUSTATE cpu=0 state=0 target=0 fail=0\n");
        let out = replay(&input, &Options::default()).unwrap();
        assert_eq!(out.kernel, name);
        assert!(!out.kernel_inferred);
        assert_eq!(
            out.to_string(),
            format!("KERNEL {release}\nCPUSTATE cpu=0 state=236 target={target} fail=-1\n")
        );
    }
    // The KERNEL line wins over the option.
    let out = replay(
        "KERNEL 6.12.117+deb12-amd64\n",
        &Options {
            kernel: Some(&preset::LINUX_6_1),
            ..Options::default()
        },
    )
    .unwrap();
    assert_eq!(out.kernel, "linux-6.12");
}

#[test]
fn an_unknown_kernel_is_refused_with_its_line() {
    let err = replay("ONLINE 0-3\nKERNEL 5.10.0-30-amd64\n", &Options::default()).unwrap_err();
    assert_eq!(err.line, 2);
    assert_eq!(err.text, "KERNEL 5.10.0-30-amd64");
    assert!(err.to_string().contains("6.1.x or 6.12.x"), "{err}");
}

#[test]
fn a_bad_boot_parameter_is_refused_with_its_line() {
    let err = replay(
        "KERNEL 6.1.0-56-amd64\nBOOTARG cpuhp.parallel=maybe\n",
        &Options::default(),
    )
    .unwrap_err();
    assert_eq!(err.line, 2);
    let err = replay("BOOTARG nosmt\n", &Options::default()).unwrap_err();
    assert_eq!((err.line, err.text.as_str()), (1, "BOOTARG nosmt"));
}

#[test]
fn info_lines_are_echoed_exactly_whatever_their_keys() {
    let input = "INFO state_b=203 state_c=204\n\
                 INFO cpu1_online_file=0\n\
                 INFO some_key_nobody_knows=x y=z\n\
                 INFO\n\
                 INFO state_b=999\n";
    let out = replay(
        input,
        &Options {
            kernel: Some(&preset::LINUX_6_1),
            ..Options::default()
        },
    )
    .unwrap();
    assert_eq!(out.to_string(), input);
    assert_eq!(compare(input, &out), Verdict::Pass { lines: 5 });
}

#[test]
fn without_a_kernel_line_the_kernel_that_agrees_is_used_and_named() {
    // 6.12 hands the first dynamic PREPARE state slot 66, 6.1 slot 71.
    let input = "CMD insmod hporacle run_cpuhp=1\nINSMOD rc=0\n";
    let out = replay(input, &Options::default()).unwrap();
    assert_eq!(out.kernel, "linux-6.1");
    assert!(out.kernel_inferred);
    let lines = std::fs::read_to_string(format!(
        "{}/data/linux-6.12/cpuhp_basic.txt",
        env!("CARGO_MANIFEST_DIR")
    ))
    .unwrap();
    let out = replay(&lines, &Options::default()).unwrap();
    assert_eq!((out.kernel, out.kernel_inferred), ("linux-6.12", true));
    // Told the kernel, the replay does not guess: on 6.1 the same file differs.
    let forced = replay(
        &lines,
        &Options {
            kernel: Some(&preset::LINUX_6_1),
            ..Options::default()
        },
    )
    .unwrap();
    assert_eq!(forced.kernel, "linux-6.1");
    assert!(!forced.kernel_inferred);
    assert!(matches!(compare(&lines, &forced), Verdict::Mismatch { .. }));
}

#[test]
fn a_trace_interleaved_differently_across_contexts_still_matches_but_not_reordered_within_one() {
    let base = std::fs::read_to_string(format!(
        "{}/data/boot/linux-6.1_boot_bringup_parallel_0.txt",
        env!("CARGO_MANIFEST_DIR")
    ))
    .unwrap();
    let lines: Vec<&str> = base.lines().collect();
    // Move the control side's `bringup_cpu` exit for CPU 1 before the CPU's last own line:
    // another interleaving Linux shows from boot to boot.
    let exit = lines
        .iter()
        .position(|l| l.starts_with("TRACE ctx=bp cpuhp_exit: cpu: 0001 state: 236 step: 91"))
        .unwrap();
    let mut moved = lines.clone();
    moved.swap(exit - 1, exit);
    let moved = moved.join("\n") + "\n";
    let out = replay(&moved, &Options::default()).unwrap();
    assert!(matches!(compare(&moved, &out), Verdict::Pass { .. }));
    // Two lines of the same CPU swapped: a real difference.
    let mut swapped = lines.clone();
    swapped.swap(exit - 1, exit - 2);
    let swapped = swapped.join("\n") + "\n";
    let out = replay(&swapped, &Options::default()).unwrap();
    assert!(matches!(compare(&swapped, &out), Verdict::Mismatch { .. }));
}
