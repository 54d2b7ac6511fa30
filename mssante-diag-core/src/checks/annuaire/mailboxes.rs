//! `annuaire.mailboxes`: the platform's mailboxes (its `mailboxes` table, read-only) against
//! the BALs the Annuaire Santé publishes for the operator's domains. Unlisted BALs
//! (`listeRouge`) take part in the reconciliation but are only counted: their addresses never
//! leave this module.

use std::collections::HashMap;
use std::sync::Arc;

use serde::Serialize;
use sqlx::Row;

use super::Settings;
use crate::annuaire::{in_domains, search_mailboxes, Bal, Published, SearchBounds, Tally};
use crate::checks::{Ctx, Outcome};
use crate::config::Config;
use crate::model::{Metric, Report};
use crate::runner::Selection;
use crate::{tr, Lang};

/// Step timeouts the search of the published BALs may take, all pages together (also bounded
/// by `[annuaire] fetch_secs`).
pub const SEARCH_STEPS: u32 = 10;

/// A mailbox of the platform.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LocalMailbox {
    /// Address, lower case.
    pub address: String,
    /// BAL type (PER, ORG, APP, CAB), upper case, when the table has a type column.
    pub bal_type: Option<String>,
}

/// The platform's mailboxes of the configured domains.
#[derive(Debug, Clone)]
pub struct LocalFacts {
    /// The table read (as PostgreSQL names it).
    pub table: String,
    /// Its mailboxes of the domains.
    pub mailboxes: Vec<LocalMailbox>,
    /// Rows of other domains, left out.
    pub other_domains: u64,
    /// The table has the type column: types are compared.
    pub has_type: bool,
    /// More rows than `[annuaire] max_local`: the rest was not read.
    pub truncated: bool,
}

/// Reads the platform's mailboxes of `s.domains` (read-only): `None` when the table does not exist.
///
/// # Errors
/// The query's error.
pub async fn local_mailboxes(
    conn: &mut sqlx::PgConnection,
    s: &Settings,
) -> Result<Option<LocalFacts>, sqlx::Error> {
    let Some(rel) = crate::pgread::relation(&mut *conn, &s.table).await? else {
        return Ok(None);
    };
    if !rel.has(&s.address_column) {
        return Err(sqlx::Error::ColumnNotFound(format!(
            "{}.{}",
            rel.name, s.address_column
        )));
    }
    let has_type = rel.has(&s.type_column);
    // Names validated as plain identifiers by the settings, quoted here; the relation's name
    // comes quoted from PostgreSQL.
    let ty = if has_type {
        format!("upper(btrim(\"{}\"::text))", s.type_column)
    } else {
        "NULL::text".to_owned()
    };
    let sql = format!(
        "SELECT lower(btrim(\"{a}\"::text)), {ty} FROM {t} WHERE \"{a}\" IS NOT NULL LIMIT $1",
        a = s.address_column,
        t = rel.name
    );
    let rows = sqlx::query(&sql)
        .bind(i64::from(s.max_local) + 1)
        .fetch_all(&mut *conn)
        .await?;
    let truncated = rows.len() > s.max_local as usize;
    let mut facts = LocalFacts {
        table: rel.name,
        mailboxes: Vec::with_capacity(rows.len()),
        other_domains: 0,
        has_type,
        truncated,
    };
    for row in rows.iter().take(s.max_local as usize) {
        let address: String = row.try_get(0)?;
        if in_domains(&address, &s.domains) {
            facts.mailboxes.push(LocalMailbox {
                address,
                bal_type: row
                    .try_get::<Option<String>, _>(1)?
                    .filter(|t| !t.is_empty()),
            });
        } else {
            facts.other_domains += 1;
        }
    }
    Ok(Some(facts))
}

/// A published BAL with no local mailbox.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PublishedBal {
    /// Address.
    pub address: String,
    /// Published type.
    pub bal_type: Option<String>,
    /// The resource type that carries it.
    pub resource: &'static str,
}

/// A BAL whose published type differs from the local one.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Mismatch {
    /// Address.
    pub address: String,
    /// Type in the platform's table.
    pub local_type: String,
    /// Type the Annuaire publishes (none: not published).
    pub published_type: Option<String>,
}

