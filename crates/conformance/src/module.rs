//! The test module's parameters and its log.

use std::fmt;

/// One failure rule of the module (`fail_*` or `fail2_*`): the named callback returns
/// `-errno` instead of 0 for the matching calls.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FailRule {
    /// `fail_state`: `a`, `b`, `c`, `prep`, `multi/i0`..; empty (or `none`) for no rule.
    pub state: String,
    /// `fail_phase`: `startup` or `teardown`.
    pub phase: String,
    /// `fail_cpu`: the CPU, or -1 for any.
    pub cpu: i64,
    /// `fail_errno`: positive.
    pub errno: i64,
    /// `fail_times`: how many more matching calls fail; -1 for unlimited.
    pub times: i64,
}

impl Default for FailRule {
    fn default() -> FailRule {
        FailRule {
            state: String::new(),
            phase: "startup".into(),
            cpu: -1,
            errno: 22,
            times: -1,
        }
    }
}

/// `insmod hporacle k=v ...`: the module's parameters, with the defaults of the module.
///
/// # Examples
///
/// ```
/// use conformance::ModuleParams;
///
/// let p = ModuleParams::parse("run_cpuhp=1 fail_state=b fail_cpu=2".split(' '))?;
/// assert!(p.run_cpuhp);
/// assert_eq!(p.fail[0].state, "b");
/// assert_eq!(p.fail[0].cpu, 2);
/// # Ok::<(), conformance::ParamError>(())
/// ```
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ModuleParams {
    /// `run_notifier`: 0, 1 (the first list of cases) or 2 (the second).
    pub run_notifier: i64,
    /// `run_cpuhp`: set up states prep, a, b, c.
    pub run_cpuhp: bool,
    /// `run_multi`: set up the multi-instance state and its instances.
    pub run_multi: bool,
    /// The two failure rules, `fail_*` and `fail2_*`; the first that matches a call wins.
    pub fail: [FailRule; 2],
}

/// A parameter the module does not have, or a value it would refuse.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ParamError {
    /// The offending `name=value` text.
    pub text: String,
    /// What was expected.
    pub expected: &'static str,
}

impl fmt::Display for ParamError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "bad module parameter `{}`: expected {}",
            self.text, self.expected
        )
    }
}

impl std::error::Error for ParamError {}

impl ModuleParams {
    /// Parses `name=value` words, as `insmod` passes them.
    ///
    /// # Errors
    ///
    /// [`ParamError`] for an unknown name or a value of the wrong type.
    pub fn parse<'a>(words: impl IntoIterator<Item = &'a str>) -> Result<ModuleParams, ParamError> {
        let mut p = ModuleParams::default();
        for word in words.into_iter().filter(|w| !w.is_empty()) {
            p.set(word)?;
        }
        Ok(p)
    }

    /// Sets one `name=value` parameter (as writing `/sys/module/hporacle/parameters/name` does).
    ///
    /// # Errors
    ///
    /// [`ParamError`] for an unknown name or a value of the wrong type.
    ///
    /// # Examples
    ///
    /// ```
    /// use conformance::ModuleParams;
    ///
    /// let mut p = ModuleParams::default();
    /// p.set("fail_state=none")?;
    /// assert_eq!(p.fail[0].state, "none");
    /// assert!(p.set("bogus=1").is_err());
    /// # Ok::<(), conformance::ParamError>(())
    /// ```
    pub fn set(&mut self, word: &str) -> Result<(), ParamError> {
        let err = |expected| ParamError {
            text: word.to_string(),
            expected,
        };
        let (name, value) = word.split_once('=').ok_or_else(|| err("name=value"))?;
        let int = || value.trim().parse::<i64>().map_err(|_| err("an integer"));
        let boolean = || match value.trim() {
            "1" | "y" | "Y" | "on" => Ok(true),
            "0" | "n" | "N" | "off" => Ok(false),
            _ => Err(err("a boolean (1, 0, y, n, on, off)")),
        };
        let (rule, field) = match name.strip_prefix("fail2_") {
            Some(field) => (1, field),
            None => (0, name.strip_prefix("fail_").unwrap_or("")),
        };
        match (name, field) {
            ("run_notifier", _) => self.run_notifier = int()?,
            ("run_cpuhp", _) => self.run_cpuhp = boolean()?,
            ("run_multi", _) => self.run_multi = boolean()?,
            (_, "state") => self.fail[rule].state = value.trim_end_matches('\n').to_string(),
            (_, "phase") => self.fail[rule].phase = value.trim_end_matches('\n').to_string(),
            (_, "cpu") => self.fail[rule].cpu = int()?,
            (_, "errno") => self.fail[rule].errno = int()?,
            (_, "times") => self.fail[rule].times = int()?,
            _ => {
                return Err(err(
                    "one of run_notifier, run_cpuhp, run_multi, fail[2]_{state,phase,cpu,errno,times}",
                ));
            }
        }
        Ok(())
    }

    /// The module's `load ...` log line (without the `HPORACLE seq=N ` prefix).
    ///
    /// # Examples
    ///
    /// ```
    /// use conformance::ModuleParams;
    ///
    /// let p = ModuleParams::parse(["run_notifier=1"])?;
    /// assert_eq!(
    ///     p.load_line(),
    ///     "load run_notifier=1 run_cpuhp=0 run_multi=0 fail_state= fail_phase=startup \
    ///      fail_cpu=-1 fail_errno=22 fail_times=-1",
    /// );
    /// # Ok::<(), conformance::ParamError>(())
    /// ```
    pub fn load_line(&self) -> String {
        let f = &self.fail[0];
        format!(
            "load run_notifier={} run_cpuhp={} run_multi={} fail_state={} fail_phase={} fail_cpu={} fail_errno={} fail_times={}",
            self.run_notifier,
            u8::from(self.run_cpuhp),
            u8::from(self.run_multi),
            f.state,
            f.phase,
            f.cpu,
            f.errno,
            f.times
        )
    }
}

