//! Shared infrastructure: sizes and durations as a summary shows them (`11.6 KiB`, `3.5 h`).

use crate::Lang;

/// A size in binary units: `512 B`, `11.6 KiB`, `2.0 GiB` (French: `Kio`, `Mio`, `Gio`...).
#[must_use]
#[allow(clippy::cast_precision_loss)]
pub fn bytes(b: u64, lang: Lang) -> String {
    let units: [&str; 5] = match lang {
        Lang::En => ["B", "KiB", "MiB", "GiB", "TiB"],
        Lang::Fr => ["o", "Kio", "Mio", "Gio", "Tio"],
    };
    let mut v = b as f64;
    let mut unit = 0;
    while v >= 1024.0 && unit < units.len() - 1 {
        v /= 1024.0;
        unit += 1;
    }
    if unit == 0 {
        format!("{b} {}", units[0])
    } else {
        format!("{v:.1} {}", units[unit])
    }
}

/// A duration from seconds: `850 ms`, `5.1 s`, `12 min`, `3.5 h`, `4 d` (French: `4 j`).
#[must_use]
pub fn duration(s: f64, lang: Lang) -> String {
    if s < 1.0 {
        format!("{:.0} ms", s * 1000.0)
    } else if s < 120.0 {
        format!("{s:.1} s")
    } else if s < 7200.0 {
        format!("{:.0} min", s / 60.0)
    } else if s < 172_800.0 {
        format!("{:.1} h", s / 3600.0)
    } else {
        format!("{:.0} {}", s / 86400.0, lang.pick("d", "j"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shapes() {
        assert_eq!(bytes(512, Lang::En), "512 B");
        assert_eq!(bytes(11_900, Lang::En), "11.6 KiB");
        assert_eq!(bytes(2 << 30, Lang::Fr), "2.0 Gio");
        assert_eq!(duration(0.25, Lang::En), "250 ms");
        assert_eq!(duration(3.0 * 3600.0, Lang::En), "3.0 h");
        assert_eq!(duration(72.0 * 3600.0, Lang::Fr), "3 j");
    }
}
