//! Metric units as the monitoring formats want them: the quantity a unit measures and the
//! factor to its base unit (seconds, bytes, ratio), shared by the Nagios and Prometheus renderers.

/// What a metric's unit measures.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Quantity {
    /// A duration; base unit: seconds.
    Time,
    /// A size; base unit: bytes.
    Size,
    /// A percentage; base unit: ratio (0..1).
    Percent,
    /// A plain count or a unit with no base (bits, chars): the number as it is.
    Other,
}

/// The quantity of `unit` and the factor that turns a value in `unit` into its base unit
/// (`ms` -> (Time, 0.001), `%` -> (Percent, 0.01), `KiB` -> (Size, 1024)).
pub(super) fn quantity(unit: &str) -> (Quantity, f64) {
    match unit {
        "ns" => (Quantity::Time, 1e-9),
        "us" | "µs" => (Quantity::Time, 1e-6),
        "ms" => (Quantity::Time, 1e-3),
        "s" => (Quantity::Time, 1.0),
        "min" => (Quantity::Time, 60.0),
        "h" => (Quantity::Time, 3600.0),
        "d" => (Quantity::Time, 86_400.0),
        "B" => (Quantity::Size, 1.0),
        "bit" | "bits" => (Quantity::Size, 0.125),
        "KB" | "kB" => (Quantity::Size, 1e3),
        "MB" => (Quantity::Size, 1e6),
        "GB" => (Quantity::Size, 1e9),
        "TB" => (Quantity::Size, 1e12),
        "KiB" => (Quantity::Size, 1024.0),
        "MiB" => (Quantity::Size, 1_048_576.0),
        "GiB" => (Quantity::Size, 1_073_741_824.0),
        "TiB" => (Quantity::Size, 1_099_511_627_776.0),
        "%" => (Quantity::Percent, 0.01),
        _ => (Quantity::Other, 1.0),
    }
}

/// Words that name a unit inside a metric name (`days_left`, `memory_percent`): dropped when
/// the renderer appends the base unit itself, so a name never carries two units.
pub(super) const UNIT_WORDS: &[&str] = &[
    "ns",
    "us",
    "ms",
    "s",
    "sec",
    "secs",
    "second",
    "seconds",
    "milliseconds",
    "microseconds",
    "nanoseconds",
    "min",
    "mins",
    "minute",
    "minutes",
    "h",
    "hour",
    "hours",
    "d",
    "day",
    "days",
    "b",
    "bit",
    "bits",
    "byte",
    "bytes",
    "kb",
    "mb",
    "gb",
    "tb",
    "kib",
    "mib",
    "gib",
    "tib",
    "kilobytes",
    "megabytes",
    "gigabytes",
    "pct",
    "percent",
    "percentage",
    "ratio",
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn units_convert_to_their_base() {
        assert_eq!(quantity("ms"), (Quantity::Time, 1e-3));
        assert_eq!(quantity("d"), (Quantity::Time, 86_400.0));
        assert_eq!(quantity("KiB"), (Quantity::Size, 1024.0));
        assert_eq!(quantity("%"), (Quantity::Percent, 0.01));
        assert_eq!(quantity("chars"), (Quantity::Other, 1.0));
        assert_eq!(quantity(""), (Quantity::Other, 1.0));
    }
}