/// One entry of the kernel log as the harness sees it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum LogEntry {
    /// A line (`HPORACLE seq=N ...` or `WARN cpu=C ...`).
    Line(String),
    /// A deliberate difference from Linux happened here; it explains the next line, and any
    /// mismatch after it.
    Note(&'static str),
}

/// The module's log: `HPORACLE seq=N ...` lines, `seq` counting from 1 at each load, with the
/// kernel's warnings and our deliberate-difference notes in between, in order.
///
/// # Examples
///
/// ```
/// use conformance::OracleLog;
///
/// let mut log = OracleLog::new();
/// log.log(format_args!("load_done"));
/// log.raw("WARN cpu=0 at=kernel/cpu.c fn=_cpu_down".into());
/// assert_eq!(log.take(), ["HPORACLE seq=1 load_done", "WARN cpu=0 at=kernel/cpu.c fn=_cpu_down"]);
/// ```
#[derive(Debug, Default)]
pub struct OracleLog {
    seq: u64,
    entries: Vec<LogEntry>,
}

impl OracleLog {
    /// An empty log; the next line gets `seq=1`.
    pub fn new() -> OracleLog {
        OracleLog::default()
    }

    /// Appends one module line (`atomic_inc_return(&seq)` in the module).
    pub fn log(&mut self, args: fmt::Arguments<'_>) {
        self.seq += 1;
        self.entries.push(LogEntry::Line(format!(
            "HPORACLE seq={} {}",
            self.seq, args
        )));
    }

    /// Appends a line that is not the module's (a kernel warning).
    pub fn raw(&mut self, line: String) {
        self.entries.push(LogEntry::Line(line));
    }

    /// Records a deliberate difference from Linux at this point.
    pub fn note(&mut self, why: &'static str) {
        self.entries.push(LogEntry::Note(why));
    }

    /// Restarts `seq` at 1 (a new load of the module).
    pub fn restart(&mut self) {
        self.seq = 0;
    }

    /// The lines logged since the last `take`, without notes.
    pub fn take(&mut self) -> Vec<String> {
        self.take_entries()
            .into_iter()
            .filter_map(|e| match e {
                LogEntry::Line(l) => Some(l),
                LogEntry::Note(_) => None,
            })
            .collect()
    }

    /// Everything logged since the last `take`.
    pub fn take_entries(&mut self) -> Vec<LogEntry> {
        std::mem::take(&mut self.entries)
    }
}
