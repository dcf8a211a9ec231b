//! Any bytes, read as a scenario file (UTF-8, lossily): parsing never panics, and neither does
//! running a scenario that parses (inline, if it has at most 8 CPUs) nor rendering it in every
//! format. A parse error must point into the text.

#![no_main]

use cpuhp_scenario::{Format, Scenario, render, run};
use libfuzzer_sys::fuzz_target;

/// Scenarios of more CPUs are only parsed (a run of 256 CPUs is slow, not interesting).
const RUN_MAX_CPUS: u32 = 8;

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    match Scenario::parse("fuzz.toml", &text) {
        Err(e) => {
            assert!(e.line >= 1 && e.column >= 1, "{e:?}");
            assert!(
                e.span.start <= e.span.end && text.get(e.span.clone()).is_some(),
                "span {:?} outside the text or not on char boundaries: {e:?}",
                e.span
            );
            let _ = e.to_string();
        }
        Ok(s) => {
            if s.machine.cpus <= RUN_MAX_CPUS {
                let rec = run(&s, false);
                for (_, format) in Format::ALL {
                    let _ = render(&rec, &s, format, false);
                }
                let _ = render(&rec, &s, Format::Timeline, true);
            }
        }
    }
});
