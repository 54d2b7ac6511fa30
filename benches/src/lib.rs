//! What the benchmarks share: the machine-readable result rows that `benches/run.sh` gathers
//! into `benches/README.md` (each bench prints them beside its human output), and the quick
//! mode (smaller inputs: `bash benches/run.sh --quick`).
//!
//! A row is one line on stdout: `RESULT`, then tab-separated bench, measure, ours, peer's name,
//! peer's result, ratio, target and verdict (`met`, `NOT met` or empty).

/// The first field of a result line.
pub const TAG: &str = "RESULT";

/// Whether the benchmarks run on smaller inputs (`MSSANTE_BENCH_QUICK=1`, set by
/// `run.sh --quick`): quicker, for trying the command; the committed table uses full sizes.
#[must_use]
pub fn quick() -> bool {
    std::env::var("MSSANTE_BENCH_QUICK").is_ok_and(|v| !v.is_empty() && v != "0")
}

/// One row of the benchmark table: a measure of ours beside the peer's, taken in the same run.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Row {
    /// The benchmark (its bin's name without `_bench`).
    pub bench: String,
    /// What is measured, with the input's size.
    pub measure: String,
    /// Our result, with its unit.
    pub ours: String,
    /// The peer tool (empty when none does the same work).
    pub peer: String,
    /// The peer's result, with its unit.
    pub peer_result: String,
    /// How ours compares (`12.3x faster`, `+4.1 ms`...).
    pub ratio: String,
    /// The target the issue or SPEC sets.
    pub target: String,
    /// Whether the target was met (`None`: no target).
    pub met: Option<bool>,
}

/// Tabs and line breaks would break the line format: spaces instead.
fn clean(s: &str) -> String {
    s.replace(['\t', '\n', '\r'], " ")
}

impl Row {
    /// A row with our result only.
    #[must_use]
    pub fn new(bench: &str, measure: &str, ours: impl Into<String>) -> Self {
        Self { bench: bench.into(), measure: measure.into(), ours: ours.into(), ..Self::default() }
    }

    /// The peer tool and its result.
    #[must_use]
    pub fn peer(mut self, name: &str, result: impl Into<String>) -> Self {
        self.peer = name.into();
        self.peer_result = result.into();
        self
    }

    /// How ours compares with the peer.
    #[must_use]
    pub fn ratio(mut self, text: impl Into<String>) -> Self {
        self.ratio = text.into();
        self
    }

    /// The target and whether it was met.
    #[must_use]
    pub fn target(mut self, text: impl Into<String>, met: bool) -> Self {
        self.target = text.into();
        self.met = Some(met);
        self
    }

    /// The result line (no line break).
    #[must_use]
    pub fn line(&self) -> String {
        let verdict = match self.met {
            Some(true) => "met",
            Some(false) => "NOT met",
            None => "",
        };
        [TAG, &self.bench, &self.measure, &self.ours, &self.peer, &self.peer_result, &self.ratio, &self.target, verdict]
            .iter()
            .map(|f| clean(f))
            .collect::<Vec<_>>()
            .join("\t")
    }

    /// Prints the result line on stdout.
    pub fn print(&self) {
        println!("{}", self.line());
    }

    /// The row of a result line; `None` for any other line.
    #[must_use]
    pub fn parse(line: &str) -> Option<Self> {
        let f: Vec<&str> = line.trim_end_matches(['\n', '\r']).split('\t').collect();
        if f.len() != 9 || f[0] != TAG {
            return None;
        }
        let met = match f[8] {
            "met" => Some(true),
            "NOT met" => Some(false),
            _ => None,
        };
        Some(Self {
            bench: f[1].into(),
            measure: f[2].into(),
            ours: f[3].into(),
            peer: f[4].into(),
            peer_result: f[5].into(),
            ratio: f[6].into(),
            target: f[7].into(),
            met,
        })
    }
}

/// A duration for the table: `412 ms` under 1 s, else `1.23 s`.
#[must_use]
pub fn secs(s: f64) -> String {
    if s < 1.0 {
        format!("{:.1} ms", s * 1000.0)
    } else {
        format!("{s:.2} s")
    }
}

/// How much faster ours is, from two durations (or two costs): `12.3x faster`, `0.80x (slower)`.
#[must_use]
pub fn faster(ours: f64, peer: f64) -> String {
    let r = peer / ours;
    if r >= 1.0 {
        format!("{r:.1}x faster")
    } else {
        format!("{r:.2}x (slower)")
    }
}

/// Mebibytes from kibibytes, for the table: `12.3 MiB`.
#[must_use]
#[allow(clippy::cast_precision_loss)]
pub fn mib(kib: u64) -> String {
    format!("{:.1} MiB", kib as f64 / 1024.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_row_survives_its_line() {
        let row = Row::new("quick", "hung\tstack", secs(2.05)).peer("quick-check.sh", secs(10.0)).ratio(faster(2.05, 10.0)).target("<= 2.2 s", true);
        let line = row.line();
        assert_eq!(line.split('\t').count(), 9);
        let back = Row::parse(&line).expect("a result line");
        assert_eq!(back.measure, "hung stack");
        assert_eq!(back.ratio, "4.9x faster");
        assert_eq!(back.met, Some(true));
        assert_eq!(Row::parse("hung endpoints (timeout 2 s):"), None);
    }
}
