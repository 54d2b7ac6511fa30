//! `mssante.whitelist`: the espace de confiance list (`listeblanchemssante.xml`, a local copy or
//! a URL): the operator's domains are in it, the copy is fresh (`DateDeGeneration`), and the
//! domains of deferred mail (Postfix's queue) that are not in it are named.
//!
//! Format (ANS): `<ListeBlancheMSSante xmlns="https://listeblanche.mssante.fr/schema">` →
//! `<DateDeGeneration>` → `<ListeDomaines>` → `<Domaine>` with `<Nom>`,
//! `<DNCertificatOperateur>`, `<DateMAJ>`... A domain appears once per operator certificate DN.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::sync::Arc;

use serde::{Deserialize, Serialize};

use super::Settings;
use crate::checks::{Ctx, Outcome};
use crate::config::redact_url;
use crate::http::Failure;
use crate::lang::Lang;
use crate::model::{Metric, Status};
use crate::tr;

/// Most bytes of the list read (the official list is a few MB); a longer one is not judged.
pub const MAX_BYTES: usize = 32 << 20;
/// Domains of deferred mail named in the summary (all of them are in the details).
const SHOWN: usize = 5;
/// Most deferred domains kept in the details.
const KEPT: usize = 200;
/// Most bytes of a CA bundle read.
const CA_READ_LIMIT: u64 = 4 << 20;

#[derive(Deserialize)]
struct Doc {
    #[serde(rename = "DateDeGeneration", default)]
    date: Option<String>,
    #[serde(rename = "ListeDomaines", default)]
    list: Option<DomainList>,
}

#[derive(Deserialize, Default)]
struct DomainList {
    #[serde(rename = "Domaine", default)]
    domains: Vec<DomainEntry>,
}

#[derive(Deserialize)]
struct DomainEntry {
    #[serde(rename = "Nom", default)]
    name: Option<String>,
}

/// The list as read.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Whitelist {
    /// `DateDeGeneration` as written.
    pub generated: Option<String>,
    /// Distinct domain names, lower case, trailing dot removed.
    pub domains: BTreeSet<String>,
    /// `<Domaine>` entries (one per domain and operator certificate).
    pub entries: usize,
}

impl Whitelist {
    /// Whether `domain` is listed (case-insensitive).
    #[must_use]
    pub fn contains(&self, domain: &str) -> bool {
        self.domains.contains(&normalize(domain))
    }
}

fn normalize(domain: &str) -> String {
    domain.trim().trim_end_matches('.').to_ascii_lowercase()
}

/// Why a document is not the whitelist.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ParseError {
    /// Not UTF-8 text.
    NotText,
    /// No element at all (empty, or only a declaration).
    NoElement,
    /// Text before the first element.
    TextOutside,
    /// The XML parser's reason (its own words).
    Malformed(String),
    /// Another document (`<html>`...): its root element.
    WrongRoot(String),
    /// The root element holds neither a generation date nor a domain list.
    Empty,
    /// A `<!DOCTYPE>` declaration or a processing instruction inside the root element (the
    /// list has none; the XML deserializer does not read text around them).
    Declaration,
}

impl ParseError {
    /// In a few words.
    #[must_use]
    pub fn describe(&self, lang: Lang) -> String {
        match self {
            Self::NotText => tr!(lang, "not UTF-8 text", "pas du texte UTF-8"),
            Self::NoElement => tr!(lang, "no XML element", "aucun élément XML"),
            Self::TextOutside => tr!(lang, "text outside any XML element", "du texte hors de tout élément XML"),
            Self::Malformed(e) => tr!(lang, "malformed XML: {e}", "XML mal formé : {e}"),
            Self::WrongRoot(r) => tr!(lang, "root element <{r}>, not <ListeBlancheMSSante>", "élément racine <{r}>, pas <ListeBlancheMSSante>"),
            Self::Empty => tr!(lang, "no <DateDeGeneration> and no <ListeDomaines>", "ni <DateDeGeneration> ni <ListeDomaines>"),
            Self::Declaration => tr!(
                lang,
                "a <!DOCTYPE> declaration or a processing instruction, which the list never has",
                "une déclaration <!DOCTYPE> ou une instruction de traitement, que la liste n'a jamais"
            ),
        }
    }
}