/// Unlisted BALs: counted, never named.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct Unlisted {
    /// Unlisted BALs published for the domains.
    pub published: usize,
    /// Of which with no local mailbox.
    pub extra: usize,
    /// Of which of another type than the local one.
    pub mismatched: usize,
}

/// The platform's mailboxes against the published BALs.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Reconciliation {
    /// Local mailboxes (distinct addresses).
    pub local: usize,
    /// Published BALs (distinct addresses, unlisted included).
    pub published: usize,
    /// Addresses on both sides.
    pub matched: usize,
    /// Local mailboxes the Annuaire does not publish, sorted.
    pub missing: Vec<String>,
    /// Published (listed) BALs with no local mailbox, sorted by address.
    pub extra: Vec<PublishedBal>,
    /// Listed BALs of another type than the local one, sorted by address.
    pub mismatched: Vec<Mismatch>,
    /// Unlisted BALs, counted.
    pub unlisted: Unlisted,
    /// Types were compared (the table has a type column).
    pub types_compared: bool,
    /// Addresses published more than once (on several resources).
    pub duplicates: usize,
}

impl Reconciliation {
    /// Nothing out of step.
    #[must_use]
    pub fn in_step(&self) -> bool {
        self.missing.is_empty()
            && self.extra.is_empty()
            && self.mismatched.is_empty()
            && self.unlisted.extra == 0
            && self.unlisted.mismatched == 0
    }
}

/// Reconciles the platform's mailboxes with the published BALs: one hash map of the published
/// addresses, one pass over each side, lists sorted (50,000 against 50,000 in a few tens of ms).
/// An address published twice counts once (unlisted if any publication is); types are compared
/// only when `compare_types` and both sides give one.
#[must_use]
pub fn reconcile(local: &[LocalMailbox], published: &[Bal], compare_types: bool) -> Reconciliation {
    let mut r = Reconciliation {
        types_compared: compare_types,
        ..Reconciliation::default()
    };
    let mut by_address: HashMap<&str, &Bal> = HashMap::with_capacity(published.len());
    let mut unlisted_twice: Vec<&str> = Vec::new();
    for b in published {
        match by_address.entry(b.address.as_str()) {
            std::collections::hash_map::Entry::Vacant(v) => {
                v.insert(b);
            }
            std::collections::hash_map::Entry::Occupied(mut o) => {
                r.duplicates += 1;
                if b.unlisted && !o.get().unlisted {
                    o.insert(b);
                    unlisted_twice.push(b.address.as_str());
                }
            }
        }
    }
    r.published = by_address.len();
    r.unlisted.published = by_address.values().filter(|b| b.unlisted).count();
    let mut seen_local: HashMap<&str, ()> = HashMap::with_capacity(local.len());
    for m in local {
        if seen_local.insert(m.address.as_str(), ()).is_some() {
            continue;
        }
        match by_address.get(m.address.as_str()) {
            None => r.missing.push(m.address.clone()),
            Some(b) => {
                r.matched += 1;
                let differs = compare_types
                    && matches!((&m.bal_type, &b.bal_type), (Some(l), Some(p)) if l != p);
                if differs {
                    if b.unlisted {
                        r.unlisted.mismatched += 1;
                    } else {
                        r.mismatched.push(Mismatch {
                            address: m.address.clone(),
                            local_type: m.bal_type.clone().unwrap_or_default(),
                            published_type: b.bal_type.clone(),
                        });
                    }
                }
            }
        }
    }
    r.local = seen_local.len();
    for (address, b) in &by_address {
        if !seen_local.contains_key(address) {
            if b.unlisted {
                r.unlisted.extra += 1;
            } else {
                r.extra.push(PublishedBal {
                    address: b.address.clone(),
                    bal_type: b.bal_type.clone(),
                    resource: b.resource,
                });
            }
        }
    }
    r.missing.sort_unstable();
    r.extra.sort_unstable_by(|a, b| a.address.cmp(&b.address));
    r.mismatched
        .sort_unstable_by(|a, b| a.address.cmp(&b.address));
    r
}

