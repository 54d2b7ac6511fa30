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
        let meta = match std::fs::metadata(p) {
            Ok(m) => m,
            Err(e) => {
                unmeasured.push(Unmeasured { path: p.clone(), reason: e.kind().to_string() });
                continue;
            }
        };
        if let Some((_, fs)) = out.iter_mut().find(|(dev, _)| *dev == meta.dev()) {
            fs.paths.push(p.clone());
            continue;
        }
        match usage(p) {
            Ok(u) => out.push((meta.dev(), u)),
            Err(e) => unmeasured.push(Unmeasured { path: p.clone(), reason: e.desc().to_owned() }),
        }
    }
    (out.into_iter().map(|(_, u)| u).collect(), unmeasured)
}

#[allow(clippy::cast_precision_loss)]
fn usage(p: &Path) -> nix::Result<FsUsage> {
    let st = nix::sys::statvfs::statvfs(p)?;
    let frag = st.fragment_size();
    let total = st.blocks() * frag;
    let free = st.blocks_free() * frag;
    let avail = st.blocks_available() * frag;
    let used = total.saturating_sub(free);
    let used_pct = if used + avail == 0 { 0.0 } else { used as f64 * 100.0 / (used + avail) as f64 };
    let inodes = st.files();
    let inodes_used_pct = if inodes == 0 { 0.0 } else { (inodes - st.files_free()) as f64 * 100.0 / inodes as f64 };
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
    std::fs::File::open(path)?.take(max).read_to_end(&mut bytes)?;
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
