//! One JSON object per event, in order (`{"event":"enter","cpu":1,…}`), then one per broken
//! invariant.

use crate::check::Violation;
use crate::journal::Event;

pub(super) fn events(events: &[Event], out: &mut String) {
    for e in events {
        // Serialising plain data with string keys cannot fail.
        if let Ok(line) = serde_json::to_string(e) {
            out.push_str(&line);
            out.push('\n');
        }
    }
}

pub(super) fn violations(violations: &[Violation], out: &mut String) {
    for v in violations {
        if let Ok(line) = serde_json::to_string(&serde_json::json!({
            "event": "violation",
            "step": v.step,
            "invariant": v.invariant.name(),
            "text": v.text,
        })) {
            out.push_str(&line);
            out.push('\n');
        }
    }
}
