//! Reads one archive to its end, streaming, under a time bound, never extracting anything:
//! gzip streams (every member, CRC and length checked), tar listings (to the end-of-archive
//! marker), plain `pg_dump`/`pg_dumpall` files (their completion trailer). Memory stays flat:
//! one read buffer, the inflater's window and the current line's first bytes.
//!
//! Blocking: call it from `spawn_blocking`. The time bound and the cancel flag are checked
//! before every read of the file (every [`CHUNK`] bytes at most).

use std::fs::File;
use std::io::{self, BufRead, BufReader, Read};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Instant;

use serde::Serialize;

use crate::{tr, Lang};

/// Bytes read from the file at a time.
pub const CHUNK: usize = 256 * 1024;

/// Bytes of a line kept for matching (the trailer lines are shorter).
const LINE_KEEP: usize = 96;

/// Progress of a read, shared with the caller (which may stop waiting for a hung read).
#[derive(Debug, Default)]
pub struct Progress {
    /// Bytes of the file read so far.
    pub file_bytes: AtomicU64,
    /// Bytes after decompression so far (equal to `file_bytes` for an uncompressed file).
    pub content_bytes: AtomicU64,
    /// Set by the caller to stop the read at the next chunk.
    pub cancel: AtomicBool,
    /// Set by the reader when it stopped at the time bound or on cancel.
    stopped: AtomicBool,
}

impl Progress {
    /// A fresh progress counter.
    #[must_use]
    pub fn new() -> Arc<Self> {
        Arc::new(Self::default())
    }
}

/// What the archive turned out to be.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Content {
    /// A tar archive.
    Tar,
    /// Plain SQL from `pg_dumpall` (`-- PostgreSQL database cluster dump`).
    PgDumpall,
    /// Plain SQL from `pg_dump` (`-- PostgreSQL database dump`).
    PgDump,
    /// A `pg_dump` custom-format archive (`PGDMP`): checked by `pg_restore`.
    PgCustom,
    /// Anything else (no header that tells its kind).
    Unrecognised,
    /// Compressed with a format this tool does not read (the name is in the verdict).
    OtherCompression,
    /// Not looked at (unreadable, or stopped before the first bytes).
    Unknown,
}

/// How the read ended.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "verdict", rename_all = "snake_case")]
pub enum Verdict {
    /// Read to the end; the structure is complete.
    Complete,
    /// Ends early: the stream, the listing or the dump stops before its end.
    Truncated {
        /// What is missing (English; the evaluation words it for the user).
        reason: String,
    },
    /// Damaged data (a checksum or a header that does not add up).
    Corrupt {
        /// The decoder's message.
        reason: String,
    },
    /// Read to the end, but nothing tells whether it is complete.
    Unverifiable {
        /// Why.
        reason: String,
    },
    /// Not checked: a compression or a tool this host does not have.
    NotChecked {
        /// Why.
        reason: String,
    },
    /// A read did not return within the bound (hung filesystem?).
    Hung,
    /// A custom-format dump: `pg_restore` decides.
    NeedsPgRestore,
    /// The time bound passed first.
    StoppedAtBound,
    /// The file could not be opened or read.
    Unreadable {
        /// The system's reason.
        reason: String,
        /// The reason is a missing permission.
        permission: bool,
    },
}

/// The result of reading one archive.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ArchiveRead {
    /// The archive.
    pub path: PathBuf,
    /// Its size, bytes.
    pub size_bytes: u64,
    /// Gzip-compressed.
    pub gzip: bool,
    /// What it holds.
    pub content: Content,
    /// Bytes of the file read.
    pub read_bytes: u64,
    /// Bytes after decompression.
    pub content_bytes: u64,
    /// Entries listed (tar) or lines read (SQL).
    pub items: u64,
    /// Time spent, ms.
    pub elapsed_ms: f64,
    /// How it ended.
    #[serde(flatten)]
    pub verdict: Verdict,
}