/// An address as shown with `mask`: the first character of the local part, then `***`.
#[must_use]
pub fn mask_address(address: &str) -> String {
    match address.split_once('@') {
        Some((local, domain)) => format!(
            "{}***@{domain}",
            local.chars().next().map(String::from).unwrap_or_default()
        ),
        None => "***".to_owned(),
    }
}

/// The reconciliation as the report shows it: addresses masked on request (the full lists are
/// in the details; unlisted BALs are counts only).
fn masked(r: &Reconciliation) -> Reconciliation {
    let mut m = r.clone();
    m.missing.iter_mut().for_each(|a| *a = mask_address(a));
    m.extra
        .iter_mut()
        .for_each(|b| b.address = mask_address(&b.address));
    m.mismatched
        .iter_mut()
        .for_each(|x| x.address = mask_address(&x.address));
    m
}

/// How the facts were gathered (the report's details, beside the reconciliation).
#[derive(Debug, Serialize)]
struct Details<'a> {
    domains: &'a [String],
    table: &'a str,
    masked: bool,
    pages: u32,
    bytes: u64,
    fetch_ms: f64,
    resources_read: u64,
    ordinary_emails_ignored: u64,
    other_domains_ignored: u64,
    local_rows_of_other_domains: u64,
}

/// Judges a reconciliation: `ok` when both sides agree, else `warning` with the counts and the
/// first `show_first` addresses of each list (masked on request); unlisted BALs are counts only.
#[must_use]
pub fn evaluate_mailboxes(
    r: &Reconciliation,
    domains: &[String],
    show_first: usize,
    mask: bool,
    lang: Lang,
) -> Outcome {
    let shown = if mask { masked(r) } else { r.clone() };
    let doms = domains.join(", ");
    let some = |items: Vec<String>| {
        let mut s = items
            .iter()
            .take(show_first)
            .cloned()
            .collect::<Vec<_>>()
            .join(", ");
        if items.len() > show_first {
            s.push_str(&format!(", +{}", items.len() - show_first));
        }
        s
    };
    let (local, published, unlisted) = (r.local, r.published, r.unlisted.published);
    let outcome = if r.in_step() {
        Outcome::ok(tr!(
            lang,
            "the {local} mailboxes of {doms} match the {published} BALs the Annuaire publishes ({unlisted} unlisted)",
            "les {local} BAL de {doms} correspondent aux {published} BAL publiées par l'Annuaire ({unlisted} en liste rouge)"
        ))
    } else {
        let mut parts = Vec::new();
        if !shown.missing.is_empty() {
            let (n, l) = (shown.missing.len(), some(shown.missing.clone()));
            parts.push(tr!(
                lang,
                "{n} missing from the Annuaire ({l})",
                "{n} absentes de l'Annuaire ({l})"
            ));
        }
        if !shown.extra.is_empty() {
            let (n, l) = (
                shown.extra.len(),
                some(shown.extra.iter().map(|b| b.address.clone()).collect()),
            );
            parts.push(tr!(
                lang,
                "{n} published with no local mailbox ({l})",
                "{n} publiées sans boîte locale ({l})"
            ));
        }
        if !shown.mismatched.is_empty() {
            let n = shown.mismatched.len();
            let l = some(
                shown
                    .mismatched
                    .iter()
                    .map(|m| {
                        format!(
                            "{}: {} / {}",
                            m.address,
                            m.local_type,
                            m.published_type.as_deref().unwrap_or("?")
                        )
                    })
                    .collect(),
            );
            parts.push(tr!(
                lang,
                "{n} of another type here / in the Annuaire ({l})",
                "{n} d'un autre type ici / dans l'Annuaire ({l})"
            ));
        }
        let (ue, um) = (r.unlisted.extra, r.unlisted.mismatched);
        if ue + um > 0 {
            parts.push(tr!(
                lang,
                "unlisted BALs: {ue} with no local mailbox, {um} of another type (counted only)",
                "BAL en liste rouge : {ue} sans boîte locale, {um} d'un autre type (comptées seulement)"
            ));
        }
        let list = parts.join("; ");
        Outcome::warning(tr!(
            lang,
            "mailboxes of {doms} out of step with the Annuaire: {list}",
            "BAL de {doms} en décalage avec l'Annuaire : {list}"
        ))
    };
    #[allow(clippy::cast_precision_loss)]
    let count = |name: &str, v: usize| Metric::new(name, v as f64, "");
    outcome
        .metric(count("local", r.local))
        .metric(count("published", r.published))
        .metric(count("missing", r.missing.len()))
        .metric(count("extra", r.extra.len() + r.unlisted.extra))
        .metric(count(
            "mismatched",
            r.mismatched.len() + r.unlisted.mismatched,
        ))
        .metric(count("unlisted", r.unlisted.published))
        .details(shown)
}

