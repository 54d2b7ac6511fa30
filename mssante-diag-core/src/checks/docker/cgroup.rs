//! A local container's CPU and memory counters, read straight from its cgroup (v1 or v2)
//! the way the engine's stats collector reads them, without waiting for the collector's
//! one-second cycle.
//!
//! The cgroup is found from the container's main process (`/proc/<pid>/cgroup`) and the
//! cgroup mounts of this machine (`/proc/self/mountinfo`); it is used only when its path
//! names the container's id, so an engine whose containers live elsewhere (in a VM, on
//! another machine behind a forwarded socket) is never measured through an unrelated process.

use std::io::Read;
use std::path::{Path, PathBuf};

/// Largest file read here (`/proc/self/mountinfo` of a busy Docker host is a few hundred KiB).
const MAX_FILE: u64 = 4 << 20;

/// Reads a small kernel file, at most [`MAX_FILE`] bytes.
fn read_small(path: &Path) -> std::io::Result<String> {
    let mut s = String::new();
    std::fs::File::open(path)?.take(MAX_FILE).read_to_string(&mut s)?;
    Ok(s)
}

/// Reads a file holding one number.
fn read_u64(path: &Path) -> std::io::Result<u64> {
    let text = read_small(path)?;
    text.trim().parse().map_err(|_| std::io::Error::new(std::io::ErrorKind::InvalidData, format!("{}: not a number", path.display())))
}

/// The value of `key` in a `key value` file (`memory.stat`, `cpu.stat`).
fn stat_value(text: &str, key: &str) -> Option<u64> {
    text.lines().find_map(|l| l.split_once(' ').filter(|(k, _)| *k == key).and_then(|(_, v)| v.trim().parse().ok()))
}

/// One cgroup hierarchy mounted on this machine.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Mount {
    /// v1 controllers (`cpu`, `cpuacct`, `memory`...); empty for the v2 hierarchy.
    controllers: Vec<String>,
    /// The cgroup the mount shows at its mount point (`/` unless bind-mounted from inside).
    root: String,
    /// Where it is mounted.
    point: PathBuf,
    /// cgroup v2.
    unified: bool,
}

/// The cgroup hierarchies mounted on this machine.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Mounts(Vec<Mount>);

/// Where a container's cgroup files are.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Cgroup {
    /// cgroup v1: the folders of the `cpuacct` and `memory` hierarchies.
    V1 {
        /// Holds `cpuacct.usage`.
        cpuacct: PathBuf,
        /// Holds `memory.usage_in_bytes`, `memory.stat`, `memory.limit_in_bytes`.
        memory: PathBuf,
    },
    /// cgroup v2: the folder holding `cpu.stat`, `memory.current`, `memory.stat`, `memory.max`.
    V2(PathBuf),
}

/// What the engine's collector reads from a cgroup.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Counters {
    /// CPU time used since the container started, ns.
    pub cpu_ns: u64,
    /// Memory charged to the container, bytes (page cache included).
    pub memory_usage: u64,
    /// Inactive page cache (`inactive_file`), which `docker stats` does not count as used.
    pub inactive_file: u64,
    /// The cgroup's memory limit, bytes; `None` when unlimited.
    pub memory_limit: Option<u64>,
}

/// A v1 "unlimited" memory limit is a huge page-aligned number: anything above this is none.
const V1_UNLIMITED: u64 = 1 << 62;

impl Mounts {
    /// The cgroup mounts of this machine.
    ///
    /// # Errors
    /// `/proc/self/mountinfo` cannot be read.
    pub fn read() -> std::io::Result<Self> {
        read_small(Path::new("/proc/self/mountinfo")).map(|t| Self::parse(&t))
    }

    /// Parses `/proc/self/mountinfo`.
    #[must_use]
    pub fn parse(mountinfo: &str) -> Self {
        let mounts = mountinfo
            .lines()
            .filter_map(|line| {
                let (left, right) = line.split_once(" - ")?;
                let left: Vec<&str> = left.split(' ').collect();
                let mut right = right.split(' ');
                let (fstype, _source, options) = (right.next()?, right.next()?, right.next().unwrap_or(""));
                let (root, point) = (left.get(3)?, left.get(4)?);
                let unified = match fstype {
                    "cgroup2" => true,
                    "cgroup" => false,
                    _ => return None,
                };
                let controllers = if unified { Vec::new() } else { options.split(',').map(str::to_owned).collect() };
                Some(Mount { controllers, root: unescape(root), point: PathBuf::from(unescape(point)), unified })
            })
            .collect();
        Self(mounts)
    }

