//! CPU masks: possible, present, online, active.

use alloc::vec::Vec;
use core::fmt;

use crate::CpuId;

/// A set of CPUs (Linux's `struct cpumask`), printed as Linux prints it in
/// `/sys/devices/system/cpu/online`: `0,2-3`.
///
/// # Examples
///
/// ```
/// use cpuhp::{CpuId, CpuMask};
///
/// let mut m = CpuMask::new(4);
/// for c in [0, 2, 3] { m.set(CpuId(c), true); }
/// assert_eq!(m.to_string(), "0,2-3");
/// assert_eq!(m.weight(), 3);
/// assert!(!m.contains(CpuId(1)));
/// assert_eq!(CpuMask::parse_list("0,2-3", 4), Some(m));
/// ```
#[derive(Clone, PartialEq, Eq, Hash, Default)]
pub struct CpuMask {
    words: Vec<u64>,
    nr_cpus: u32,
}

impl CpuMask {
    /// An empty mask able to hold CPUs `0..nr_cpus`.
    ///
    /// # Examples
    ///
    /// ```
    /// use cpuhp::{CpuId, CpuMask};
    ///
    /// let m = CpuMask::new(130);
    /// assert_eq!(m.weight(), 0);
    /// assert_eq!(m.to_string(), "");
    /// assert!(!m.contains(CpuId(0)));
    /// ```
    pub fn new(nr_cpus: u32) -> CpuMask {
        CpuMask {
            words: alloc::vec![0; (nr_cpus as usize).div_ceil(64)],
            nr_cpus,
        }
    }

    /// A mask with CPUs `0..n` set (`n <= nr_cpus`).
    ///
    /// # Examples
    ///
    /// ```
    /// use cpuhp::CpuMask;
    ///
    /// assert_eq!(CpuMask::first(3, 8).to_string(), "0-2");
    /// assert_eq!(CpuMask::first(9, 4).to_string(), "0-3"); // no more than `nr_cpus`
    /// ```
    pub fn first(n: u32, nr_cpus: u32) -> CpuMask {
        let mut m = CpuMask::new(nr_cpus);
        for c in 0..n.min(nr_cpus) {
            m.set(CpuId(c), true);
        }
        m
    }

    /// Whether `cpu` is in the mask (false for CPUs beyond its size).
    ///
    /// # Examples
    ///
    /// ```
    /// use cpuhp::{CpuId, CpuMask};
    ///
    /// let m = CpuMask::first(2, 4);
    /// assert!(m.contains(CpuId(1)));
    /// assert!(!m.contains(CpuId(2)));
    /// assert!(!m.contains(CpuId(99))); // beyond the mask: no panic
    /// ```
    pub fn contains(&self, cpu: CpuId) -> bool {
        let i = cpu.index();
        cpu.0 < self.nr_cpus && self.words[i / 64] & (1 << (i % 64)) != 0
    }

    /// Adds or removes `cpu`; CPUs beyond the mask's size are ignored.
    ///
    /// # Examples
    ///
    /// ```
    /// use cpuhp::{CpuId, CpuMask};
    ///
    /// let mut m = CpuMask::new(4);
    /// m.set(CpuId(0), true);
    /// m.set(CpuId(3), true);
    /// m.set(CpuId(3), false);
    /// m.set(CpuId(7), true); // beyond the mask: ignored
    /// assert_eq!(m.to_string(), "0");
    /// ```
    pub fn set(&mut self, cpu: CpuId, on: bool) {
        if cpu.0 >= self.nr_cpus {
            return;
        }
        let i = cpu.index();
        if on {
            self.words[i / 64] |= 1 << (i % 64);
        } else {
            self.words[i / 64] &= !(1 << (i % 64));
        }
    }

    /// How many CPUs are set.
    ///
    /// # Examples
    ///
    /// ```
    /// use cpuhp::CpuMask;
    ///
    /// let m = CpuMask::parse_list("0-2,5", 8).unwrap();
    /// assert_eq!(m.weight(), 4);
    /// ```
    pub fn weight(&self) -> u32 {
        self.words.iter().map(|w| w.count_ones()).sum()
    }

    /// The CPUs in the mask, ascending.
    ///
    /// # Examples
    ///
    /// ```
    /// use cpuhp::CpuMask;
    ///
    /// let m = CpuMask::parse_list("1,3-4", 8).unwrap();
    /// let cpus: Vec<u32> = m.iter().map(|c| c.0).collect();
    /// assert_eq!(cpus, [1, 3, 4]);
    /// ```
    pub fn iter(&self) -> impl Iterator<Item = CpuId> + '_ {
        (0..self.nr_cpus).map(CpuId).filter(|&c| self.contains(c))
    }

    /// The first CPU in the mask other than `but`.
    ///
    /// # Examples
    ///
    /// ```
    /// use cpuhp::{CpuId, CpuMask};
    ///
    /// let m = CpuMask::parse_list("2,5", 8).unwrap();
    /// assert_eq!(m.any_but(CpuId(2)), Some(CpuId(5)));
    /// assert_eq!(m.any_but(CpuId(0)), Some(CpuId(2)));
    /// assert_eq!(CpuMask::first(1, 8).any_but(CpuId(0)), None);
    /// ```
    pub fn any_but(&self, but: CpuId) -> Option<CpuId> {
        self.iter().find(|&c| c != but)
    }

    /// Parses Linux's list format (`0,2-3`; empty for none).
    ///
    /// # Examples
    ///
    /// ```
    /// use cpuhp::CpuMask;
    ///
    /// let m = CpuMask::parse_list("0,2-3\n", 4).unwrap(); // as read from sysfs
    /// assert_eq!(m.to_string(), "0,2-3");
    /// assert_eq!(CpuMask::parse_list("", 4), Some(CpuMask::new(4)));
    /// assert_eq!(CpuMask::parse_list("2-5", 4), None); // CPUs 4 and 5 do not fit
    /// assert_eq!(CpuMask::parse_list("3-1", 4), None);
    /// ```
    pub fn parse_list(text: &str, nr_cpus: u32) -> Option<CpuMask> {
        let mut m = CpuMask::new(nr_cpus);
        for part in text.trim().split(',').filter(|p| !p.is_empty()) {
            let (lo, hi) = match part.split_once('-') {
                Some((a, b)) => (a.parse().ok()?, b.parse().ok()?),
                None => {
                    let v = part.parse().ok()?;
                    (v, v)
                }
            };
            if lo > hi || hi >= nr_cpus {
                return None;
            }
            for c in lo..=hi {
                m.set(CpuId(c), true);
            }
        }
        Some(m)
    }
}

impl fmt::Display for CpuMask {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut first = true;
        let mut cpus = self.iter().peekable();
        while let Some(start) = cpus.next() {
            let mut end = start;
            while cpus.peek() == Some(&CpuId(end.0 + 1)) {
                end = cpus.next().unwrap_or(end);
            }
            if !first {
                f.write_str(",")?;
            }
            first = false;
            if start == end {
                write!(f, "{start}")?;
            } else {
                write!(f, "{start}-{end}")?;
            }
        }
        Ok(())
    }
}

impl fmt::Debug for CpuMask {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "CpuMask({self})")
    }
}