/// Parses `listeblanchemssante.xml`.
///
/// # Errors
/// [`ParseError`]: not XML, another root element, neither a generation date nor a domain list.
pub fn parse(bytes: &[u8]) -> Result<Whitelist, ParseError> {
    let text = std::str::from_utf8(bytes).map_err(|_| ParseError::NotText)?;
    let root = root_element(text)?;
    if root != "ListeBlancheMSSante" {
        return Err(ParseError::WrongRoot(root));
    }
    let doc: Doc = quick_xml::de::from_str(text).map_err(|e| ParseError::Malformed(e.to_string()))?;
    if doc.date.is_none() && doc.list.is_none() {
        return Err(ParseError::Empty);
    }
    let entries = doc.list.unwrap_or_default().domains;
    let count = entries.len();
    let domains = entries.into_iter().filter_map(|d| d.name).map(|n| normalize(&n)).filter(|n| !n.is_empty()).collect();
    Ok(Whitelist { generated: doc.date.map(|d| d.trim().to_owned()), domains, entries: count })
}

/// Parses `data` as the trust space list, reads its date and compares it with a few deferred
/// domains (the `whitelist` fuzz target). Never panics.
#[doc(hidden)]
pub fn exercise(data: &[u8]) {
    let Ok(list) = parse(data) else { return };
    let _ = list.generated.as_deref().map(parse_date);
    let _ = list.contains("MSSante.Example.FR.");
    let deferred: BTreeMap<String, u64> = [("hopital.mssante.fr".to_owned(), 3), (String::new(), 1)].into_iter().collect();
    let _ = compare_deferred(&list, &deferred);
}

/// The local name of the first element, after reading the whole document once: a `<!DOCTYPE>`
/// anywhere or a processing instruction inside the root is refused before the deserializer
/// sees it (quick-xml 0.37's deserializer panics on text split by one: found by the
/// `whitelist` fuzz target).
fn root_element(text: &str) -> Result<String, ParseError> {
    use quick_xml::events::Event;
    let mut reader = quick_xml::Reader::from_str(text);
    let mut root = None;
    loop {
        match reader.read_event() {
            Ok(Event::Start(e) | Event::Empty(e)) if root.is_none() => root = Some(String::from_utf8_lossy(e.local_name().as_ref()).chars().take(64).collect()),
            Ok(Event::Eof) => return root.ok_or(ParseError::NoElement),
            Ok(Event::Text(t)) if root.is_none() && !t.iter().all(u8::is_ascii_whitespace) => return Err(ParseError::TextOutside),
            Ok(Event::DocType(_)) => return Err(ParseError::Declaration),
            Ok(Event::PI(_)) if root.is_some() => return Err(ParseError::Declaration),
            Ok(_) => {}
            // Past the root's start, the deserializer gives the reason in its own words.
            Err(_) if root.is_some() => return root.ok_or(ParseError::NoElement),
            Err(e) => return Err(ParseError::Malformed(e.to_string())),
        }
    }
}

/// A generation date as the list may write it (RFC 3339, ISO without zone, `dd/mm/yyyy`...),
/// in UTC (a date without a zone is taken as Paris time, roughly: UTC+1).
#[must_use]
pub fn parse_date(text: &str) -> Option<chrono::DateTime<chrono::Utc>> {
    use chrono::{NaiveDate, NaiveDateTime, TimeZone, Utc};
    let t = text.trim();
    if let Ok(d) = chrono::DateTime::parse_from_rfc3339(t) {
        return Some(d.with_timezone(&Utc));
    }
    let paris = chrono::FixedOffset::east_opt(3600)?;
    for f in ["%Y-%m-%dT%H:%M:%S%.f", "%Y-%m-%d %H:%M:%S%.f", "%d/%m/%Y %H:%M:%S", "%d/%m/%Y %H:%M", "%Y%m%d%H%M%S"] {
        if let Ok(n) = NaiveDateTime::parse_from_str(t, f) {
            return paris.from_local_datetime(&n).single().map(|d| d.with_timezone(&Utc));
        }
    }
    for f in ["%Y-%m-%d", "%d/%m/%Y"] {
        if let Ok(d) = NaiveDate::parse_from_str(t, f) {
            return paris.from_local_datetime(&d.and_hms_opt(0, 0, 0)?).single().map(|d| d.with_timezone(&Utc));
        }
    }
    Utc.timestamp_opt(t.parse().ok()?, 0).single()
}