    /// The folder of cgroup `path` in the hierarchy of `controller` (v1) or in the v2 hierarchy.
    fn folder(&self, controller: Option<&str>, path: &str) -> Option<PathBuf> {
        let m = self.0.iter().find(|m| match controller {
            Some(c) => !m.unified && m.controllers.iter().any(|x| x == c),
            None => m.unified,
        })?;
        let rest = if m.root == "/" { path } else { path.strip_prefix(m.root.as_str())? };
        Some(m.point.join(rest.trim_start_matches('/')))
    }

    /// The cgroup of process `pid`, which must be container `id`'s (its path names the id).
    ///
    /// # Errors
    /// Why not: the process is gone, its cgroup is not the container's, no such hierarchy here.
    pub fn locate(&self, pid: i64, id: &str) -> Result<Cgroup, String> {
        let file = PathBuf::from(format!("/proc/{pid}/cgroup"));
        let text = read_small(&file).map_err(|e| format!("{}: {e}", file.display()))?;
        self.locate_in(&text, id)
    }

    /// As [`Mounts::locate`], from the text of `/proc/<pid>/cgroup`.
    ///
    /// # Errors
    /// Why the text does not lead to the container's cgroup.
    pub fn locate_in(&self, proc_cgroup: &str, id: &str) -> Result<Cgroup, String> {
        if id.len() < 12 {
            return Err(format!("container id `{id}` too short to recognise its cgroup"));
        }
        // `hierarchy-id:controllers:path`; v2 is `0::path`.
        let entries: Vec<(Vec<&str>, &str)> = proc_cgroup
            .lines()
            .filter_map(|l| {
                let mut parts = l.splitn(3, ':');
                let (_, controllers, path) = (parts.next()?, parts.next()?, parts.next()?);
                Some((controllers.split(',').filter(|c| !c.is_empty()).collect(), path))
            })
            .collect();
        let v1 = |controller: &str| entries.iter().find(|(cs, _)| cs.contains(&controller)).map(|(_, p)| *p);
        let named = |p: &str| p.contains(id);
        if let (Some(cpu), Some(mem)) = (v1("cpuacct"), v1("memory")) {
            if !(named(cpu) && named(mem)) {
                return Err(format!("cgroup {cpu} is not container {id}'s"));
            }
            return match (self.folder(Some("cpuacct"), cpu), self.folder(Some("memory"), mem)) {
                (Some(cpuacct), Some(memory)) => Ok(Cgroup::V1 { cpuacct, memory }),
                _ => Err(format!("cgroup v1 hierarchies of {cpu} not mounted here")),
            };
        }
        let Some((_, path)) = entries.iter().find(|(cs, _)| cs.is_empty()) else {
            return Err("no cpuacct/memory or v2 cgroup".into());
        };
        if !named(path) {
            return Err(format!("cgroup {path} is not container {id}'s"));
        }
        self.folder(None, path).map(Cgroup::V2).ok_or_else(|| format!("cgroup v2 hierarchy of {path} not mounted here"))
    }
}

