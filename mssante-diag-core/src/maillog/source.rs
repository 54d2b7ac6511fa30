//! Where log bytes come from (plain files, rotated `.gz` files, stdin, a container's log
//! stream) and the [`Summarizer`] they are fed to: chunks of whole lines counted on every
//! core, merged in log order.

use std::collections::BTreeMap;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::sync::mpsc;
use std::sync::{Arc, Mutex};

use super::join::Carried;
use super::parse::Clock;
use super::scan::{ChunkOut, Scanner};
use super::summary::{rfc3339, Acc, Summary, Window};
use super::MAX_LINE;
use crate::Error;

/// Bytes per chunk of work.
pub const CHUNK: usize = 1 << 20;

/// How a log is summarised.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Options {
    /// Lines before this Unix time are left out.
    pub since: Option<i64>,
    /// Lines after this Unix time are left out.
    pub until: Option<i64>,
    /// The reference time for syslog's year-less dates (Unix seconds; default: now).
    pub now: Option<i64>,
    /// Hide client addresses and e-mail addresses in the summary.
    pub mask_addresses: bool,
    /// Worker threads (default: the machine's cores, at most 8).
    pub threads: Option<usize>,
}

/// Counts a log fed in pieces, in order: [`Summarizer::read`] for files and pipes (in
/// parallel), [`Summarizer::feed`] for bytes arriving in frames (a container's log).
#[derive(Debug)]
pub struct Summarizer {
    scanner: Arc<Scanner>,
    acc: Acc,
    carried: Carried,
    /// An incomplete last line of [`Summarizer::feed`].
    pending: Vec<u8>,
    /// Inside a line too long to keep: dropped up to its end.
    skipping: bool,
    threads: usize,
    window: Window,
    mask: bool,
}

impl Summarizer {
    /// A summarizer for `opts`.
    #[must_use]
    pub fn new(opts: &Options) -> Self {
        let now = opts.now.unwrap_or_else(|| chrono::Utc::now().timestamp());
        let threads = opts
            .threads
            .unwrap_or_else(|| {
                std::thread::available_parallelism()
                    .map_or(1, std::num::NonZero::get)
                    .min(8)
            })
            .max(1);
        Self {
            scanner: Arc::new(Scanner::new(Clock::local(now), opts.since, opts.until)),
            acc: Acc::default(),
            carried: Carried::default(),
            pending: Vec::new(),
            skipping: false,
            threads,
            window: Window {
                since: opts.since.map(rfc3339),
                until: opts.until.map(rfc3339),
            },
            mask: opts.mask_addresses,
        }
    }

    fn merge(&mut self, out: ChunkOut) {
        self.acc.merge(out.acc);
        self.carried
            .apply(out.fragments, out.started, &mut self.acc);
    }

    /// A line longer than a chunk: counted as too long, dropped.
    fn too_long(&mut self) {
        self.acc.lines += 1;
        self.acc.skipped_too_long += 1;
        self.skipping = true;
    }

    /// Feeds bytes in any framing (partial lines are kept for the next call).
    pub fn feed(&mut self, mut bytes: &[u8]) {
        if self.skipping {
            match memchr::memchr(b'\n', bytes) {
                Some(i) => {
                    self.skipping = false;
                    bytes = &bytes[i + 1..];
                }
                None => return,
            }
        }
        self.pending.extend_from_slice(bytes);
        if self.pending.len() >= CHUNK {
            match memchr::memrchr(b'\n', &self.pending) {
                Some(i) => {
                    let out = self.scanner.chunk(&self.pending[..i]);
                    self.merge(out);
                    self.pending.drain(..=i);
                }
                None => {
                    self.pending.clear();
                    self.too_long();
                }
            }
        }
    }

    /// Ends one stream fed by [`Self::feed`]: its unfinished last line is counted, the next
    /// `feed` starts a new stream (e.g. the next container of a service).
    pub fn end_stream(&mut self) {
        if !self.pending.is_empty() {
            let out = self.scanner.chunk(&self.pending);
            self.merge(out);
            self.pending.clear();
        }
        self.skipping = false;
    }