/// A deferred domain and its waiting recipients.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct DeferredDomain {
    /// The domain.
    pub domain: String,
    /// Deferred recipients in it.
    pub recipients: u64,
}

/// What the queue says about the trust space.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "state", rename_all = "snake_case")]
pub enum Deferred {
    /// Not asked (`[mssante] deferred = false`).
    NotChecked,
    /// The queue could not be read.
    Unreadable {
        /// Why, in a few words.
        cause: String,
    },
    /// Read.
    Read {
        /// Distinct domains of deferred recipients.
        domains: usize,
        /// Those not in the list, most recipients first (at most 200).
        not_listed: Vec<DeferredDomain>,
        /// Domains not in the list, all of them.
        not_listed_total: usize,
    },
}

/// An operator domain and whether it is listed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct OperatorDomain {
    /// The domain.
    pub domain: String,
    /// In the list.
    pub listed: bool,
}

/// What `mssante.whitelist` gathers.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct WhitelistFacts {
    /// Where the list was read (URL credentials redacted, or the file).
    pub source: String,
    /// `DateDeGeneration` as written.
    pub generated: Option<String>,
    /// Its age, days (none when missing or not understood).
    pub age_days: Option<f64>,
    /// Distinct domains listed.
    pub listed_domains: usize,
    /// `<Domaine>` entries.
    pub entries: usize,
    /// The operator's domains.
    pub operator_domains: Vec<OperatorDomain>,
    /// Deferred mail's domains.
    pub deferred: Deferred,
}