/// The file, counted and bounded: every read checks the time bound and the cancel flag.
struct Meter {
    file: File,
    progress: Arc<Progress>,
    deadline: Instant,
}

/// The error a [`Meter`] returns when the bound passed (told apart through [`Progress::stopped`]).
fn stop_error() -> io::Error {
    io::Error::other("stopped at the time bound")
}

impl Read for Meter {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if Instant::now() >= self.deadline || self.progress.cancel.load(Ordering::Relaxed) {
            self.progress.stopped.store(true, Ordering::Relaxed);
            return Err(stop_error());
        }
        let n = self.file.read(buf)?;
        self.progress.file_bytes.fetch_add(n as u64, Ordering::Relaxed);
        Ok(n)
    }
}

/// Counts the bytes after decompression.
struct Counted<R> {
    inner: R,
    progress: Arc<Progress>,
}

impl<R: Read> Read for Counted<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.progress.content_bytes.fetch_add(n as u64, Ordering::Relaxed);
        Ok(n)
    }
}

/// Records whether a reader was read to its end (a read that returned nothing).
struct EofSeen<R> {
    inner: R,
    eof: bool,
}

impl<R: Read> Read for EofSeen<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.eof |= n == 0 && !buf.is_empty();
        Ok(n)
    }
}

/// Reads up to `n` bytes (fewer only at the end of the stream).
fn head(r: &mut impl Read, n: usize) -> io::Result<Vec<u8>> {
    let mut buf = Vec::with_capacity(n);
    r.by_ref().take(n as u64).read_to_end(&mut buf)?;
    Ok(buf)
}

/// Names a compression this tool does not read, from the first bytes.
fn other_compression(h: &[u8]) -> Option<(&'static str, &'static str)> {
    const MAGIC: &[(&[u8], &str, &str)] = &[
        (&[0x28, 0xb5, 0x2f, 0xfd], "zstd", "zstd -t"),
        (&[0xfd, b'7', b'z', b'X', b'Z', 0], "xz", "xz -t"),
        (b"BZh", "bzip2", "bzip2 -t"),
        (&[0x04, 0x22, 0x4d, 0x18], "lz4", "lz4 -t"),
        (b"PK\x03\x04", "zip", "unzip -t"),
    ];
    MAGIC.iter().find(|(m, _, _)| h.starts_with(m)).map(|(_, name, tool)| (*name, *tool))
}

/// The content of a stream, from its first bytes.
fn sniff(h: &[u8]) -> Content {
    if h.starts_with(b"PGDMP") {
        Content::PgCustom
    } else if h.len() >= 262 && &h[257..262] == b"ustar" {
        Content::Tar
    } else if other_compression(h).is_some() {
        Content::OtherCompression
    } else {
        // Plain text: the dump scanner tells pg_dump from pg_dumpall from anything else.
        Content::Unrecognised
    }
}

/// Reads `path` to its end (or to the bound), recording progress in `progress`.
#[must_use]
pub fn read_archive(path: &Path, deadline: Instant, progress: &Arc<Progress>, lang: Lang) -> ArchiveRead {
    let start = Instant::now();
    let mut out = ArchiveRead {
        path: path.to_path_buf(),
        size_bytes: 0,
        gzip: false,
        content: Content::Unknown,
        read_bytes: 0,
        content_bytes: 0,
        items: 0,
        elapsed_ms: 0.0,
        verdict: Verdict::Complete,
    };
    let file = match File::open(path) {
        Ok(f) => f,
        Err(e) => {
            out.verdict = Verdict::Unreadable { reason: e.kind().to_string(), permission: e.kind() == io::ErrorKind::PermissionDenied };
            return out;
        }
    };
    out.size_bytes = file.metadata().map_or(0, |m| m.len());
    let meter = Meter { file, progress: progress.clone(), deadline };
    let mut reader = BufReader::with_capacity(CHUNK, meter);
    out.verdict = match read_stream(&mut reader, progress, &mut out, lang) {
        Ok(v) => v,
        Err(e) => classify(&e, progress),
    };
    out.read_bytes = progress.file_bytes.load(Ordering::Relaxed);
    out.content_bytes = progress.content_bytes.load(Ordering::Relaxed);
    out.elapsed_ms = start.elapsed().as_secs_f64() * 1000.0;
    out
}