/// Runs `annuaire.mailboxes`.
pub(super) async fn run(ctx: Arc<Ctx>) -> Outcome {
    let (s, lang) = (&ctx.config.annuaire, ctx.lang());
    if let Some(skipped) = crate::annuaire::disabled(&ctx.config, lang) {
        return skipped;
    }
    if s.domains.is_empty() {
        return Outcome::skipped(tr!(
            lang,
            "no domain to reconcile (DOMAIN in .env or [annuaire] domains)",
            "aucun domaine à comparer (DOMAIN dans .env ou [annuaire] domains)"
        ));
    }
    let settings = s.clone();
    let local = match crate::pgread::read_only(&ctx, |mut conn| async move {
        local_mailboxes(&mut conn, &settings).await
    })
    .await
    {
        Ok(Some(l)) => l,
        Ok(None) => {
            let t = &s.table;
            return Outcome::unknown(tr!(
                lang,
                "table {t} not found in the platform's database",
                "table {t} introuvable dans la base de la plateforme"
            ));
        }
        Err(o) => return o,
    };
    if local.truncated {
        let n = s.max_local;
        return Outcome::unknown(tr!(
            lang,
            "more than {n} rows in {}: raise [annuaire] max_local",
            "plus de {n} lignes dans {} : augmenter [annuaire] max_local",
            local.table
        ));
    }
    let timeout = ctx.config.timeout();
    let (api, _, client) = match crate::annuaire::connect(&ctx.config, lang).await {
        Ok(c) => c,
        Err(unusable) => return unusable,
    };
    let bounds = SearchBounds {
        page_size: s.page_size,
        max_pages: s.max_pages,
        page_bytes: s.page_max_mib as usize * 1024 * 1024,
        budget: timeout
            .mul_f64(f64::from(SEARCH_STEPS))
            .min(std::time::Duration::from_secs_f64(s.fetch_secs)),
        request_timeout: timeout,
        max_bals: s.max_local as usize,
    };
    let published = match search_mailboxes(&api, &client, &s.domains, bounds, lang).await {
        Ok(p) => p,
        Err(f) => {
            let why = f.describe(lang);
            return Outcome::unknown(tr!(
                lang,
                "cannot list the BALs the Annuaire publishes: {why} (see network.annuaire)",
                "impossible de lister les BAL publiées par l'Annuaire : {why} (voir network.annuaire)"
            ))
            .details(serde_json::json!({ "search": f }));
        }
    };
    let r = reconcile(&local.mailboxes, &published.bals, local.has_type);
    let mut o = evaluate_mailboxes(&r, &s.domains, s.show_first, s.mask, lang);
    o.details =
        serde_json::to_value(details(&o.details, s, &local, &published)).unwrap_or(o.details);
    o
}

/// The details of a judged reconciliation, with how the facts were gathered.
fn details(
    shown: &serde_json::Value,
    s: &Settings,
    local: &LocalFacts,
    p: &Published,
) -> serde_json::Value {
    let Tally {
        resources,
        ordinary_emails,
        other_domains,
    } = p.tally;
    let base = Details {
        domains: &s.domains,
        table: &local.table,
        masked: s.mask,
        pages: p.pages,
        bytes: p.bytes,
        fetch_ms: p.fetch_ms,
        resources_read: resources,
        ordinary_emails_ignored: ordinary_emails,
        other_domains_ignored: other_domains,
        local_rows_of_other_domains: local.other_domains,
    };
    let mut v = serde_json::to_value(base).unwrap_or_default();
    if let (Some(obj), Some(rec)) = (v.as_object_mut(), shown.as_object()) {
        for (k, val) in rec {
            obj.insert(k.clone(), val.clone());
        }
    }
    v
}