/// Judges the facts: an operator domain missing from the list is critical; an old or undated
/// copy or deferred mail to domains outside the trust space warn; no domain to look for, or a
/// queue that could not be read, is unknown.
#[must_use]
pub fn evaluate_whitelist(f: &WhitelistFacts, max_age_days: f64, lang: Lang) -> Outcome {
    let mut status = Status::Ok;
    let mut parts = Vec::new();
    let missing: Vec<&str> = f.operator_domains.iter().filter(|d| !d.listed).map(|d| d.domain.as_str()).collect();
    let n = f.listed_domains;
    if f.operator_domains.is_empty() {
        status = status.worst(Status::Unknown);
        parts.push(tr!(lang, "no operator domain to look for (set DOMAIN in .env or [mssante] domains)", "aucun domaine d'opérateur à chercher (définir DOMAIN dans .env ou [mssante] domains)"));
    } else if !missing.is_empty() {
        status = Status::Critical;
        let list = missing.join(", ");
        parts.push(tr!(lang, "not in the espace de confiance list: {list}", "absent(s) de la liste de l'espace de confiance : {list}"));
    } else {
        let list = f.operator_domains.iter().map(|d| d.domain.as_str()).collect::<Vec<_>>().join(", ");
        parts.push(tr!(lang, "{list} listed among {n} domains", "{list} présent(s) parmi {n} domaines"));
    }
    match (f.age_days, &f.generated) {
        (Some(age), _) if age > max_age_days => {
            status = status.worst(Status::Warning);
            let (d, max) = (age.floor(), max_age_days);
            parts.push(tr!(lang, "copy generated {d} days ago (more than {max})", "copie générée il y a {d} jours (plus de {max})"));
        }
        (Some(_), Some(g)) => parts.push(tr!(lang, "generated {g}", "générée le {g}")),
        (None, Some(g)) => {
            status = status.worst(Status::Warning);
            parts.push(tr!(lang, "generation date not understood: {g}", "date de génération incomprise : {g}"));
        }
        (_, None) => {
            status = status.worst(Status::Warning);
            parts.push(tr!(lang, "no generation date", "aucune date de génération"));
        }
    }
    match &f.deferred {
        Deferred::NotChecked => {}
        Deferred::Unreadable { cause } => {
            // The tool could not look (postqueue refused this user, Postfix down): not a
            // finding about the list (postfix.queue judges the queue itself).
            status = status.worst(Status::Unknown);
            parts.push(tr!(lang, "deferred mail not checked: {cause}", "courrier différé non vérifié : {cause}"));
        }
        Deferred::Read { not_listed, not_listed_total, .. } if *not_listed_total > 0 => {
            status = status.worst(Status::Warning);
            let shown = not_listed.iter().take(SHOWN).map(|d| format!("{} ({})", d.domain, d.recipients)).collect::<Vec<_>>().join(", ");
            let more = not_listed_total.saturating_sub(SHOWN);
            let more = if more > 0 { tr!(lang, " and {more} more", " et {more} autre(s)") } else { String::new() };
            parts.push(tr!(
                lang,
                "deferred mail to domains outside the trust space: {shown}{more}",
                "courrier différé vers des domaines hors de l'espace de confiance : {shown}{more}"
            ));
        }
        Deferred::Read { domains, .. } => {
            parts.push(tr!(lang, "{domains} deferred domain(s), all listed", "{domains} domaine(s) en attente, tous présents"));
        }
    }
    #[allow(clippy::cast_precision_loss)]
    let mut o = Outcome::new(status, parts.join(lang.pick("; ", " ; "))).metric(Metric::new("operator_domains_missing", missing.len() as f64, "").thresholds(1.0, 1.0));
    if let Some(age) = f.age_days {
        o = o.metric(Metric::new("whitelist_age", age * 86_400.0, "s").thresholds(max_age_days * 86_400.0, f64::INFINITY));
    }
    if let Deferred::Read { not_listed_total, .. } = &f.deferred {
        #[allow(clippy::cast_precision_loss)]
        let m = Metric::new("deferred_domains_not_listed", *not_listed_total as f64, "").thresholds(1.0, f64::INFINITY);
        o = o.metric(m);
    }
    o.details(f)
}

/// Domains of deferred (and held) recipients, with their counts.
#[must_use]
pub fn deferred_domains(messages: &[crate::mailqueue::QueuedMessage]) -> BTreeMap<String, u64> {
    let mut out = BTreeMap::new();
    for m in messages.iter().filter(|m| matches!(m.queue.as_str(), "deferred" | "hold")) {
        for (address, _) in &m.recipients {
            if let Some((_, d)) = address.rsplit_once('@') {
                *out.entry(normalize(d)).or_default() += 1;
            }
        }
    }
    out
}

/// The deferred domains against the list.
#[must_use]
pub fn compare_deferred(list: &Whitelist, domains: &BTreeMap<String, u64>) -> Deferred {
    let mut not_listed: Vec<DeferredDomain> =
        domains.iter().filter(|(d, _)| !list.contains(d)).map(|(d, n)| DeferredDomain { domain: d.clone(), recipients: *n }).collect();
    not_listed.sort_by(|a, b| b.recipients.cmp(&a.recipients).then_with(|| a.domain.cmp(&b.domain)));
    let total = not_listed.len();
    not_listed.truncate(KEPT);
    Deferred::Read { domains: domains.len(), not_listed, not_listed_total: total }
}

/// Why the list could not be read.
#[derive(Debug)]
pub enum ReadError {
    /// The fetch did not end in time (the step that hung).
    Hung(crate::probe::Hung),
    /// Anything else, in a few words.
    Other(String),
}

