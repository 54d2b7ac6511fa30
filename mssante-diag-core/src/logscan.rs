//! Error and warning lines in logs: counts and a few samples.
//!
//! Shared by every check that reads logs (container logs, the Postfix log).
//! One [`Matcher`] compiles the patterns once (ASCII case-insensitive
//! substrings, like `grep -i`) into a single Aho-Corasick automaton that runs
//! over the whole text, not line by line: only lines with a match are looked
//! at, so a clean log is scanned at memory speed. A line containing both an
//! error and a warning pattern counts as an error.
//!
//! ```
//! use mssante_diag_core::logscan::{Matcher, Tally};
//! let m = Matcher::new(&["error"], &["warn"]).unwrap();
//! let mut t = Tally::default();
//! m.scan(b"ok\nERROR: disk\nwarning: slow\n", &mut t);
//! assert_eq!((t.lines, t.errors, t.warnings), (3, 1, 1));
//! assert_eq!(t.error_samples, ["ERROR: disk"]);
//! ```

use std::collections::VecDeque;

use aho_corasick::{AhoCorasick, AhoCorasickBuilder, Input, MatchKind};
use serde::Serialize;

/// Error patterns used when none are configured (`grep -i`-style substrings).
pub const DEFAULT_ERROR_PATTERNS: &[&str] = &["error", "fatal", "panic", "critical"];
/// Warning patterns used when none are configured.
pub const DEFAULT_WARNING_PATTERNS: &[&str] = &["warn"];
/// Samples kept per level by default (the most recent ones).
pub const DEFAULT_SAMPLES: usize = 5;
/// Characters kept of a sampled line.
pub const SAMPLE_CHARS: usize = 240;
/// Bytes of one line kept across [`Stream::feed`] calls; the rest of a longer line is not matched.
pub const MAX_LINE: usize = 64 * 1024;

/// Severity of a matched line.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Level {
    /// Matched a warning pattern only.
    Warning,
    /// Matched an error pattern.
    Error,
}

/// Compiled error and warning patterns. Cheap to share (`Send + Sync`).
#[derive(Debug, Clone)]
pub struct Matcher {
    any: AhoCorasick,
    errors: AhoCorasick,
    /// Patterns below this index in `any` are errors.
    error_count: usize,
    samples: usize,
}

/// The patterns could not be compiled (empty pattern, or too large).
#[derive(Debug, thiserror::Error)]
#[error("invalid log patterns: {0}")]
pub struct PatternError(String);

impl Matcher {
    /// Compiles error and warning patterns (ASCII case-insensitive substrings).
    ///
    /// # Errors
    /// [`PatternError`] for an empty pattern (it would match every line) or an automaton too large.
    pub fn new<E: AsRef<str>, W: AsRef<str>>(
        errors: &[E],
        warnings: &[W],
    ) -> Result<Self, PatternError> {
        let errors: Vec<&str> = errors.iter().map(AsRef::as_ref).collect();
        let warnings: Vec<&str> = warnings.iter().map(AsRef::as_ref).collect();
        if errors.iter().chain(&warnings).any(|p| p.is_empty()) {
            return Err(PatternError(
                "a pattern is empty (it would match every line)".into(),
            ));
        }
        let build = |pats: &[&str]| {
            AhoCorasickBuilder::new()
                .ascii_case_insensitive(true)
                .match_kind(MatchKind::LeftmostFirst)
                .build(pats)
                .map_err(|e| PatternError(e.to_string()))
        };
        let all: Vec<&str> = errors.iter().chain(&warnings).copied().collect();
        Ok(Self {
            any: build(&all)?,
            errors: build(&errors)?,
            error_count: errors.len(),
            samples: DEFAULT_SAMPLES,
        })
    }

    /// The default patterns ([`DEFAULT_ERROR_PATTERNS`], [`DEFAULT_WARNING_PATTERNS`]).
    ///
    /// # Panics
    /// Never: the defaults compile.
    #[must_use]
    pub fn defaults() -> Self {
        Self::new(DEFAULT_ERROR_PATTERNS, DEFAULT_WARNING_PATTERNS)
            .expect("default patterns compile")
    }