/// Undoes mountinfo's octal escapes (`\040` for a space).
fn unescape(s: &str) -> String {
    if !s.contains('\\') {
        return s.to_owned();
    }
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        let octal = b.get(i + 1..i + 4).and_then(|d| std::str::from_utf8(d).ok()).and_then(|d| u8::from_str_radix(d, 8).ok());
        match (b[i], octal) {
            (b'\\', Some(v)) => {
                out.push(v);
                i += 4;
            }
            (c, _) => {
                out.push(c);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

impl Cgroup {
    /// Reads the counters now.
    ///
    /// # Errors
    /// A file is missing (the container stopped: its cgroup is gone) or unreadable.
    pub fn read(&self) -> std::io::Result<Counters> {
        match self {
            Self::V1 { cpuacct, memory } => {
                let stat = read_small(&memory.join("memory.stat"))?;
                Ok(Counters {
                    cpu_ns: read_u64(&cpuacct.join("cpuacct.usage"))?,
                    memory_usage: read_u64(&memory.join("memory.usage_in_bytes"))?,
                    inactive_file: stat_value(&stat, "total_inactive_file").or_else(|| stat_value(&stat, "inactive_file")).unwrap_or(0),
                    memory_limit: read_u64(&memory.join("memory.limit_in_bytes")).ok().filter(|l| *l < V1_UNLIMITED),
                })
            }
            Self::V2(dir) => {
                let cpu = read_small(&dir.join("cpu.stat"))?;
                let usec = stat_value(&cpu, "usage_usec")
                    .ok_or_else(|| std::io::Error::new(std::io::ErrorKind::InvalidData, "cpu.stat has no usage_usec"))?;
                let stat = read_small(&dir.join("memory.stat"))?;
                let max = read_small(&dir.join("memory.max"))?;
                Ok(Counters {
                    cpu_ns: usec.saturating_mul(1000),
                    memory_usage: read_u64(&dir.join("memory.current"))?,
                    inactive_file: stat_value(&stat, "inactive_file").unwrap_or(0),
                    memory_limit: max.trim().parse().ok(),
                })
            }
        }
    }
}

/// What the collector knows of the host: its online CPUs and its memory.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Host {
    /// CPUs online (`cpuN` lines of `/proc/stat`, as the engine counts them).
    pub online_cpus: u32,
    /// `MemTotal` of `/proc/meminfo`, bytes.
    pub memory_bytes: u64,
}

impl Host {
    /// Reads `/proc/stat` and `/proc/meminfo`.
    ///
    /// # Errors
    /// One of them cannot be read or has no such line.
    pub fn read() -> std::io::Result<Self> {
        let bad = |what: &str| std::io::Error::new(std::io::ErrorKind::InvalidData, what.to_owned());
        let stat = read_small(Path::new("/proc/stat"))?;
        let online = stat.lines().filter(|l| l.strip_prefix("cpu").is_some_and(|r| r.starts_with(|c: char| c.is_ascii_digit()))).count();
        let meminfo = read_small(Path::new("/proc/meminfo"))?;
        let kib = meminfo
            .lines()
            .find_map(|l| l.strip_prefix("MemTotal:"))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
            .ok_or_else(|| bad("/proc/meminfo has no MemTotal"))?;
        Ok(Self { online_cpus: u32::try_from(online).unwrap_or(1).max(1), memory_bytes: kib * 1024 })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const ID: &str = "81cb06d9e098";

    const HYBRID: &str = "\
24 30 0:21 / /sys/fs/cgroup ro,nosuid - tmpfs tmpfs ro,mode=755
25 24 0:22 / /sys/fs/cgroup/unified rw,nosuid - cgroup2 cgroup2 rw
27 24 0:24 / /sys/fs/cgroup/cpu,cpuacct rw,nosuid - cgroup cgroup rw,cpu,cpuacct
28 24 0:25 / /sys/fs/cgroup/memory rw,nosuid - cgroup cgroup rw,memory
40 30 0:40 / /var/lib/docker\\040data rw - ext4 /dev/sda1 rw";

    #[test]
    fn finds_v1_and_v2_folders_of_the_container() {
        let m = Mounts::parse(HYBRID);
        let path = "/docker/81cb06d9e09865445cefe0797b0d4aca80f9798882ee90865e8b8abd3b459174";
        let proc = format!("12:memory:{path}\n4:cpu,cpuacct:{path}\n0::{path}\n");
        assert_eq!(
            m.locate_in(&proc, ID),
            Ok(Cgroup::V1 { cpuacct: format!("/sys/fs/cgroup/cpu,cpuacct{path}").into(), memory: format!("/sys/fs/cgroup/memory{path}").into() })
        );
        // Another process's cgroup is never taken for the container's.
        assert!(m.locate_in("12:memory:/user.slice\n4:cpu,cpuacct:/user.slice\n", ID).unwrap_err().contains("not container"));

        let v2 = Mounts::parse("30 1 0:26 / /sys/fs/cgroup rw - cgroup2 cgroup2 rw,nsdelegate");
        let scope = format!("/system.slice/docker-{ID}0123.scope");
        assert_eq!(v2.locate_in(&format!("0::{scope}\n"), ID), Ok(Cgroup::V2(format!("/sys/fs/cgroup{scope}").into())));
        assert!(Mounts::default().locate_in(&format!("0::{scope}\n"), ID).is_err(), "no hierarchy mounted here");
        assert_eq!(unescape("/var/lib/docker\\040data"), "/var/lib/docker data");
    }

    #[test]
    fn reads_the_counters_docker_reads() {
        let dir = std::env::temp_dir().join(format!("mssante-cgroup-test-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("cpu.stat"), "usage_usec 1500\nuser_usec 1000\n").unwrap();
        std::fs::write(dir.join("memory.current"), "4096\n").unwrap();
        std::fs::write(dir.join("memory.stat"), "anon 1024\ninactive_file 1000\n").unwrap();
        std::fs::write(dir.join("memory.max"), "max\n").unwrap();
        let c = Cgroup::V2(dir.clone()).read().unwrap();
        assert_eq!(c, Counters { cpu_ns: 1_500_000, memory_usage: 4096, inactive_file: 1000, memory_limit: None });
        std::fs::write(dir.join("memory.max"), "8192\n").unwrap();
        assert_eq!(Cgroup::V2(dir.clone()).read().unwrap().memory_limit, Some(8192));
        std::fs::remove_dir_all(&dir).unwrap();
        assert_eq!(Cgroup::V2(dir).read().unwrap_err().kind(), std::io::ErrorKind::NotFound, "a stopped container's cgroup is gone");
        let h = Host::read().unwrap();
        assert!(h.online_cpus >= 1 && h.memory_bytes > 0, "{h:?}");
    }
}