/// Reads the list from a URL (through the run's proxy rules, trusting `ca_bundle` besides the
/// built-in roots) or a file (relative to `project_dir`), at most [`MAX_BYTES`].
///
/// # Errors
/// [`ReadError`]: the fetch failed, answered non-2xx, hung, or the list is larger than the cap.
pub async fn read_source(s: &Settings, project_dir: &Path, proxies: &crate::proxy::Proxies, timeout: std::time::Duration, lang: Lang) -> Result<Vec<u8>, ReadError> {
    let other = ReadError::Other;
    let too_large = || other(tr!(lang, "larger than {} MiB: not read whole", "plus de {} Mio : non lue en entier", MAX_BYTES >> 20));
    if s.whitelist.contains("://") {
        let mut builder = crate::http::client_builder(timeout, proxies).redirect(reqwest::redirect::Policy::limited(5));
        if let Some(p) = &s.ca_bundle {
            let path = project_dir.join(p);
            let read = tokio::task::spawn_blocking(move || crate::http::add_ca_bundle(builder, &path, CA_READ_LIMIT));
            builder = match tokio::time::timeout(timeout, read).await {
                Ok(Ok(r)) => r.map_err(other)?,
                Ok(Err(join)) => return Err(other(join.to_string())),
                Err(_) => return Err(other(tr!(lang, "CA bundle not read in time", "bundle d'AC non lu à temps"))),
            };
        }
        let client = builder.build().map_err(|e| other(crate::http::root_cause(&e)))?;
        let got = match crate::http::get_bounded(&client, &s.whitelist, timeout, MAX_BYTES).await {
            Ok(g) => g,
            Err(Failure::NoAnswer(h)) => return Err(ReadError::Hung(h)),
            Err(Failure::Transport(e)) => return Err(other(crate::http::transport_cause(lang, &e))),
        };
        if !got.status.is_success() {
            let code = got.status.as_u16();
            return Err(other(tr!(lang, "HTTP {code}", "HTTP {code}")));
        }
        if got.truncated {
            return Err(too_large());
        }
        return Ok(got.body);
    }
    let path = project_dir.join(&s.whitelist);
    let read = tokio::task::spawn_blocking(move || {
        use std::io::Read;
        let mut bytes = Vec::new();
        std::fs::File::open(&path).and_then(|f| f.take(MAX_BYTES as u64 + 1).read_to_end(&mut bytes)).map(|_| bytes)
    });
    match tokio::time::timeout(timeout, read).await {
        Ok(Ok(Ok(b))) if b.len() > MAX_BYTES => Err(too_large()),
        Ok(Ok(Ok(b))) => Ok(b),
        Ok(Ok(Err(e))) => Err(other(crate::probe::io_cause(lang, &e))),
        Ok(Err(join)) => Err(other(join.to_string())),
        Err(_) => Err(ReadError::Hung(crate::probe::Hung { step: crate::probe::Phase::Body, timeout_secs: timeout.as_secs_f64() })),
    }
}

/// Where the list comes from, as shown.
fn shown_source(s: &Settings) -> String {
    if s.whitelist.contains("://") {
        redact_url(&s.whitelist)
    } else {
        s.whitelist.clone()
    }
}

/// The facts of a list read at `now` (Unix seconds) against the operator's domains and the
/// deferred domains.
#[must_use]
pub fn facts(s: &Settings, list: &Whitelist, deferred: Deferred, now: chrono::DateTime<chrono::Utc>) -> WhitelistFacts {
    #[allow(clippy::cast_precision_loss)]
    let age_days = list.generated.as_deref().and_then(parse_date).map(|g| ((now - g).num_seconds().max(0) as f64) / 86_400.0);
    WhitelistFacts {
        source: shown_source(s),
        generated: list.generated.clone(),
        age_days,
        listed_domains: list.domains.len(),
        entries: list.entries,
        operator_domains: s.domains.iter().map(|d| OperatorDomain { domain: normalize(d), listed: list.contains(d) }).collect(),
        deferred,
    }
}