    /// Keeps `n` samples per level instead of [`DEFAULT_SAMPLES`].
    #[must_use]
    pub fn with_samples(mut self, n: usize) -> Self {
        self.samples = n;
        self
    }

    /// The level of one line, if it matches.
    #[must_use]
    pub fn classify(&self, line: &[u8]) -> Option<Level> {
        let m = self.any.find(line)?;
        if m.pattern().as_usize() < self.error_count || self.errors.is_match(&line[m.end()..]) {
            Some(Level::Error)
        } else {
            Some(Level::Warning)
        }
    }

    /// Counts the lines of `text` and records its matching lines into `tally`.
    /// A last line without `\n` counts as a line.
    pub fn scan(&self, text: &[u8], tally: &mut Tally) {
        tally.lines += memchr::memchr_iter(b'\n', text).count() as u64;
        if !text.is_empty() && text[text.len() - 1] != b'\n' {
            tally.lines += 1;
        }
        let mut pos = 0;
        while pos < text.len() {
            let Some(m) = self.any.find(Input::new(text).span(pos..text.len())) else {
                break;
            };
            let start = memchr::memrchr(b'\n', &text[..m.start()]).map_or(0, |i| i + 1);
            let end = memchr::memchr(b'\n', &text[m.end()..]).map_or(text.len(), |i| m.end() + i);
            let level = if m.pattern().as_usize() < self.error_count
                || self.errors.is_match(&text[m.end()..end])
            {
                Level::Error
            } else {
                Level::Warning
            };
            tally.record(level, &text[start..end], self.samples);
            pos = end + 1;
        }
    }

    /// A streaming scan over chunks that may split lines anywhere.
    #[must_use]
    pub fn stream(&self) -> Stream<'_> {
        Stream {
            matcher: self,
            carry: Vec::new(),
            tally: Tally::default(),
        }
    }

    /// Scans everything a reader yields (read in 1 MiB blocks; call from a blocking thread).
    ///
    /// # Errors
    /// The reader's I/O error.
    pub fn scan_reader(&self, mut reader: impl std::io::Read) -> std::io::Result<Tally> {
        let mut buf = vec![0u8; 1 << 20];
        let mut s = self.stream();
        loop {
            match reader.read(&mut buf) {
                Ok(0) => return Ok(s.finish()),
                Ok(n) => s.feed(&buf[..n]),
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
    }
}

/// Counts and samples of a scan.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Tally {
    /// Lines read.
    pub lines: u64,
    /// Lines matching an error pattern.
    pub errors: u64,
    /// Lines matching a warning pattern (and no error pattern).
    pub warnings: u64,
    /// The last error lines (oldest first), trimmed to [`SAMPLE_CHARS`].
    pub error_samples: VecDeque<String>,
    /// The last warning lines (oldest first), trimmed to [`SAMPLE_CHARS`].
    pub warning_samples: VecDeque<String>,
}

impl Tally {
    fn record(&mut self, level: Level, line: &[u8], keep: usize) {
        let (count, samples) = match level {
            Level::Error => (&mut self.errors, &mut self.error_samples),
            Level::Warning => (&mut self.warnings, &mut self.warning_samples),
        };
        *count += 1;
        if keep == 0 {
            return;
        }
        if samples.len() == keep {
            samples.pop_front();
        }
        samples.push_back(sample(line));
    }

    /// Adds another tally's counts (samples of `other` come after this one's).
    pub fn merge(&mut self, other: Tally, keep: usize) {
        self.lines += other.lines;
        self.errors += other.errors;
        self.warnings += other.warnings;
        for (mine, theirs) in [
            (&mut self.error_samples, other.error_samples),
            (&mut self.warning_samples, other.warning_samples),
        ] {
            mine.extend(theirs);
            while mine.len() > keep {
                mine.pop_front();
            }
        }
    }
}

