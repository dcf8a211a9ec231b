//! Every file access of the backend goes through [`SysfsIo`], so that the same code drives a real
//! kernel ([`HostIo`]), a directory tree shaped like one (tests), or the simulator
//! ([`SimKernel`](crate::SimKernel)), which reacts to writes as a kernel does.

use std::fmt;
use std::io;
use std::path::{Path, PathBuf};

use cpuhp::Errno;

/// Which file system a path is relative to.
///
/// # Examples
///
/// ```
/// use cpuhp_linux::{Fs, SimKernel, SysfsIo};
/// let k = SimKernel::new(&cpuhp::preset::LINUX_6_1, 2)?;
/// assert_eq!(k.display(Fs::Cpu, "online"), "/sys/devices/system/cpu/online");
/// # Ok::<(), cpuhp::Error>(())
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Fs {
    /// `/sys/devices/system/cpu` (under the root).
    Cpu,
    /// The tracefs mount point.
    Tracing,
    /// The root itself (`proc/mounts`, `proc/sys/kernel/osrelease`, `boot/config-*`).
    Root,
}

/// A failed file access: what was done, to which file, and the errno.
///
/// # Examples
///
/// ```
/// use cpuhp::Errno;
/// use cpuhp_linux::IoError;
///
/// let e = IoError::new("write", "/sys/devices/system/cpu/cpu1/online", Errno::EBUSY);
/// assert_eq!(e.to_string(), "write /sys/devices/system/cpu/cpu1/online: EBUSY");
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct IoError {
    /// `read`, `write`, `mkdir`, `rmdir`, `list`.
    pub op: &'static str,
    /// The file, as the user would name it.
    pub path: String,
    /// The errno, when the failure has one.
    pub errno: Option<Errno>,
    /// Text for failures without an errno (not UTF-8, …).
    pub detail: String,
}

impl IoError {
    /// A failure with an errno.
    ///
    /// # Examples
    ///
    /// ```
    /// let e = cpuhp_linux::IoError::new("read", "x", cpuhp::Errno::ENOENT);
    /// assert_eq!(e.errno, Some(cpuhp::Errno::ENOENT));
    /// ```
    pub fn new(op: &'static str, path: impl Into<String>, errno: Errno) -> IoError {
        IoError {
            op,
            path: path.into(),
            errno: Some(errno),
            detail: String::new(),
        }
    }

    fn from_io(op: &'static str, path: &Path, e: &io::Error) -> IoError {
        IoError {
            op,
            path: path.display().to_string(),
            errno: e.raw_os_error().and_then(Errno::new),
            detail: e.to_string(),
        }
    }
}

impl fmt::Display for IoError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.errno {
            Some(e) => write!(f, "{} {}: {e}", self.op, self.path),
            None => write!(f, "{} {}: {}", self.op, self.path, self.detail),
        }
    }
}

impl std::error::Error for IoError {}