/// `mssante.whitelist`.
pub(super) async fn check(ctx: Arc<Ctx>) -> Outcome {
    let (s, lang) = (&ctx.config.mssante, ctx.lang());
    let proxies = crate::proxy::Proxies::resolve(&ctx.config);
    let read = read_source(s, &ctx.config.project_dir, &proxies, ctx.config.timeout(), lang);
    let queue = async {
        if !s.deferred {
            return Ok(None);
        }
        let p = &ctx.config.postfix;
        crate::mailqueue::list(&ctx, &p.place, p.config_dir.as_deref()).await.map(Some)
    };
    let (bytes, queue) = futures::join!(read, queue);
    let source = shown_source(s);
    let bytes = match bytes {
        Ok(b) => b,
        Err(ReadError::Hung(h)) => return h.outcome(&ctx, &tr!(lang, "whitelist {source}", "liste blanche {source}")),
        Err(ReadError::Other(why)) => {
            return Outcome::unknown(tr!(lang, "cannot read the whitelist {source}: {why}", "impossible de lire la liste blanche {source} : {why}"))
                .details(serde_json::json!({ "source": source }));
        }
    };
    let list = match parse(&bytes) {
        Ok(l) => l,
        Err(e) => {
            let why = e.describe(lang);
            return Outcome::unknown(tr!(lang, "{source} is not a usable whitelist: {why}", "{source} n'est pas une liste blanche exploitable : {why}"))
                .details(serde_json::json!({ "source": source, "bytes": bytes.len() }));
        }
    };
    let deferred = match queue {
        Ok(None) => Deferred::NotChecked,
        Ok(Some(l)) => compare_deferred(&list, &deferred_domains(&l.messages)),
        Err(crate::mailqueue::QueueError::Exec(e)) => Deferred::Unreadable { cause: e.describe(lang) },
        Err(crate::mailqueue::QueueError::Failed { stderr, .. }) => Deferred::Unreadable { cause: stderr },
    };
    evaluate_whitelist(&facts(s, &list, deferred, chrono::Utc::now()), s.max_age_days, lang)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Found by the `whitelist` fuzz target: quick-xml's deserializer panicked (`unreachable!`)
    /// on text split by a `<!DOCTYPE` inside an element.
    #[test]
    fn declarations_inside_the_list_are_refused_not_a_panic() {
        let date = |inner: &str| format!("<ListeBlancheMSSante><DateDeGeneration>{inner}</DateDeGeneration></ListeBlancheMSSante>");
        for inner in ["2<!DOCTYPE x [<!ENTITY a \"b\">]>024", "2<?pi x?>024"] {
            assert_eq!(parse(date(inner).as_bytes()).map(|_| ()), Err(ParseError::Declaration), "{inner}");
        }
        assert_eq!(parse(b"<!DOCTYPE ListeBlancheMSSante><ListeBlancheMSSante/>").map(|_| ()), Err(ParseError::Declaration));
        // Comments and CDATA inside text are read as text.
        for inner in ["2<!-- c -->024", "2<![CDATA[0]]>24"] {
            let _ = parse(date(inner).as_bytes());
        }
        let fuzzed: &[u8] = &b"<?xmlv eirson=\"1.0\" encoding=\"UTF-8\"?>\n<ListeBlancheMSSante xmlns=\"https://listeblanche.mssante.fr/schema\">\n  <DateDeGeneration>2024-11-30T12:00:00+01:00</DateDeGeneration>\n  <ListeDomaines>\n    <Domaine><Nom>\xef\xbb\xbf<!DOCTYPE x [<!ENTITY b \"&a;&a;&a;&a;\">]>3\x00\x00\x00\n<ListeBlancheMSSante><ListeDomaines><Domainete>ResponsableContact><DateMAJ>2024-11-30T12:00:00+01:00</DateMAJ></Domaine>\n    <Domaine><Nom>Pee</ListeDomaines>\n</ListeBlancheMSSante>\n"[..];
        assert!(matches!(parse(fuzzed), Err(ParseError::Declaration)), "{:?}", parse(fuzzed));
        exercise(fuzzed);
        assert!(ParseError::Declaration.describe(Lang::Fr).contains("DOCTYPE"));
    }

    const LIST: &str = r#"<?xml version="1.0" encoding="UTF-8"?>
<ListeBlancheMSSante xmlns="https://listeblanche.mssante.fr/schema">
  <DateDeGeneration>2026-11-29T02:00:00+01:00</DateDeGeneration>
  <ListeDomaines>
    <Domaine><Nom>ch-exemple.mssante.fr</Nom><Description>CH</Description><DNCertificatOperateur>CN=a</DNCertificatOperateur><DateMAJ>2026-01-01</DateMAJ></Domaine>
    <Domaine><Nom>CH-Exemple.mssante.fr</Nom><DNCertificatOperateur>CN=b</DNCertificatOperateur></Domaine>
    <Domaine><Nom>medecin.mssante.fr</Nom></Domaine>
  </ListeDomaines>
</ListeBlancheMSSante>"#;

    fn settings(domains: &[&str]) -> Settings {
        Settings { domains: domains.iter().map(|d| (*d).to_owned()).collect(), ..Settings::default() }
    }

    #[test]
    fn the_list_parses_with_repeated_names() {
        let l = parse(LIST.as_bytes()).expect("parses");
        assert_eq!((l.entries, l.domains.len()), (3, 2));
        assert!(l.contains("CH-EXEMPLE.mssante.fr.") && !l.contains("other.mssante.fr"));
        assert_eq!(l.generated.as_deref(), Some("2026-11-29T02:00:00+01:00"));
    }

    #[test]
    fn not_a_list_is_said_so() {
        assert_eq!(parse(b"<html><body>maintenance</body></html>"), Err(ParseError::WrongRoot("html".into())));
        let bad = parse(b"<ListeBlancheMSSante><ListeDomaines><Domaine><Nom>x</Domaine>").expect_err("bad");
        assert!(bad.describe(Lang::En).starts_with("malformed XML: ") && bad.describe(Lang::Fr).starts_with("XML mal formé : "), "{bad:?}");
        assert_eq!(parse(b"\xff\xfe"), Err(ParseError::NotText));
        assert_eq!(parse(b""), Err(ParseError::NoElement));
        assert_eq!(parse(b"<ListeBlancheMSSante/>"), Err(ParseError::Empty));
    }

    #[test]
    fn dates_in_the_forms_seen() {
        let want = parse_date("2026-11-29T01:00:00Z").expect("rfc3339");
        assert_eq!(parse_date("2026-11-29T02:00:00"), Some(want));
        assert_eq!(parse_date("29/11/2026 02:00:00"), Some(want));
        assert!(parse_date("2026-11-29").is_some() && parse_date("yesterday").is_none());
    }

    #[test]
    fn judgement_names_missing_domains_and_outside_deferrals() {
        let l = parse(LIST.as_bytes()).expect("parses");
        let now = parse_date("2026-11-30T12:00:00Z").expect("date");
        let queue = BTreeMap::from([("medecin.mssante.fr".to_owned(), 2), ("gmail.com".to_owned(), 3)]);
        let f = facts(&settings(&["ch-exemple.mssante.fr"]), &l, compare_deferred(&l, &queue), now);
        let o = evaluate_whitelist(&f, 7.0, Lang::En);
        assert_eq!(o.status, Status::Warning, "{}", o.summary);
        assert!(o.summary.contains("gmail.com (3)") && !o.summary.contains("medecin"), "{}", o.summary);
        let f = facts(&settings(&["absent.mssante.fr"]), &l, Deferred::NotChecked, now);
        let o = evaluate_whitelist(&f, 7.0, Lang::Fr);
        assert_eq!(o.status, Status::Critical);
        assert!(o.summary.contains("absent.mssante.fr"), "{}", o.summary);
        let old = parse_date("2026-12-30T12:00:00Z").expect("date");
        let o = evaluate_whitelist(&facts(&settings(&["medecin.mssante.fr"]), &l, Deferred::NotChecked, old), 7.0, Lang::En);
        assert_eq!(o.status, Status::Warning);
        assert!(o.summary.contains("generated 31 days ago"), "{}", o.summary);
    }
}