/// A printable sample of a line: lossy UTF-8, control characters dropped, at most [`SAMPLE_CHARS`].
#[must_use]
pub fn sample(line: &[u8]) -> String {
    let text = String::from_utf8_lossy(line);
    let mut out: String = text
        .trim()
        .chars()
        .filter(|c| !c.is_control())
        .take(SAMPLE_CHARS + 1)
        .collect();
    if out.chars().count() > SAMPLE_CHARS {
        out = out.chars().take(SAMPLE_CHARS - 1).collect();
        out.push('…');
    }
    out
}

/// A scan fed chunk by chunk ([`Matcher::stream`]).
#[derive(Debug)]
pub struct Stream<'m> {
    matcher: &'m Matcher,
    carry: Vec<u8>,
    tally: Tally,
}

impl Stream<'_> {
    /// Scans the complete lines of `chunk`, keeping an unfinished last line for the next call.
    pub fn feed(&mut self, mut chunk: &[u8]) {
        if !self.carry.is_empty() {
            let Some(nl) = memchr::memchr(b'\n', chunk) else {
                let room = MAX_LINE.saturating_sub(self.carry.len());
                self.carry
                    .extend_from_slice(&chunk[..chunk.len().min(room)]);
                return;
            };
            let room = MAX_LINE.saturating_sub(self.carry.len());
            self.carry.extend_from_slice(&chunk[..nl.min(room)]);
            self.carry.push(b'\n');
            let line = std::mem::take(&mut self.carry);
            self.matcher.scan(&line, &mut self.tally);
            chunk = &chunk[nl + 1..];
        }
        match memchr::memrchr(b'\n', chunk) {
            Some(last) => {
                self.matcher.scan(&chunk[..=last], &mut self.tally);
                let rest = &chunk[last + 1..];
                self.carry
                    .extend_from_slice(&rest[..rest.len().min(MAX_LINE)]);
            }
            None => self
                .carry
                .extend_from_slice(&chunk[..chunk.len().min(MAX_LINE)]),
        }
    }

    /// The counts so far, without the unfinished line.
    #[must_use]
    pub fn tally(&self) -> &Tally {
        &self.tally
    }

    /// Scans the unfinished last line and returns the counts.
    #[must_use]
    pub fn finish(mut self) -> Tally {
        if !self.carry.is_empty() {
            let line = std::mem::take(&mut self.carry);
            self.matcher.scan(&line, &mut self.tally);
        }
        self.tally
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_levels_and_priority() {
        let m = Matcher::defaults();
        let mut t = Tally::default();
        m.scan(
            b"start\nWARN slow\nwarning: then Error\nFatal: x\nno newline error",
            &mut t,
        );
        assert_eq!(t.lines, 5);
        assert_eq!(t.errors, 3);
        assert_eq!(t.warnings, 1);
        assert_eq!(t.warning_samples, ["WARN slow"]);
        assert_eq!(
            t.error_samples,
            ["warning: then Error", "Fatal: x", "no newline error"]
        );
        assert_eq!(m.classify(b"all fine"), None);
        assert_eq!(m.classify(b"a warn then an ERROR"), Some(Level::Error));
    }

    #[test]
    fn keeps_last_samples() {
        let m = Matcher::new(&["e"], &["w"]).unwrap().with_samples(2);
        let mut t = Tally::default();
        m.scan(b"e1\ne2\ne3\n", &mut t);
        assert_eq!(t.error_samples, ["e2", "e3"]);
    }

    #[test]
    fn stream_equals_whole_scan() {
        let m = Matcher::defaults();
        let text = b"one\nerr ERROR here\nwarn there\n\nlast error";
        let mut whole = Tally::default();
        m.scan(text, &mut whole);
        for split in 1..text.len() {
            let mut s = m.stream();
            s.feed(&text[..split]);
            s.feed(&text[split..]);
            assert_eq!(s.finish(), whole, "split at {split}");
        }
        let t = m.scan_reader(&text[..]).unwrap();
        assert_eq!(t, whole);
    }

    #[test]
    fn empty_pattern_rejected_and_samples_bounded() {
        assert!(Matcher::new(&[""], &["w"]).is_err());
        let long = format!("error {}\u{7}", "é".repeat(1000));
        let s = sample(long.as_bytes());
        assert_eq!(s.chars().count(), SAMPLE_CHARS);
        assert!(!s.contains('\u{7}'));
    }
}
