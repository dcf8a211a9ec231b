//! `cpuhp rules`: the project's rules by their stable names (the keys the timeline prints).

use std::io::Write;

use cpuhp::Rule;

/// Prints every rule, or the named ones.
#[derive(clap::Args, Debug)]
pub struct Args {
    /// Rule names (`startup-failure`, `robust-call`, …); none: all of them.
    names: Vec<String>,
}

pub fn run(args: &Args) -> u8 {
    let mut rules = Vec::new();
    for name in &args.names {
        // A timeline key may carry the part that applied ("startup-failure undo").
        let base = name.split_whitespace().next().unwrap_or("");
        match Rule::from_name(base) {
            Some(r) => rules.push(r),
            None => {
                let known: Vec<&str> = Rule::ALL.iter().map(|r| r.name()).collect();
                eprintln!(
                    "error: no rule is named `{name}`; the rules are: {}",
                    known.join(", ")
                );
                return 2;
            }
        }
    }
    if rules.is_empty() {
        rules = Rule::ALL.to_vec();
    }
    let width = rules.iter().map(|r| r.name().len()).max().unwrap_or(0);
    let mut out = std::io::stdout().lock();
    for r in rules {
        let first = format!("{:<width$}  ", r.name());
        let rest = " ".repeat(width + 2);
        let opts = textwrap::Options::new(80)
            .initial_indent(&first)
            .subsequent_indent(&rest);
        let line = textwrap::fill(r.summary(), opts);
        // A closed pipe ends the listing quietly.
        if writeln!(out, "{line}").is_err() {
            return 0;
        }
    }
    let _ = writeln!(
        out,
        "\nEach rule is stated in full in docs/rules.md, under its name."
    );
    0
}
