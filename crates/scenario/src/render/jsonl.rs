//! One JSON object per event, in order (`{"event":"enter","cpu":1,…}`).

use crate::run::Record;

pub(super) fn render(rec: &Record) -> String {
    let mut out = String::new();
    for e in &rec.events {
        // Serialising plain data with string keys cannot fail.
        if let Ok(line) = serde_json::to_string(e) {
            out.push_str(&line);
            out.push('\n');
        }
    }
    for v in &rec.violations {
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
    out
}
