//! Tag-value lists (RFC 6376 3.2), the syntax of DKIM, DMARC, MTA-STS and TLS-RPT records:
//! `v=DMARC1; p=reject; rua=mailto:...`.

/// The tags of a record, names lower-cased, values trimmed; `None` for a malformed list
/// (a part without `=`, an empty or non-alphanumeric name, a tag given twice).
#[must_use]
pub fn parse(record: &str) -> Option<Vec<(String, String)>> {
    let mut out: Vec<(String, String)> = Vec::new();
    for part in record.split(';') {
        let part = part.trim();
        if part.is_empty() {
            continue;
        }
        let (name, value) = part.split_once('=')?;
        let name = name.trim().to_ascii_lowercase();
        if name.is_empty() || !name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_') || out.iter().any(|(n, _)| *n == name) {
            return None;
        }
        out.push((name, value.trim().to_owned()));
    }
    Some(out)
}

/// The value of tag `name`.
#[must_use]
pub fn get<'a>(tags: &'a [(String, String)], name: &str) -> Option<&'a str> {
    tags.iter().find(|(n, _)| n == name).map(|(_, v)| v.as_str())
}

/// Whether `record` starts with tag `v=<version>` (case-insensitive value).
#[must_use]
pub fn has_version(record: &str, version: &str) -> bool {
    let first = record.split(';').next().unwrap_or("");
    first.split_once('=').is_some_and(|(n, v)| n.trim().eq_ignore_ascii_case("v") && v.trim().eq_ignore_ascii_case(version))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tag_lists_parse_and_reject_duplicates() {
        let t = parse("v=DMARC1; p=reject ; rua=mailto:a@b.fr;").expect("valid");
        assert_eq!(get(&t, "p"), Some("reject"));
        assert!(parse("v=DMARC1; p=none; p=reject").is_none());
        assert!(parse("v=DMARC1; garbage").is_none());
        assert!(has_version("v=DMARC1; p=none", "dmarc1") && !has_version("p=none; v=DMARC1", "DMARC1"));
    }
}