/// The file operations the backend needs. Paths are relative to an [`Fs`] and use `/`.
///
/// # Examples
///
/// ```
/// use cpuhp_linux::{Fs, SimKernel, SysfsIo};
///
/// let mut k = SimKernel::new(&cpuhp::preset::LINUX_6_1, 2)?;
/// k.write(Fs::Cpu, "cpu1/online", "0")?;
/// assert_eq!(k.read(Fs::Cpu, "online")?, "0\n");
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub trait SysfsIo {
    /// Reads a whole file.
    ///
    /// # Errors
    ///
    /// The errno of the failed read (`ENOENT`, …).
    fn read(&self, fs: Fs, rel: &str) -> Result<String, IoError>;
    /// Writes `value` with one `write(2)`, as `echo` would (no newline added).
    ///
    /// # Errors
    ///
    /// The errno the kernel returned (`EBUSY`, `EINVAL`, …).
    fn write(&mut self, fs: Fs, rel: &str, value: &str) -> Result<(), IoError>;
    /// Whether the file or directory exists.
    fn exists(&self, fs: Fs, rel: &str) -> bool;
    /// Whether this process may write it (`access(2)` with `W_OK`; nothing is written).
    fn writable(&self, fs: Fs, rel: &str) -> bool;
    /// Creates a directory (a tracefs instance).
    ///
    /// # Errors
    ///
    /// `EEXIST`, `ENOENT`, `EACCES`, …
    fn mkdir(&mut self, fs: Fs, rel: &str) -> Result<(), IoError>;
    /// Removes a directory (a tracefs instance).
    ///
    /// # Errors
    ///
    /// `ENOENT`, `EBUSY`, …
    fn rmdir(&mut self, fs: Fs, rel: &str) -> Result<(), IoError>;
    /// The names in a directory, sorted.
    ///
    /// # Errors
    ///
    /// `ENOENT`, `ENOTDIR`, …
    fn list(&self, fs: Fs, rel: &str) -> Result<Vec<String>, IoError>;
    /// The path as the user would name it, for messages.
    fn display(&self, fs: Fs, rel: &str) -> String;
    /// Where tracefs is and how it was found (`--tracefs`, `/proc/mounts`), or why not.
    fn tracefs(&self) -> Result<(String, &'static str), String>;
    /// Whether this process runs as root (effective uid 0).
    fn is_root(&self) -> bool;
    /// The running kernel's release (`uname -r`), if known without the root's files.
    fn uname_release(&self) -> Option<String>;
}

/// The real file system, under a root (`/` on the machine itself).
///
/// # Examples
///
/// ```
/// use cpuhp_linux::{Fs, HostIo, SysfsIo};
///
/// let dir = std::env::temp_dir().join(format!("cpuhp-doc-{}", std::process::id()));
/// std::fs::create_dir_all(dir.join("sys/devices/system/cpu"))?;
/// std::fs::write(dir.join("sys/devices/system/cpu/online"), "0-1\n")?;
/// let io = HostIo::new(&dir, None)?;
/// assert_eq!(io.read(Fs::Cpu, "online")?, "0-1\n");
/// # std::fs::remove_dir_all(&dir)?;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone, Debug)]
pub struct HostIo {
    root: PathBuf,
    tracefs: Result<(PathBuf, &'static str), String>,
}

/// The tracefs mount point listed in a `/proc/mounts` text, if any.
fn tracefs_in_mounts(mounts: &str) -> Option<&str> {
    mounts.lines().find_map(|l| {
        let mut f = l.split_whitespace();
        let (_dev, dir, kind) = (f.next()?, f.next()?, f.next()?);
        (kind == "tracefs").then_some(dir)
    })
}

impl HostIo {
    /// A root (`/`, or a directory shaped like one) and the tracefs mount point; without one,
    /// the `tracefs` line of the root's `proc/mounts`.
    ///
    /// # Errors
    ///
    /// [`Error::Unsupported`](crate::Error::Unsupported) on an OS other than Linux; a root
    /// without `sys/devices/system/cpu`.
    pub fn new(root: &Path, tracefs: Option<&Path>) -> Result<HostIo, crate::Error> {
        if !cfg!(target_os = "linux") {
            return Err(crate::Error::Unsupported);
        }
        let cpu = root.join("sys/devices/system/cpu");
        if !cpu.is_dir() {
            return Err(crate::Error::Io(IoError::new(
                "read",
                cpu.display().to_string(),
                Errno::ENOENT,
            )));
        }
        let tracefs = match tracefs {
            Some(t) => Ok((t.to_path_buf(), "--tracefs")),
            None => {
                let mounts = std::fs::read_to_string(root.join("proc/mounts")).unwrap_or_default();
                match tracefs_in_mounts(&mounts) {
                    Some(dir) => Ok((root.join(dir.trim_start_matches('/')), "/proc/mounts")),
                    None => Err("tracefs is not mounted (no tracefs line in /proc/mounts)".into()),
                }
            }
        };
        Ok(HostIo {
            root: root.to_path_buf(),
            tracefs,
        })
    }

    fn path(&self, fs: Fs, rel: &str) -> Result<PathBuf, IoError> {
        let base = match fs {
            Fs::Cpu => self.root.join("sys/devices/system/cpu"),
            Fs::Root => self.root.clone(),
            Fs::Tracing => match &self.tracefs {
                Ok((p, _)) => p.clone(),
                Err(_) => return Err(IoError::new("open", "tracefs", Errno::ENOENT)),
            },
        };
        Ok(if rel.is_empty() { base } else { base.join(rel) })
    }
}

impl SysfsIo for HostIo {
    fn read(&self, fs: Fs, rel: &str) -> Result<String, IoError> {
        let p = self.path(fs, rel)?;
        std::fs::read_to_string(&p).map_err(|e| IoError::from_io("read", &p, &e))
    }

    fn write(&mut self, fs: Fs, rel: &str, value: &str) -> Result<(), IoError> {
        use std::io::Write;
        let p = self.path(fs, rel)?;
        // One write(2) of the whole value: sysfs and tracefs act on each write call. No create,
        // no truncate: a missing file is an error, not something to make.
        let mut f = std::fs::OpenOptions::new()
            .write(true)
            .open(&p)
            .map_err(|e| IoError::from_io("write", &p, &e))?;
        let n = f
            .write(value.as_bytes())
            .map_err(|e| IoError::from_io("write", &p, &e))?;
        if n != value.len() {
            return Err(IoError {
                op: "write",
                path: p.display().to_string(),
                errno: None,
                detail: format!("short write ({n} of {} bytes)", value.len()),
            });
        }
        Ok(())
    }

    fn exists(&self, fs: Fs, rel: &str) -> bool {
        self.path(fs, rel).is_ok_and(|p| p.exists())
    }

    fn writable(&self, fs: Fs, rel: &str) -> bool {
        let Ok(p) = self.path(fs, rel) else {
            return false;
        };
        #[cfg(unix)]
        {
            rustix::fs::access(&p, rustix::fs::Access::WRITE_OK).is_ok()
        }
        #[cfg(not(unix))]
        {
            std::fs::metadata(&p).is_ok_and(|m| !m.permissions().readonly())
        }
    }

    fn mkdir(&mut self, fs: Fs, rel: &str) -> Result<(), IoError> {
        let p = self.path(fs, rel)?;
        std::fs::create_dir(&p).map_err(|e| IoError::from_io("mkdir", &p, &e))
    }

    fn rmdir(&mut self, fs: Fs, rel: &str) -> Result<(), IoError> {
        let p = self.path(fs, rel)?;
        std::fs::remove_dir(&p).map_err(|e| IoError::from_io("rmdir", &p, &e))
    }

    fn list(&self, fs: Fs, rel: &str) -> Result<Vec<String>, IoError> {
        let p = self.path(fs, rel)?;
        let mut names: Vec<String> = std::fs::read_dir(&p)
            .map_err(|e| IoError::from_io("list", &p, &e))?
            .filter_map(|e| e.ok().map(|e| e.file_name().to_string_lossy().into_owned()))
            .collect();
        names.sort();
        Ok(names)
    }

    fn display(&self, fs: Fs, rel: &str) -> String {
        match self.path(fs, rel) {
            Ok(p) => p.display().to_string(),
            Err(_) => format!("<tracefs>/{rel}"),
        }
    }

    fn tracefs(&self) -> Result<(String, &'static str), String> {
        self.tracefs
            .as_ref()
            .map(|(p, how)| (p.display().to_string(), *how))
            .map_err(Clone::clone)
    }

    fn is_root(&self) -> bool {
        #[cfg(unix)]
        {
            rustix::process::geteuid().is_root()
        }
        #[cfg(not(unix))]
        {
            false
        }
    }

    fn uname_release(&self) -> Option<String> {
        #[cfg(unix)]
        {
            Some(
                rustix::system::uname()
                    .release()
                    .to_string_lossy()
                    .into_owned(),
            )
        }
        #[cfg(not(unix))]
        {
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_tracefs_in_mounts() {
        let m = "proc /proc proc rw 0 0\ntracefs /sys/kernel/tracing tracefs rw 0 0\n";
        assert_eq!(tracefs_in_mounts(m), Some("/sys/kernel/tracing"));
        assert_eq!(tracefs_in_mounts("proc /proc proc rw 0 0\n"), None);
    }
}