/// Turns a read error into a verdict.
fn classify(e: &io::Error, progress: &Progress) -> Verdict {
    if progress.stopped.load(Ordering::Relaxed) {
        return Verdict::StoppedAtBound;
    }
    let msg = e.to_string();
    match e.kind() {
        io::ErrorKind::UnexpectedEof => Verdict::Truncated { reason: msg },
        io::ErrorKind::PermissionDenied => Verdict::Unreadable { reason: msg, permission: true },
        io::ErrorKind::InvalidInput | io::ErrorKind::InvalidData => Verdict::Corrupt { reason: msg },
        // tar's own words for an archive that ends inside a header or a member.
        _ if msg.contains("entire block") || msg.contains("unexpected EOF") => Verdict::Truncated { reason: msg },
        _ if msg.contains("checksum") || msg.contains("corrupt") || msg.contains("invalid") => Verdict::Corrupt { reason: msg },
        // EIO and friends: the medium itself.
        _ => Verdict::Unreadable { reason: msg, permission: false },
    }
}

fn read_stream(reader: &mut BufReader<Meter>, progress: &Arc<Progress>, out: &mut ArchiveRead, lang: Lang) -> io::Result<Verdict> {
    let magic = reader.fill_buf()?.get(..2).map(<[u8]>::to_vec).unwrap_or_default();
    if magic == [0x1f, 0x8b] {
        out.gzip = true;
        let decoder = flate2::bufread::MultiGzDecoder::new(reader);
        let mut counted = Counted { inner: decoder, progress: progress.clone() };
        let h = head(&mut counted, 1024)?;
        out.content = sniff(&h);
        if out.content == Content::PgCustom {
            // pg_restore cannot read it through gzip: check the gzip stream only.
            io::copy(&mut counted, &mut io::sink())?;
            return Ok(Verdict::Unverifiable {
                reason: tr!(
                    lang,
                    "a custom-format dump inside gzip: the gzip stream is complete, pg_restore cannot list it through gzip",
                    "un dump au format custom dans du gzip : le flux gzip est complet, pg_restore ne peut pas le lister à travers gzip"
                ),
            });
        }
        return read_content(h, counted, out, lang);
    }
    // Uncompressed: no extra counting layer, the file's bytes are the content's.
    let buffered = reader.fill_buf()?;
    let h = buffered[..buffered.len().min(1024)].to_vec();
    out.content = sniff(&h);
    match out.content {
        Content::PgCustom => Ok(Verdict::NeedsPgRestore),
        Content::OtherCompression => {
            let (name, tool) = other_compression(&h).unwrap_or(("?", "?"));
            Ok(Verdict::NotChecked {
                reason: tr!(lang, "{name}-compressed: not read by mssante-diag (check it with `{tool}`)", "compressé en {name} : non lu par mssante-diag (le vérifier avec `{tool}`)"),
            })
        }
        _ => {
            let counted = Counted { inner: reader, progress: Arc::new(Progress::default()) };
            let v = read_content(Vec::new(), counted, out, lang);
            progress.content_bytes.store(progress.file_bytes.load(Ordering::Relaxed), Ordering::Relaxed);
            v
        }
    }
}