    /// Reads `r` to its end, counting chunks on every worker thread.
    ///
    /// # Errors
    /// The reader's error (what was read before it is counted).
    pub fn read(&mut self, mut r: impl Read) -> std::io::Result<()> {
        self.end_stream();
        // A log smaller than a chunk is counted at once, on this thread.
        let mut first = Vec::new();
        (&mut r).take(CHUNK as u64).read_to_end(&mut first)?;
        if first.len() < CHUNK {
            self.feed(&first);
            self.end_stream();
            return Ok(());
        }
        self.read_chunks(std::io::Cursor::new(first).chain(r))
    }

    /// [`Self::read`] of a plain file: every worker thread reads its own chunks of it with
    /// positioned reads (no copy through one reader thread), merged in log order. The file is
    /// read up to the length it had when this started.
    ///
    /// # Errors
    /// The file's error (what was read before it is counted).
    pub fn read_file(&mut self, f: &std::fs::File) -> std::io::Result<()> {
        self.end_stream();
        let len = f.metadata()?.len();
        let span = CHUNK as u64;
        if self.threads <= 1 || len < 2 * span {
            return self.read(f);
        }
        let (count, threads) = (len.div_ceil(span), self.threads);
        let in_flight = 4 * threads as u64;
        let scanner = Arc::clone(&self.scanner);
        std::thread::scope(|scope| {
            let (job_tx, job_rx) = mpsc::sync_channel::<u64>(4 * threads);
            let job_rx = Arc::new(Mutex::new(job_rx));
            let (res_tx, res_rx) = mpsc::channel::<(u64, std::io::Result<ChunkOut>)>();
            for _ in 0..threads {
                let (job_rx, res_tx, scanner) =
                    (Arc::clone(&job_rx), res_tx.clone(), Arc::clone(&scanner));
                scope.spawn(move || {
                    let mut buf = vec![0u8; CHUNK + 1 + MAX_LINE + 1];
                    loop {
                        let job = job_rx
                            .lock()
                            .map_err(|_| ())
                            .and_then(|rx| rx.recv().map_err(|_| ()));
                        let Ok(i) = job else { break };
                        let out = read_span(f, i * span, span, len, &mut buf).map(|lines| {
                            lines.map_or_else(ChunkOut::default, |l| scanner.chunk(l))
                        });
                        if res_tx.send((i, out)).is_err() {
                            break;
                        }
                    }
                });
            }
            drop(res_tx);
            let mut pending: BTreeMap<u64, ChunkOut> = BTreeMap::new();
            let (mut sent, mut merged) = (0u64, 0u64);
            let mut result = Ok(());
            loop {
                while result.is_ok()
                    && sent < count
                    && sent - merged < in_flight
                    && job_tx.send(sent).is_ok()
                {
                    sent += 1;
                }
                if merged == sent {
                    break;
                }
                let Ok((i, out)) = res_rx.recv() else { break };
                let out = out.unwrap_or_else(|e| {
                    if result.is_ok() {
                        result = Err(e);
                    }
                    ChunkOut::default()
                });
                pending.insert(i, out);
                while let Some(out) = pending.remove(&merged) {
                    self.merge(out);
                    merged += 1;
                }
            }
            drop(job_tx);
            result
        })
    }