/// `mssante-diag annuaire reconcile`: runs `annuaire.mailboxes` alone, addresses masked when
/// `mask` (the report's details hold the full lists).
///
/// # Errors
/// As [`crate::run`].
pub async fn reconcile_annuaire(config: Arc<Config>, mask: bool) -> crate::Result<Report> {
    let mut config = (*config).clone();
    config.annuaire.mask |= mask;
    crate::runner::run(
        Arc::new(config),
        &Selection::Only(vec!["annuaire.mailboxes".to_owned()]),
    )
    .await
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bal(a: &str, t: &str, unlisted: bool) -> Bal {
        Bal {
            address: a.into(),
            bal_type: Some(t.into()),
            unlisted,
            resource: "Practitioner",
        }
    }
    fn local(a: &str, t: &str) -> LocalMailbox {
        LocalMailbox {
            address: a.into(),
            bal_type: Some(t.into()),
        }
    }

    #[test]
    fn reconciliation_finds_each_difference_and_never_names_unlisted() {
        let l = [
            local("a@d", "PER"),
            local("b@d", "PER"),
            local("c@d", "ORG"),
            local("u1@d", "PER"),
            local("u2@d", "CAB"),
            local("a@d", "PER"),
        ];
        let p = [
            bal("a@d", "PER", false),
            bal("c@d", "APP", false),
            bal("x@d", "PER", false),
            bal("u1@d", "PER", true),
            bal("u2@d", "PER", true),
            bal("u3@d", "PER", true),
            bal("a@d", "PER", false),
        ];
        let r = reconcile(&l, &p, true);
        assert_eq!(r.missing, ["b@d"]);
        assert_eq!(
            r.extra
                .iter()
                .map(|b| b.address.as_str())
                .collect::<Vec<_>>(),
            ["x@d"]
        );
        assert_eq!(
            r.mismatched,
            [Mismatch {
                address: "c@d".into(),
                local_type: "ORG".into(),
                published_type: Some("APP".into())
            }]
        );
        assert_eq!(
            r.unlisted,
            Unlisted {
                published: 3,
                extra: 1,
                mismatched: 1
            }
        );
        assert_eq!(
            (r.local, r.published, r.matched, r.duplicates),
            (5, 6, 4, 1)
        );
        for lang in [Lang::En, Lang::Fr] {
            let o = evaluate_mailboxes(&r, &["d".into()], 10, false, lang);
            assert_eq!(o.status, crate::Status::Warning);
            let all = format!("{} {}", o.summary, o.details);
            assert!(
                !all.contains("u1@") && !all.contains("u2@") && !all.contains("u3@"),
                "{all}"
            );
            assert!(
                o.summary.contains("b@d") && o.summary.contains("x@d") && o.summary.contains("c@d"),
                "{}",
                o.summary
            );
        }
        let masked = evaluate_mailboxes(&r, &["d".into()], 10, true, Lang::En);
        assert!(
            masked.summary.contains("b***@d") && !masked.details.to_string().contains("\"b@d\""),
            "{}",
            masked.summary
        );
        assert!(!reconcile(&l, &p, false)
            .mismatched
            .iter()
            .any(|m| m.address == "c@d"));
    }

    #[test]
    fn agreeing_sides_are_ok_and_lists_are_cut() {
        let l: Vec<_> = (0..30).map(|i| local(&format!("m{i}@d"), "PER")).collect();
        let p: Vec<_> = (0..30)
            .map(|i| bal(&format!("m{i}@d"), "PER", i % 10 == 0))
            .collect();
        let o = evaluate_mailboxes(&reconcile(&l, &p, true), &["d".into()], 5, false, Lang::En);
        assert_eq!(o.status, crate::Status::Ok, "{}", o.summary);
        assert!(
            o.summary.contains("30 mailboxes") && o.summary.contains("(3 unlisted)"),
            "{}",
            o.summary
        );
        let o = evaluate_mailboxes(&reconcile(&l, &[], true), &["d".into()], 5, false, Lang::En);
        assert!(
            o.summary.contains("30 missing") && o.summary.contains(", +25"),
            "{}",
            o.summary
        );
        assert_eq!(
            o.details["missing"].as_array().map(Vec::len),
            Some(30),
            "the details list them all"
        );
    }
}
