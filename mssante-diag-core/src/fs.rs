//! Shared infrastructure: filesystem usage (statvfs), for `system.disk`, `docker.disk`
//! and every check that needs the free space under a path.

use std::path::{Path, PathBuf};

use serde::Serialize;

/// Usage of one filesystem.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct FsUsage {
    /// Paths of the configuration on this filesystem.
    pub paths: Vec<PathBuf>,
    /// Total bytes.
    pub total_bytes: u64,
    /// Bytes available to unprivileged users.
    pub available_bytes: u64,
    /// Used space, percent of what users can have (as `df` computes it).
    pub used_pct: f64,
    /// Total inodes (0 when the filesystem has none to report).
    pub total_inodes: u64,
    /// Used inodes, percent.
    pub inodes_used_pct: f64,
}

/// A path whose filesystem could not be measured, and why.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct Unmeasured {
    /// The path.
    pub path: PathBuf,
    /// Why (`No such file or directory`, `Permission denied`...).
    pub reason: String,
}

/// Measures the filesystems holding `paths` (one entry per filesystem). Paths that
/// cannot be measured (missing, unreadable) come back in the second list with the reason.
#[must_use]
pub fn filesystems(paths: &[PathBuf]) -> (Vec<FsUsage>, Vec<Unmeasured>) {
    use std::os::unix::fs::MetadataExt;
    let mut out: Vec<(u64, FsUsage)> = Vec::new();
    let mut unmeasured = Vec::new();
    for p in paths {
        // A folder this user may not enter (PostgreSQL's data, mode 700) is measured through
        // the filesystem it is mounted on: measuring needs no right on its content.
        let (target, meta) = match std::fs::metadata(p) {
            Ok(m) => (p.clone(), m),
            Err(e) => match (e.kind() == std::io::ErrorKind::PermissionDenied)
                .then(|| mount_point_of(p))
                .flatten()
                .and_then(|mp| std::fs::metadata(&mp).ok().map(|m| (mp, m)))
            {
                Some(found) => found,
                None => {
                    unmeasured.push(Unmeasured {
                        path: p.clone(),
                        reason: e.kind().to_string(),
                    });
                    continue;
                }
            },
        };
        if let Some((_, fs)) = out.iter_mut().find(|(dev, _)| *dev == meta.dev()) {
            fs.paths.push(p.clone());
            continue;
        }
        match usage(&target) {
            Ok(mut u) => {
                u.paths = vec![p.clone()];
                out.push((meta.dev(), u));
            }
            Err(e) => unmeasured.push(Unmeasured {
                path: p.clone(),
                reason: e.desc().to_owned(),
            }),
        }
    }
    (out.into_iter().map(|(_, u)| u).collect(), unmeasured)
}

/// The mount point (from `/proc/self/mountinfo`) whose path is the longest prefix of `path`,
/// compared as paths: symbolic links below a folder the user may not enter cannot be seen.
fn mount_point_of(path: &Path) -> Option<PathBuf> {
    use std::path::Component;
    let mut lexical = PathBuf::new();
    for c in path.components() {
        match c {
            Component::ParentDir => {
                lexical.pop();
            }
            Component::CurDir => {}
            other => lexical.push(other),
        }
    }
    let path = lexical;
    let info = read_capped(Path::new("/proc/self/mountinfo"), 4 << 20).ok()?;
    info.lines()
        .filter_map(|l| l.split(' ').nth(4))
        .map(|m| PathBuf::from(unescape_mount_path(m)))
        .filter(|m| path.starts_with(m))
        .max_by_key(|m| m.components().count())
}

/// `/proc/self/mountinfo` writes space, tab, newline and backslash in a path as `\ooo`.
fn unescape_mount_path(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        let octal = b
            .get(i + 1..i + 4)
            .filter(|d| b[i] == b'\\' && d.iter().all(|c| (b'0'..=b'7').contains(c)));
        if let Some(d) = octal {
            out.push(
                d.iter()
                    .fold(0u8, |acc, c| acc.wrapping_mul(8).wrapping_add(c - b'0')),
            );
            i += 4;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[allow(clippy::cast_precision_loss)]
fn usage(p: &Path) -> nix::Result<FsUsage> {
    let st = nix::sys::statvfs::statvfs(p)?;
    let frag = st.fragment_size();
    let total = st.blocks() * frag;
    let free = st.blocks_free() * frag;
    let avail = st.blocks_available() * frag;
    let used = total.saturating_sub(free);
    let used_pct = if used + avail == 0 {
        0.0
    } else {
        used as f64 * 100.0 / (used + avail) as f64
    };
    let inodes = st.files();
    let inodes_used_pct = if inodes == 0 {
        0.0
    } else {
        (inodes - st.files_free()) as f64 * 100.0 / inodes as f64
    };
    Ok(FsUsage {
        paths: vec![p.to_path_buf()],
        total_bytes: total,
        available_bytes: avail,
        used_pct: (used_pct * 10.0).round() / 10.0,
        total_inodes: inodes,
        inodes_used_pct: (inodes_used_pct * 10.0).round() / 10.0,
    })
}

/// Reads at most `max` bytes of a small text file (`/proc`, `/sys`), lossily as UTF-8: a file
/// that grew without bound (or a hostile one) never costs more than `max`.
///
/// # Errors
/// Why the file could not be opened or read.
pub fn read_capped(path: &Path, max: u64) -> std::io::Result<String> {
    use std::io::Read;
    let mut bytes = Vec::new();
    std::fs::File::open(path)?
        .take(max)
        .read_to_end(&mut bytes)?;
    Ok(String::from_utf8_lossy(&bytes).into_owned())
}

/// The last `max` bytes of a file (a log), starting at a line boundary when the file is longer,
/// and whether the beginning was left out.
///
/// # Errors
/// Why the file could not be opened or read.
pub fn read_tail(path: &Path, max: u64) -> std::io::Result<(Vec<u8>, bool)> {
    use std::io::{Read, Seek, SeekFrom};
    let mut f = std::fs::File::open(path)?;
    let len = f.metadata()?.len();
    let cut = len > max;
    if cut {
        f.seek(SeekFrom::Start(len - max))?;
    }
    let mut bytes = Vec::new();
    f.take(max).read_to_end(&mut bytes)?;
    if cut {
        // The first line is a piece of a line: drop it.
        let start = memchr::memchr(b'\n', &bytes).map_or(bytes.len(), |i| i + 1);
        bytes.drain(..start);
    }
    Ok((bytes, cut))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mount_paths_are_unescaped() {
        assert_eq!(unescape_mount_path(r"/srv/my\040data"), "/srv/my data");
        assert_eq!(unescape_mount_path(r"/a\134b"), r"/a\b");
        assert_eq!(unescape_mount_path(r"/trailing\04"), r"/trailing\04");
    }

    #[test]
    fn the_mount_point_of_a_path_is_the_longest_mounted_prefix() {
        let mp = mount_point_of(Path::new("/no/such/../folder")).expect("mountinfo lists /");
        assert!(Path::new("/no/folder").starts_with(&mp), "{}", mp.display());
        // /proc is a mount of its own on Linux: a path below it resolves there, not to /.
        assert_eq!(
            mount_point_of(Path::new("/proc/1/status")),
            Some(PathBuf::from("/proc"))
        );
    }
}