    /// [`Self::read`] of a log of a chunk or more.
    fn read_chunks(&mut self, mut r: impl Read) -> std::io::Result<()> {
        if self.threads <= 1 {
            let mut buf = vec![0u8; CHUNK];
            let mut carry = 0;
            loop {
                let (filled, eof) = fill(&mut r, &mut buf, carry)?;
                carry = self.cut(&mut buf, filled, eof, |s, data| {
                    let out = s.scanner.chunk(data);
                    s.merge(out);
                });
                if eof {
                    return Ok(());
                }
            }
        }
        let threads = self.threads;
        let scanner = Arc::clone(&self.scanner);
        std::thread::scope(|scope| {
            let (job_tx, job_rx) = mpsc::sync_channel::<(u64, Vec<u8>, usize)>(threads);
            let job_rx = Arc::new(Mutex::new(job_rx));
            let (res_tx, res_rx) = mpsc::channel::<(u64, ChunkOut, Vec<u8>)>();
            for _ in 0..threads {
                let (job_rx, res_tx, scanner) =
                    (Arc::clone(&job_rx), res_tx.clone(), Arc::clone(&scanner));
                scope.spawn(move || loop {
                    let job = job_rx
                        .lock()
                        .map_err(|_| ())
                        .and_then(|rx| rx.recv().map_err(|_| ()));
                    let Ok((i, buf, len)) = job else { break };
                    let out = scanner.chunk(&buf[..len]);
                    if res_tx.send((i, out, buf)).is_err() {
                        break;
                    }
                });
            }
            drop(res_tx);
            let mut pending: BTreeMap<u64, ChunkOut> = BTreeMap::new();
            let (mut sent, mut merged) = (0u64, 0u64);
            let mut free: Vec<Vec<u8>> = Vec::new();
            let mut next = vec![0u8; CHUNK];
            let mut carry = 0;
            let mut result = Ok(());
            let receive = |s: &mut Self,
                           pending: &mut BTreeMap<u64, ChunkOut>,
                           free: &mut Vec<Vec<u8>>,
                           merged: &mut u64| {
                if let Ok((i, out, buf)) = res_rx.recv() {
                    pending.insert(i, out);
                    free.push(buf);
                }
                while let Some(out) = pending.remove(merged) {
                    s.merge(out);
                    *merged += 1;
                }
            };
            loop {
                let (filled, eof) = match fill(&mut r, &mut next, carry) {
                    Ok(v) => v,
                    Err(e) => {
                        result = Err(e);
                        (carry, true)
                    }
                };
                let mut buf =
                    std::mem::replace(&mut next, free.pop().unwrap_or_else(|| vec![0u8; CHUNK]));
                let mut job = None;
                carry = self.cut_into(&mut buf, filled, eof, &mut next, &mut job);
                if let Some(len) = job {
                    while sent - merged >= 2 * threads as u64 {
                        receive(self, &mut pending, &mut free, &mut merged);
                    }
                    if job_tx.send((sent, buf, len)).is_err() {
                        break;
                    }
                    sent += 1;
                } else {
                    free.push(buf);
                }
                if eof {
                    break;
                }
            }
            drop(job_tx);
            while merged < sent {
                receive(self, &mut pending, &mut free, &mut merged);
            }
            result
        })
    }

    /// Splits `buf[..filled]` at its last line end: the whole lines go to `work`, the rest
    /// moves to the start of `buf`; returns the length moved.
    fn cut(
        &mut self,
        buf: &mut [u8],
        filled: usize,
        eof: bool,
        work: impl FnOnce(&mut Self, &[u8]),
    ) -> usize {
        let (data_start, filled) = self.skip_long(buf, filled);
        let data = &buf[data_start..filled];
        let end = if eof {
            Some(data.len())
        } else {
            memchr::memrchr(b'\n', data).map(|i| i + 1)
        };
        match end {
            Some(end) => {
                if end > 0 {
                    work(self, &data[..end]);
                }
                let rest = filled - (data_start + end);
                buf.copy_within(data_start + end..filled, 0);
                rest
            }
            None => {
                if filled - data_start >= buf.len() {
                    self.too_long();
                    0
                } else {
                    buf.copy_within(data_start..filled, 0);
                    filled - data_start
                }
            }
        }
    }

    /// As [`Self::cut`], the rest copied to the start of `next` and the whole lines left at
    /// the start of `buf` (their length in `job`).
    fn cut_into(
        &mut self,
        buf: &mut [u8],
        filled: usize,
        eof: bool,
        next: &mut [u8],
        job: &mut Option<usize>,
    ) -> usize {
        let (data_start, filled) = self.skip_long(buf, filled);
        let data_len = filled - data_start;
        let end = if eof {
            Some(data_len)
        } else {
            memchr::memrchr(b'\n', &buf[data_start..filled]).map(|i| i + 1)
        };
        match end {
            Some(end) => {
                let rest = data_len - end;
                next[..rest].copy_from_slice(&buf[data_start + end..filled]);
                if end > 0 {
                    if data_start > 0 {
                        buf.copy_within(data_start..data_start + end, 0);
                    }
                    *job = Some(end);
                }
                rest
            }
            None if data_len >= buf.len() => {
                self.too_long();
                0
            }
            None => {
                next[..data_len].copy_from_slice(&buf[data_start..filled]);
                data_len
            }
        }
    }