/// Reads what follows `h` (the bytes already taken from `r`) according to `out.content`.
fn read_content<R: Read>(h: Vec<u8>, mut r: Counted<R>, out: &mut ArchiveRead, lang: Lang) -> io::Result<Verdict> {
    match out.content {
        Content::Tar => {
            // tar stops reading right after its end-of-archive block: reaching the end of the
            // stream first means the marker is missing (cut exactly between two members).
            let mut listing = EofSeen { inner: io::Cursor::new(h).chain(&mut r), eof: false };
            let mut archive = tar::Archive::new(&mut listing);
            for entry in archive.entries()? {
                let _ = entry?;
                out.items += 1;
            }
            if listing.eof {
                return Ok(Verdict::Truncated {
                    reason: tr!(lang, "the tar listing ends without its end-of-archive marker", "la liste tar s'arrête sans son marqueur de fin d'archive"),
                });
            }
            // The rest of the stream (tar's zero padding), so that gzip's checksum is read too.
            io::copy(&mut r, &mut io::sink())?;
            Ok(Verdict::Complete)
        }
        Content::OtherCompression => {
            let name = other_compression(&h).map_or("?", |(n, _)| n);
            io::copy(&mut r, &mut io::sink())?;
            Ok(Verdict::NotChecked {
                reason: tr!(lang, "gzip stream complete; it holds {name}-compressed data, not read further", "flux gzip complet ; il contient des données compressées en {name}, non lues"),
            })
        }
        _ => {
            let mut scan = DumpScan::default();
            scan.feed(&h);
            let mut buf = vec![0u8; CHUNK];
            loop {
                let n = r.read(&mut buf)?;
                if n == 0 {
                    break;
                }
                scan.feed(&buf[..n]);
            }
            scan.finish();
            out.items = scan.lines;
            out.content = match scan.kind {
                Some(DumpKind::Cluster) => Content::PgDumpall,
                Some(DumpKind::Database) => Content::PgDump,
                None => Content::Unrecognised,
            };
            Ok(scan.verdict(out.gzip, lang))
        }
    }
}

/// Which `pg_dump` program wrote a plain dump.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum DumpKind {
    /// `pg_dumpall`.
    Cluster,
    /// `pg_dump`.
    Database,
}

impl DumpKind {
    fn trailer(self) -> &'static str {
        match self {
            DumpKind::Cluster => "-- PostgreSQL database cluster dump complete",
            DumpKind::Database => "-- PostgreSQL database dump complete",
        }
    }
}

/// Lines read before a plain dump's header must have been seen.
const HEADER_LINES: u64 = 50;

/// Follows a plain SQL dump line by line, keeping only each line's first bytes: the header
/// tells which program wrote it, and the last meaningful line must be that program's
/// completion trailer. `pg_dump` 15.14+ (and its peers) write `\unrestrict KEY` after the
/// trailer; blank lines, `--` comments and `\unrestrict` lines may follow it.
#[derive(Debug, Default)]
struct DumpScan {
    line: Vec<u8>,
    lines: u64,
    kind: Option<DumpKind>,
    /// The trailer seen last, and nothing meaningful after it.
    last_trailer: Option<DumpKind>,
    content_after_trailer: bool,
    /// Last meaningful line's first bytes (for the report).
    last_meaningful: Vec<u8>,
}

impl DumpScan {
    fn feed(&mut self, mut bytes: &[u8]) {
        while !bytes.is_empty() {
            match memchr::memchr(b'\n', bytes) {
                Some(i) => {
                    self.keep(&bytes[..i]);
                    self.end_line();
                    bytes = &bytes[i + 1..];
                }
                None => {
                    self.keep(bytes);
                    bytes = &[];
                }
            }
        }
    }

    fn keep(&mut self, part: &[u8]) {
        let room = LINE_KEEP.saturating_sub(self.line.len());
        self.line.extend_from_slice(&part[..part.len().min(room)]);
        // Remember that the line is longer than what was kept (no trailer is that long).
        if part.len() > room && self.line.len() == LINE_KEEP {
            self.line.push(b'~');
        }
    }

