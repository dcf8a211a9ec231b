//! Linux's ftrace text: the `cpuhp_enter` / `cpuhp_multi_enter` / `cpuhp_exit` tracepoints with
//! the kernel's own format strings (`include/trace/events/cpuhp.h`), behind the usual
//! `TASK-PID CPU# FLAGS TIMESTAMP` columns. Timestamps are logical: one microsecond per event.

use std::fmt::Write;

use crate::journal::Event;

/// The task, CPU and flags columns for a callback's context: the control task (as if `bash`
/// wrote sysfs) on CPU 0, the CPU's hotplug thread `cpuhp/N`, or the CPU itself with interrupts
/// off (`swapper/N`, flag `d`).
fn task(context: &str, cpu: u32) -> (String, u32, u32, &'static str) {
    match context {
        "cpu-thread" => (format!("cpuhp/{cpu}"), 14 + 6 * cpu, cpu, "....."),
        "cpu-atomic" => (format!("swapper/{cpu}"), 0, cpu, "d..1."),
        _ => ("bash".to_string(), 1000, 0, "....."),
    }
}

/// The text a step at a time: timestamps count the events from the run's first.
#[derive(Default)]
pub(super) struct Ftrace {
    /// Events rendered so far.
    n: usize,
}

impl Ftrace {
    pub(super) fn start(&mut self, out: &mut String) {
        out.push_str(
            "# tracer: nop\n#\n#                                _-----=> irqs-off/BH-disabled\n\
             #                               / _----=> need-resched\n\
             #                              | / _---=> hardirq/softirq\n\
             #                              || / _--=> preempt-depth\n\
             #                              ||| / _-=> migrate-disable\n\
             #                              |||| /     delay\n\
             #           TASK-PID     CPU#  |||||  TIMESTAMP  FUNCTION\n\
             #              | |         |   |||||     |         |\n",
        );
    }

    pub(super) fn events(&mut self, events: &[Event], out: &mut String) {
        for e in events {
            self.n += 1;
            let ts = self.n;
            let (line, context, cpu) = match e {
                Event::Enter {
                    cpu,
                    target,
                    step,
                    symbol,
                    instance,
                    context,
                    ..
                } => (
                    cpuhp::ftrace_enter_text(*cpu, *target, *step, symbol, instance.is_some()),
                    *context,
                    *cpu,
                ),
                Event::Exit {
                    cpu,
                    state,
                    step,
                    ret,
                    context,
                    ..
                } => (
                    cpuhp::ftrace_exit_text(*cpu, *state, *step, *ret),
                    *context,
                    *cpu,
                ),
                _ => continue,
            };
            // The kernel's `%16s-%-7d [%03d] %s %5lu.%06lu: ` prefix.
            let (comm, pid, on, flags) = task(context, cpu);
            let _ = writeln!(
                out,
                "{comm:>16}-{pid:<7} [{on:03}] {flags} {:5}.{:06}: {line}",
                ts / 1_000_000,
                ts % 1_000_000
            );
        }
    }
}