    /// While inside a too-long line: where its end is in `buf` (and whether the line goes on).
    fn skip_long(&mut self, buf: &[u8], filled: usize) -> (usize, usize) {
        if !self.skipping {
            return (0, filled);
        }
        match memchr::memchr(b'\n', &buf[..filled]) {
            Some(i) => {
                self.skipping = false;
                (i + 1, filled)
            }
            None => (filled, filled),
        }
    }

    /// The summary of everything fed.
    #[must_use]
    pub fn finish(mut self) -> Summary {
        self.end_stream();
        let mut acc = std::mem::take(&mut self.acc);
        self.carried.finish(&mut acc);
        acc.summary(self.window, self.mask)
    }
}

/// The lines of file `f` (`len` bytes long) that start in `[off, off + span)`, read into
/// `buf` (of `span + MAX_LINE + 2` bytes): from the first line start at or after `off` to the
/// end of the last line, which may run past `off + span` (read to its end, or cut after
/// [`MAX_LINE`] + 1 bytes: counted too long either way). `None` when no line starts there.
fn read_span<'b>(
    f: &std::fs::File,
    off: u64,
    span: u64,
    len: u64,
    buf: &'b mut [u8],
) -> std::io::Result<Option<&'b [u8]>> {
    // From the byte before `off`: a `\n` there makes `off` a line start.
    let from = off.saturating_sub(1);
    let to = off.saturating_add(span).min(len);
    let want = usize::try_from(to - from)
        .unwrap_or(usize::MAX)
        .min(buf.len());
    let mut filled = read_at_most(f, from, &mut buf[..want])?;
    let start = if off == 0 {
        0
    } else {
        match memchr::memchr(b'\n', &buf[..filled]) {
            Some(i) => i + 1,
            None => return Ok(None),
        }
    };
    if filled == want && to < len && buf[filled - 1] != b'\n' {
        // The last line runs on past `to`.
        let last = memchr::memrchr(b'\n', &buf[start..filled]).map_or(start, |i| start + i + 1);
        let limit = (last + MAX_LINE + 1).min(buf.len());
        while filled < limit {
            let step = (limit - filled).min(1 << 16);
            let n = read_at_most(f, from + filled as u64, &mut buf[filled..filled + step])?;
            if let Some(i) = memchr::memchr(b'\n', &buf[filled..filled + n]) {
                filled += i + 1;
                break;
            }
            filled += n;
            if n < step {
                break;
            }
        }
    }
    Ok(Some(&buf[start..filled]))
}