    fn end_line(&mut self) {
        self.lines += 1;
        let line = std::mem::take(&mut self.line);
        let text = line.strip_suffix(b"\r").unwrap_or(&line);
        let text = text.trim_ascii_end();
        if self.kind.is_none() && self.lines <= HEADER_LINES {
            if text == b"-- PostgreSQL database cluster dump" {
                self.kind = Some(DumpKind::Cluster);
            } else if text == b"-- PostgreSQL database dump" {
                self.kind = Some(DumpKind::Database);
            }
        }
        if text == DumpKind::Cluster.trailer().as_bytes() {
            self.last_trailer = Some(DumpKind::Cluster);
            self.content_after_trailer = false;
        } else if text == DumpKind::Database.trailer().as_bytes() {
            self.last_trailer = Some(DumpKind::Database);
            self.content_after_trailer = false;
        } else if text.is_empty() || text.starts_with(b"--") || text.starts_with(b"\\unrestrict") {
            return;
        } else {
            self.content_after_trailer = true;
        }
        self.last_meaningful.clear();
        self.last_meaningful.extend_from_slice(&text[..text.len().min(60)]);
    }

    fn finish(&mut self) {
        if !self.line.is_empty() {
            self.end_line();
        }
    }

    fn verdict(&self, gzip: bool, lang: Lang) -> Verdict {
        let Some(kind) = self.kind else {
            let reason = if gzip {
                tr!(
                    lang,
                    "gzip stream complete, but its content has no pg_dump/pg_dumpall header: whether it is complete cannot be told",
                    "flux gzip complet, mais son contenu n'a pas d'en-tête pg_dump/pg_dumpall : impossible de dire s'il est complet"
                )
            } else {
                tr!(
                    lang,
                    "read to the end, but it has no pg_dump/pg_dumpall header: whether it is complete cannot be told",
                    "lue jusqu'au bout, mais sans en-tête pg_dump/pg_dumpall : impossible de dire si elle est complète"
                )
            };
            return Verdict::Unverifiable { reason };
        };
        if self.last_trailer == Some(kind) && !self.content_after_trailer {
            return Verdict::Complete;
        }
        let (trailer, last) = (kind.trailer(), String::from_utf8_lossy(&self.last_meaningful).into_owned());
        Verdict::Truncated {
            reason: tr!(
                lang,
                "no `{trailer}` trailer at the end (a dump cut short, by a full disk?); last line: `{last}`",
                "pas de ligne finale `{trailer}` (dump interrompu, disque plein ?) ; dernière ligne : `{last}`"
            ),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;
    use std::time::Duration;

    fn later() -> Instant {
        Instant::now() + Duration::from_secs(30)
    }

    fn read(path: &Path) -> ArchiveRead {
        read_archive(path, later(), &Progress::new(), Lang::En)
    }

    const DUMPALL: &str = "--\n-- PostgreSQL database cluster dump\n--\n\n\\restrict abc\n\nSET x = 1;\n--\n-- PostgreSQL database dump\n--\n\nCREATE TABLE t (i int);\nCOPY t FROM stdin;\n1\n\\.\n\n--\n-- PostgreSQL database dump complete\n--\n\n\\unrestrict def\n\n--\n-- PostgreSQL database cluster dump complete\n--\n\n";

    fn gzip(bytes: &[u8]) -> Vec<u8> {
        let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        e.write_all(bytes).expect("compress");
        e.finish().expect("compress")
    }

    fn tar_of(files: &[(&str, &[u8])]) -> Vec<u8> {
        let mut b = tar::Builder::new(Vec::new());
        for (name, data) in files {
            let mut h = tar::Header::new_gnu();
            h.set_size(data.len() as u64);
            h.set_mode(0o644);
            h.set_cksum();
            b.append_data(&mut h, name, *data).expect("append");
        }
        b.into_inner().expect("tar")
    }

    fn write(dir: &Path, name: &str, bytes: &[u8]) -> PathBuf {
        let p = dir.join(name);
        std::fs::write(&p, bytes).expect("write");
        p
    }

    #[test]
    fn plain_dumps_need_their_trailer() {
        let dir = tempfile::tempdir().expect("tempdir");
        let r = read(&write(dir.path(), "all.sql", DUMPALL.as_bytes()));
        assert_eq!((r.verdict.clone(), r.content), (Verdict::Complete, Content::PgDumpall), "{r:?}");
        // Cut after the first database: its own trailer is there, the cluster's is not.
        let cut = DUMPALL.find("\\unrestrict def").expect("marker");
        let r = read(&write(dir.path(), "cut.sql", &DUMPALL.as_bytes()[..cut]));
        assert!(matches!(&r.verdict, Verdict::Truncated { reason } if reason.contains("cluster dump complete")), "{r:?}");
        // Cut mid-line, no newline at the end.
        let r = read(&write(dir.path(), "mid.sql", &DUMPALL.as_bytes()[..DUMPALL.len() / 2]));
        assert!(matches!(r.verdict, Verdict::Truncated { .. }), "{r:?}");
        // A single-database dump, CRLF line ends, \unrestrict after the trailer.
        let one = "--\r\n-- PostgreSQL database dump\r\n--\r\nSELECT 1;\r\n--\r\n-- PostgreSQL database dump complete\r\n--\r\n\r\n\\unrestrict k\r\n";
        let r = read(&write(dir.path(), "one.sql", one.as_bytes()));
        assert_eq!((r.verdict.clone(), r.content), (Verdict::Complete, Content::PgDump), "{r:?}");
        // Content after the trailer: not the end of a dump.
        let r = read(&write(dir.path(), "after.sql", format!("{one}CREATE TABLE x ();\n").as_bytes()));
        assert!(matches!(r.verdict, Verdict::Truncated { .. }), "{r:?}");
        let r = read(&write(dir.path(), "notes.sql", b"SELECT 1;\n"));
        assert!(matches!(r.verdict, Verdict::Unverifiable { .. }), "{r:?}");
    }

    #[test]
    fn gzip_streams_are_read_to_their_end() {
        let dir = tempfile::tempdir().expect("tempdir");
        let gz = gzip(DUMPALL.as_bytes());
        let r = read(&write(dir.path(), "all.sql.gz", &gz));
        assert_eq!((r.verdict.clone(), r.gzip, r.content), (Verdict::Complete, true, Content::PgDumpall), "{r:?}");
        assert_eq!(r.content_bytes, DUMPALL.len() as u64);
        let r = read(&write(dir.path(), "cut.sql.gz", &gz[..gz.len() - 4]));
        assert!(matches!(r.verdict, Verdict::Truncated { .. }), "{r:?}");
        let r = read(&write(dir.path(), "half.sql.gz", &gz[..gz.len() / 2]));
        assert!(matches!(r.verdict, Verdict::Truncated { .. }), "{r:?}");
        let mut bad = gz.clone();
        let crc = bad.len() - 8;
        bad[crc] ^= 0xff;
        let r = read(&write(dir.path(), "crc.sql.gz", &bad));
        assert!(matches!(r.verdict, Verdict::Corrupt { .. }), "{r:?}");
        // Two members (as `cat a.gz b.gz` makes) are one stream.
        let two = [gzip(b"--\n-- PostgreSQL database dump\n--\nSELECT 1;\n"), gzip(b"--\n-- PostgreSQL database dump complete\n--\n")].concat();
        let r = read(&write(dir.path(), "two.sql.gz", &two));
        assert_eq!(r.verdict, Verdict::Complete, "{r:?}");
    }

    #[test]
    fn tar_listings_are_read_to_their_marker() {
        let dir = tempfile::tempdir().expect("tempdir");
        let big = vec![7u8; 100_000];
        let t = tar_of(&[("data/a.txt", b"hello"), ("data/big.bin", &big), ("data/c.txt", b"bye")]);
        let r = read(&write(dir.path(), "data.tar", &t));
        assert_eq!((r.verdict.clone(), r.content, r.items), (Verdict::Complete, Content::Tar, 3), "{r:?}");
        let r = read(&write(dir.path(), "data.tar.gz", &gzip(&t)));
        assert_eq!((r.verdict.clone(), r.gzip, r.items), (Verdict::Complete, true, 3), "{r:?}");
        // Cut inside a member, and cut exactly between two members (no end marker).
        let r = read(&write(dir.path(), "cut.tar", &t[..60_000]));
        assert!(matches!(r.verdict, Verdict::Truncated { .. }), "{r:?}");
        let r = read(&write(dir.path(), "boundary.tar", &t[..1024]));
        assert!(matches!(&r.verdict, Verdict::Truncated { reason } if reason.contains("end-of-archive")), "{r:?}");
        let gz = gzip(&t);
        let r = read(&write(dir.path(), "cut.tar.gz", &gz[..gz.len() * 2 / 3]));
        assert!(matches!(r.verdict, Verdict::Truncated { .. }), "{r:?}");
        let mut bad = t.clone();
        bad[100] ^= 0x55;
        let r = read(&write(dir.path(), "bad.tar", &bad));
        assert!(matches!(r.verdict, Verdict::Corrupt { .. }), "{r:?}");
    }

    #[test]
    fn custom_dumps_and_other_formats() {
        let dir = tempfile::tempdir().expect("tempdir");
        let r = read(&write(dir.path(), "db.dump", b"PGDMP\x01\x0e\x00rest"));
        assert_eq!((r.verdict.clone(), r.content), (Verdict::NeedsPgRestore, Content::PgCustom));
        let r = read(&write(dir.path(), "db.sql.zst", &[0x28, 0xb5, 0x2f, 0xfd, 1, 2, 3]));
        assert!(matches!(&r.verdict, Verdict::NotChecked { reason } if reason.contains("zstd")), "{r:?}");
        let r = read(&dir.path().join("absent.sql"));
        assert!(matches!(r.verdict, Verdict::Unreadable { permission: false, .. }), "{r:?}");
        let r = read(&write(dir.path(), "empty.sql", b""));
        assert!(matches!(r.verdict, Verdict::Unverifiable { .. }), "{r:?}");
    }

    #[test]
    fn garbage_and_endless_lines_stay_bounded() {
        let mut scan = DumpScan::default();
        scan.feed(b"--\n-- PostgreSQL database dump\n--\n");
        let chunk = vec![b'x'; 1 << 20];
        for _ in 0..16 {
            scan.feed(&chunk);
        }
        assert!(scan.line.len() <= LINE_KEEP + 1, "a line is kept to its first bytes");
        scan.finish();
        assert!(matches!(scan.verdict(false, Lang::En), Verdict::Truncated { .. }));
        let dir = tempfile::tempdir().expect("tempdir");
        let garbage: Vec<u8> = (0..200_000u32).map(|i| (i.wrapping_mul(2_654_435_761) >> 24) as u8).collect();
        let r = read(&write(dir.path(), "garbage.sql", &garbage));
        assert!(matches!(r.verdict, Verdict::Unverifiable { .. }), "{r:?}");
        // gzip magic, then garbage: damaged, not a panic.
        let r = read(&write(dir.path(), "garbage.sql.gz", &[&[0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 3][..], &garbage].concat()));
        assert!(matches!(r.verdict, Verdict::Corrupt { .. } | Verdict::Truncated { .. }), "{r:?}");
    }

    #[test]
    fn stops_at_the_bound_and_says_how_far() {
        let dir = tempfile::tempdir().expect("tempdir");
        let p = write(dir.path(), "big.sql.gz", &gzip(&vec![b'x'; 8 << 20]));
        let progress = Progress::new();
        let r = read_archive(&p, Instant::now(), &progress, Lang::En);
        assert_eq!(r.verdict, Verdict::StoppedAtBound);
        // Cancelled by the caller: the same, with what was read so far.
        let progress = Progress::new();
        progress.cancel.store(true, Ordering::Relaxed);
        let r = read_archive(&p, later(), &progress, Lang::En);
        assert_eq!((r.verdict, r.read_bytes), (Verdict::StoppedAtBound, 0));
    }
}