/// Reads `buf.len()` bytes of `f` at `at`, fewer at its end: the bytes read.
fn read_at_most(f: &std::fs::File, at: u64, buf: &mut [u8]) -> std::io::Result<usize> {
    use std::os::unix::fs::FileExt;
    let mut filled = 0;
    while filled < buf.len() {
        match f.read_at(&mut buf[filled..], at + filled as u64) {
            Ok(0) => break,
            Ok(n) => filled += n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(filled)
}

/// Fills `buf` after its first `carry` bytes until full or the end of `r`: (bytes in
/// `buf`, end reached).
fn fill(r: &mut impl Read, buf: &mut [u8], carry: usize) -> std::io::Result<(usize, bool)> {
    let mut filled = carry;
    while filled < buf.len() {
        match r.read(&mut buf[filled..]) {
            Ok(0) => return Ok((filled, true)),
            Ok(n) => filled += n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok((filled, false))
}

/// Opens a log file, decompressing gzip (rotated `.gz` files, told by their magic bytes,
/// several members read as one); `-` is standard input.
///
/// # Errors
/// [`Error::Io`] naming the file.
pub fn open(path: &Path) -> Result<Opened, Error> {
    if path == Path::new("-") {
        return Ok(Opened::Stream(Box::new(std::io::stdin())));
    }
    let io = |source| Error::Io {
        path: path.to_path_buf(),
        source,
    };
    let mut f = std::fs::File::open(path).map_err(io)?;
    let mut magic = [0u8; 2];
    let n = f.read(&mut magic).map_err(io)?;
    std::io::Seek::rewind(&mut f).map_err(io)?;
    if n == 2 && magic == [0x1f, 0x8b] {
        Ok(Opened::Stream(Box::new(flate2::read::MultiGzDecoder::new(
            std::io::BufReader::with_capacity(1 << 16, f),
        ))))
    } else if f.metadata().map_err(io)?.is_file() {
        Ok(Opened::File(f))
    } else {
        Ok(Opened::Stream(Box::new(f)))
    }
}

/// An opened log: a plain file (read in parallel by position) or a stream (standard input, a
/// pipe, a decompressed `.gz` file).
pub enum Opened {
    /// A regular file, not compressed.
    File(std::fs::File),
    /// Anything read from start to end.
    Stream(Box<dyn Read + Send>),
}

impl Opened {
    /// As one reader.
    #[must_use]
    pub fn into_reader(self) -> Box<dyn Read + Send> {
        match self {
            Self::File(f) => Box::new(f),
            Self::Stream(r) => r,
        }
    }
}

/// Summarises files in the given order as one log (`-` is standard input; none: standard
/// input).
///
/// # Errors
/// [`Error::Io`]: a file could not be opened or read.
pub fn summarize_paths<P: AsRef<Path>>(paths: &[P], opts: &Options) -> Result<Summary, Error> {
    let mut s = Summarizer::new(opts);
    let stdin = [PathBuf::from("-")];
    let list: Vec<&Path> = if paths.is_empty() {
        stdin.iter().map(PathBuf::as_path).collect()
    } else {
        paths.iter().map(AsRef::as_ref).collect()
    };
    for p in list {
        let io = |source| Error::Io {
            path: p.to_path_buf(),
            source,
        };
        match open(p)? {
            Opened::File(f) => s.read_file(&f).map_err(io)?,
            Opened::Stream(r) => s.read(r).map_err(io)?,
        }
    }
    Ok(s.finish())
}

/// Summarises a reader.
///
/// # Errors
/// The reader's error.
pub fn summarize_reader(r: impl Read, opts: &Options) -> std::io::Result<Summary> {
    let mut s = Summarizer::new(opts);
    s.read(r)?;
    Ok(s.finish())
}

/// Bytes of a container's log read at most.
pub const DOCKER_MAX_BYTES: usize = 1 << 30;

/// Feeds the logs of every container of compose service `service` of `project` (newest
/// container first, lines since `opts.since`, with the engine's timestamps) into `s`;
/// returns the containers read.
///
/// # Errors
/// The engine's error.
pub async fn feed_docker(
    docker: &bollard::Docker,
    project: &str,
    service: &str,
    opts: &Options,
    s: &mut Summarizer,
) -> Result<Vec<String>, bollard::errors::Error> {
    let ids = crate::docker::service_containers(docker, project, service).await?;
    let window = crate::docker::LogWindow {
        tail: None,
        since: opts.since,
        timestamps: true,
        max_bytes: DOCKER_MAX_BYTES,
    };
    for id in ids.iter().rev() {
        crate::docker::stream_log(docker, id, &window, |b| s.feed(b)).await?;
        s.end_stream();
    }
    Ok(ids
        .into_iter()
        .map(|i| i.chars().take(12).collect())
        .collect())
}

/// Summarises the Docker logs of compose service `service` of the configured project
/// (`mssante-diag logs summarize --docker SERVICE`).
///
/// # Errors
/// [`Error::Io`] naming `docker:SERVICE`: Docker unusable, or no container for the service.
pub async fn summarize_docker(
    config: &crate::Config,
    service: &str,
    opts: &Options,
) -> Result<Summary, Error> {
    let what = PathBuf::from(format!("docker:{service}"));
    let fail = |msg: String| Error::Io {
        path: what.clone(),
        source: std::io::Error::other(msg),
    };
    let d = &config.docker;
    let engine = crate::docker::connect(
        &d.host,
        Some(true),
        &config.project_dir,
        config.timeout(),
        config.lang,
    )
    .await
    .map_err(|e| fail(e.describe(config.lang)))?;
    let mut s = Summarizer::new(opts);
    let ids = feed_docker(&engine.docker, &d.project, service, opts, &mut s)
        .await
        .map_err(|e| fail(engine.explain(&e).describe(config.lang)))?;
    if ids.is_empty() {
        return Err(fail(format!(
            "no container for service `{service}` of compose project `{}`",
            d.project
        )));
    }
    Ok(s.finish())
}
