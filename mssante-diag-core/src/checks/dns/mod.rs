//! The platform's domains as a receiving mail server sees them in DNS (guide: Messagerie P3,
//! Réseau P1): resolvers, MX, SPF, DKIM, DMARC, reverse DNS, blocklists, MTA-STS, TLS-RPT,
//! DANE and DNSSEC. Every lookup goes through the shared [`crate::resolver`] (hickory), so the
//! configured nameservers and timeout apply everywhere and answers are bounded.
//!
//! Crates: record syntax of SPF by `decon-spf` (see [`spf`] for why not `viaspf` or
//! `mail-auth`); DKIM keys by `x509-parser`; DNSSEC validation by hickory-resolver's
//! `dnssec-ring`. The tag-value lists of DKIM, DMARC, MTA-STS and TLS-RPT are split by
//! [`tags`] (a dozen lines: `mail-auth`, the crate that parses them, could not be used).
//!
//! `mssante-diag dns DOMAIN...` audits many domains with the same checks ([`audit`]).

use std::sync::Arc;

use futures::future::BoxFuture;
use futures::{FutureExt, StreamExt};
use serde::Serialize;

use super::{step, CheckDef, Ctx, Outcome};
use crate::config::Config;
use crate::model::{CheckResult, Report, Status};
use crate::tr;

pub mod dkim;
pub mod dmarc;
pub mod dnssec;
mod env;
pub mod mx;
pub mod reputation;
mod settings;
pub mod spf;
pub mod tags;
pub mod transport;

pub use env::{Env, State};
pub use settings::{Settings, DEFAULT_BLOCKLISTS, DEFAULT_CONCURRENCY};

/// A per-domain check: facts gathered and judged for one domain.
type DomainCheck = for<'a> fn(&'a Env, &'a str) -> BoxFuture<'a, Outcome>;

/// A check of the platform's addresses (not of a domain): run once for all the domains.
type AddressCheck = for<'a> fn(&'a Env) -> BoxFuture<'a, Outcome>;

/// The checks that judge the platform's addresses, not a domain: an audit of many domains
/// runs them once ([`Audit::addresses`]).
pub const ADDRESS_CHECKS: &[&str] = &["dns.ptr", "dns.blocklist"];

/// The `dns.*` checks.
pub const CHECKS: &[CheckDef] = &[
    CheckDef {
        id: "dns.resolver",
        title_en: "Configured nameservers answer, and how fast",
        title_fr: "Les serveurs DNS configurés répondent, et en combien de temps",
        guide: "Réseau P1",
        quick: false,
        remedy: &[
            step!("Query the nameserver by hand", "Interroger le serveur DNS à la main", guide = "Réseau P1", cmd = "dig {dns.domain} SOA"),
            step!("Check the resolver configuration", "Vérifier la configuration du résolveur", guide = "Réseau P1", cmd = "cat /etc/resolv.conf"),
            step!("Add fallback nameservers to the containers (docker-compose.yml, dns:)", "Ajouter des serveurs DNS de secours aux conteneurs (docker-compose.yml, dns:)", guide = "Réseau P1"),
            step!("Check the outgoing firewall (port 53 udp/tcp)", "Vérifier le pare-feu sortant (port 53 udp/tcp)", guide = "Réseau P1", cmd = "sudo iptables -L OUTPUT -n"),
        ],
        steps: 2,
        run: |ctx| resolver_check(ctx).boxed(),
    },
    CheckDef {
        id: "dns.mx",
        title_en: "MX of {dns.domain}: present, every host resolves, the platform among them",
        title_fr: "MX de {dns.domain} : présent, chaque hôte se résout, la plateforme en fait partie",
        guide: "Messagerie P1 P2",
        quick: false,
        remedy: &[
            step!("Look up the MX records", "Chercher les enregistrements MX", guide = "Messagerie P1", cmd = "dig {dns.domain} MX"),
            step!("Publish an MX record naming the platform's mail host", "Publier un enregistrement MX désignant l'hôte de messagerie de la plateforme", guide = "Messagerie P2", cmd = "{dns.domain}. IN MX 10 mail.{dns.domain}."),
        ],
        steps: 2,
        run: |ctx| per_domain(ctx, |e, d| mx::check_mx(e, d).boxed()).boxed(),
    },
    CheckDef {
        id: "dns.spf",
        title_en: "SPF of {dns.domain}: one record, -all, at most 10 lookups and 2 void, the platform authorised",
        title_fr: "SPF de {dns.domain} : un seul enregistrement, -all, au plus 10 requêtes et 2 vides, la plateforme autorisée",
        guide: "Messagerie P3",
        quick: false,
        remedy: &[
            step!("Read the SPF record", "Lire l'enregistrement SPF", guide = "Messagerie P3", cmd = "dig {dns.domain} TXT | grep spf"),
            step!("Publish one SPF record ending in -all", "Publier un seul enregistrement SPF terminé par -all", guide = "Messagerie P3", cmd = "{dns.domain}. IN TXT \"v=spf1 mx {dns.spf_ips} -all\""),
        ],
        steps: 3,
        run: |ctx| per_domain(ctx, |e, d| spf::check_spf(e, d).boxed()).boxed(),
    },
    CheckDef {
        id: "dns.dkim",
        title_en: "DKIM key at {dns.selector}._domainkey.{dns.domain}: parses, RSA >= 2048 or Ed25519, matches the local key",
        title_fr: "Clé DKIM en {dns.selector}._domainkey.{dns.domain} : valide, RSA >= 2048 ou Ed25519, identique à la clé locale",
        guide: "Messagerie P3",
        quick: false,
        remedy: &[
            step!("Read the DKIM record", "Lire l'enregistrement DKIM", guide = "Messagerie P3", cmd = "dig {dns.selector}._domainkey.{dns.domain} TXT"),
            step!("Regenerate a 2048-bit DKIM key", "Régénérer une clé DKIM de 2048 bits", guide = "Messagerie P3", cmd = "{docker.compose} exec postfix opendkim-genkey -b 2048 -d {dns.domain} -D /etc/opendkim/keys -s {dns.selector} -v"),
            step!("Publish the public key", "Publier la clé publique", guide = "Messagerie P3", cmd = "{docker.compose} exec postfix cat /etc/opendkim/keys/{dns.selector}.txt"),
        ],
        steps: 2,
        run: |ctx| per_domain(ctx, |e, d| dkim::check_dkim(e, d).boxed()).boxed(),
    },
    CheckDef {
        id: "dns.dmarc",
        title_en: "DMARC of {dns.domain}: valid record, policy quarantine or reject, rua",
        title_fr: "DMARC de {dns.domain} : enregistrement valide, politique quarantine ou reject, rua",
        guide: "Messagerie P3",
        quick: false,
        remedy: &[
            step!("Read the DMARC record", "Lire l'enregistrement DMARC", guide = "Messagerie P3", cmd = "dig _dmarc.{dns.domain} TXT"),
            step!("Publish a DMARC record", "Publier un enregistrement DMARC", guide = "Messagerie P3", cmd = "_dmarc.{dns.domain}. IN TXT \"v=DMARC1; p=quarantine; rua=mailto:dmarc@{dns.domain}\""),
        ],
        steps: 2,
        run: |ctx| per_domain(ctx, |e, d| dmarc::check_dmarc(e, d).boxed()).boxed(),
    },
    CheckDef {
        id: "dns.ptr",
        title_en: "Reverse DNS of the platform's address: present, forward-confirmed, matches the SMTP banner",
        title_fr: "DNS inverse de l'adresse de la plateforme : présent, confirmé, conforme à la bannière SMTP",
        guide: "Messagerie P3",
        quick: false,
        remedy: &[
            step!("Look up the reverse name", "Chercher le nom inverse", guide = "Messagerie P3", cmd = "dig -x {dns.address}"),
            step!("Ask the hosting provider for a PTR naming the mail host", "Demander à l'hébergeur un PTR désignant l'hôte de messagerie", guide = "Messagerie P3"),
        ],
        steps: 2,
        run: |ctx| per_address(ctx, |e| reputation::check_ptr(e).boxed()).boxed(),
    },
    CheckDef {
        id: "dns.blocklist",
        title_en: "The platform's address on the configured DNS blocklists",
        title_fr: "L'adresse de la plateforme sur les listes de blocage DNS configurées",
        guide: "Messagerie P3",
        quick: false,
        remedy: &[
            step!("Look up the listing and its reason", "Chercher l'inscription et sa raison", guide = "Messagerie P3", cmd = "dig TXT REVERSED_IP.zen.spamhaus.org"),
            step!("Find what sent spam (queue, logs, compromised accounts), then ask each list for removal", "Trouver ce qui a envoyé du spam (file, logs, comptes compromis), puis demander le retrait à chaque liste", guide = "Messagerie P3", cmd = "{docker.compose} logs postfix | grep 'status=sent' | tail"),
        ],
        steps: 2,
        run: |ctx| per_address(ctx, |e| reputation::check_blocklist(e).boxed()).boxed(),
    },
    CheckDef {
        id: "dns.mta_sts",
        title_en: "MTA-STS of {dns.domain}: record, policy over HTTPS, mode and MX patterns matching the real MX",
        title_fr: "MTA-STS de {dns.domain} : enregistrement, politique en HTTPS, mode et motifs MX conformes au MX réel",
        guide: "Messagerie P3",
        quick: false,
        remedy: &[
            step!("Read the record and the policy", "Lire l'enregistrement et la politique", guide = "Messagerie P3", cmd = "dig _mta-sts.{dns.domain} TXT && curl https://mta-sts.{dns.domain}/.well-known/mta-sts.txt"),
        ],
        steps: 3,
        run: |ctx| per_domain(ctx, |e, d| transport::check_mta_sts(e, d).boxed()).boxed(),
    },
    CheckDef {
        id: "dns.tlsrpt",
        title_en: "TLS-RPT record of {dns.domain} (_smtp._tls)",
        title_fr: "Enregistrement TLS-RPT de {dns.domain} (_smtp._tls)",
        guide: "Messagerie P3",
        quick: false,
        remedy: &[step!("Publish a TLS-RPT record", "Publier un enregistrement TLS-RPT", guide = "Messagerie P3", cmd = "_smtp._tls.{dns.domain}. IN TXT \"v=TLSRPTv1; rua=mailto:tlsrpt@{dns.domain}\"")],
        steps: 2,
        run: |ctx| per_domain(ctx, |e, d| transport::check_tlsrpt(e, d).boxed()).boxed(),
    },
    CheckDef {
        id: "dns.dane",
        title_en: "DANE: TLSA of the MX of {dns.domain} matches the certificate served on port {dns.smtp_port}",
        title_fr: "DANE : le TLSA du MX de {dns.domain} correspond au certificat présenté sur le port {dns.smtp_port}",
        guide: "Messagerie P3",
        quick: false,
        remedy: &[
            step!("Read the TLSA record", "Lire l'enregistrement TLSA", guide = "Messagerie P3", cmd = "dig _25._tcp.mail.{dns.domain} TLSA"),
            step!("Compare with the served certificate", "Comparer avec le certificat présenté", guide = "Messagerie P3", cmd = "openssl s_client -connect mail.{dns.domain}:{dns.smtp_port} -starttls smtp </dev/null | openssl x509 -noout -pubkey | openssl pkey -pubin -outform DER | sha256sum"),
        ],
        steps: 3,
        run: |ctx| per_domain(ctx, |e, d| transport::check_dane(e, d).boxed()).boxed(),
    },
    CheckDef {
        id: "dns.dnssec",
        title_en: "DNSSEC of {dns.domain}: answers validate (bogus critical, unsigned reported)",
        title_fr: "DNSSEC de {dns.domain} : les réponses sont validées (invalide critique, non signé signalé)",
        guide: "Messagerie P3",
        quick: false,
        remedy: &[
            step!("Check the signatures and the chain of trust", "Vérifier les signatures et la chaîne de confiance", guide = "Messagerie P3", cmd = "delv {dns.domain} SOA"),
            step!("Re-sign the zone (expired or broken signatures) and check the DS at the parent", "Re-signer la zone (signatures expirées ou cassées) et vérifier le DS chez le parent", guide = "Messagerie P3"),
        ],
        steps: 3,
        run: |ctx| per_domain(ctx, |e, d| dnssec::check_dnssec(e, d).boxed()).boxed(),
    },
];

/// The run's [`Env`], or the outcome that stops a check.
async fn env_of(ctx: &Ctx) -> Result<Arc<Env>, Outcome> {
    ctx.state.dns.env(&ctx.config).await.map_err(|e| Outcome::unknown(tr!(ctx.lang(), "cannot set up DNS resolution: {e}", "impossible de préparer la résolution DNS : {e}")))
}

/// Runs a per-domain check on every configured domain, concurrently, folded into one outcome.
async fn per_domain(ctx: Arc<Ctx>, check: DomainCheck) -> Outcome {
    let env = match env_of(&ctx).await {
        Ok(e) => e,
        Err(o) => return o,
    };
    if env.settings.domains.is_empty() {
        return no_domain(ctx.lang());
    }
    let parts = futures::future::join_all(env.settings.domains.iter().map(|d| {
        let env = env.clone();
        async move { (d.clone(), check(&env, d).await) }
    }))
    .await;
    env::fold(parts)
}

/// Runs an address-level check once on the platform's addresses (those of every configured
/// domain when `dns.addresses` is empty).
async fn per_address(ctx: Arc<Ctx>, check: AddressCheck) -> Outcome {
    let env = match env_of(&ctx).await {
        Ok(e) => e,
        Err(o) => return o,
    };
    if env.settings.domains.is_empty() {
        return no_domain(ctx.lang());
    }
    check(&env).await
}

fn no_domain(lang: crate::Lang) -> Outcome {
    Outcome::skipped(tr!(lang, "no mail domain: set dns.domains (or DOMAIN in .env)", "aucun domaine de messagerie : renseigner dns.domains (ou DOMAIN dans .env)"))
}

async fn resolver_check(ctx: Arc<Ctx>) -> Outcome {
    let s = &ctx.config.dns;
    let name = s.domains.first().map_or(".", String::as_str).trim_end_matches('.').to_owned();
    let name = if name.is_empty() { ".".to_owned() } else { name };
    match dnssec::ask_nameservers(&s.nameservers, name.trim_end_matches('.'), ctx.config.timeout()).await {
        Ok(answers) => dnssec::evaluate_resolvers(&answers, ctx.config.timeout_state.into(), ctx.lang()),
        Err(e) => Outcome::unknown(tr!(ctx.lang(), "cannot read the resolver configuration: {e}", "impossible de lire la configuration du résolveur : {e}")),
    }
}

/// One domain's audit: the `dns.*` checks of the domain (not `dns.resolver`, not the
/// [`ADDRESS_CHECKS`]) on it.
#[derive(Debug, Clone, Serialize)]
pub struct DomainAudit {
    /// The domain.
    pub domain: String,
    /// The worst status of its checks.
    pub status: Status,
    /// Its results, in catalogue order.
    pub checks: Vec<CheckResult>,
}

/// The audit of many domains: the platform's addresses judged once, then each domain.
#[derive(Debug, Clone, Serialize)]
pub struct Audit {
    /// The worst status of all (addresses and domains).
    pub status: Status,
    /// The [`ADDRESS_CHECKS`] (reverse DNS, blocklists) on the platform's addresses, once for
    /// the audit (`dns.addresses`, else the addresses of every audited domain's MX hosts);
    /// empty when no domain is audited.
    pub addresses: Vec<CheckResult>,
    /// One audit per domain, in the given order.
    pub domains: Vec<DomainAudit>,
}

/// Audits `domains` with the `[dns]` settings of `config` (nameservers, addresses, selectors,
/// blocklists...), at most `dns.concurrency` domains at once; results in the given order.
///
/// Each domain is a run of its `dns.*` checks through the runner (its deadlines, panics
/// caught, remedies rendered for that domain); the [`ADDRESS_CHECKS`], which judge the
/// platform's addresses and not a domain, run once beside them. All share one resolver (one
/// cache: SPF includes, blocklists, MX hosts and report receivers common to the domains are
/// asked once) and one HTTPS client, built once for the audit.
///
/// # Errors
/// None today: a failing domain is a result (kept fallible for the bindings' signature).
pub async fn audit(config: &Config, domains: &[String]) -> crate::Result<Audit> {
    // Built once; when it cannot be, each domain's checks say why (as in a run).
    let shared = Env::new(config).ok().map(Arc::new);
    let limit = config.dns.concurrency.max(1);
    let address_level = async {
        if domains.is_empty() {
            return Vec::new();
        }
        let mut c = config.clone();
        c.dns.domains = domains.to_vec();
        run_checks(Arc::new(c), shared.clone(), |id| ADDRESS_CHECKS.contains(&id)).await
    };
    // Owned names: a closure over `&String` makes the future not provably `Send` (napi spawns it).
    let per_domain = futures::stream::iter(domains.iter().cloned().map(|domain| {
        let mut c = config.clone();
        c.dns.domains = vec![domain.clone()];
        let shared = shared.clone();
        async move {
            let checks = run_checks(Arc::new(c), shared, |id| id != "dns.resolver" && !ADDRESS_CHECKS.contains(&id)).await;
            DomainAudit { domain, status: Report::overall(&checks), checks }
        }
    }))
    .buffered(limit)
    .collect::<Vec<_>>();
    let (addresses, domains) = futures::join!(address_level, per_domain);
    let status = domains.iter().fold(Report::overall(&addresses), |s, a| s.worst(a.status));
    Ok(Audit { status, addresses, domains })
}

/// The `dns.*` checks `keep` selects, through the runner, with `config` and `shared`'s
/// resolvers when given.
async fn run_checks(config: Arc<Config>, shared: Option<Arc<Env>>, keep: fn(&str) -> bool) -> Vec<CheckResult> {
    let mut ctx = Ctx::new(config.clone());
    if let Some(env) = shared {
        ctx.state.dns = State::with(Arc::new(env.sharing(&config)));
    }
    let ctx = Arc::new(ctx);
    futures::future::join_all(CHECKS.iter().filter(|d| keep(d.id)).map(|def| crate::runner::run_one(def, ctx.clone()))).await
}

/// The audit for a person: the platform's addresses once, then each domain, as the human
/// report shows a run, under its name.
#[must_use]
pub fn render_audit(audit: &Audit, style: crate::output::Style) -> String {
    let mut out = String::new();
    let lang = style.lang;
    let section = |out: &mut String, title: &str, status: Status, checks: &[CheckResult]| {
        let word = crate::output::status_word(lang, status);
        out.push_str(&format!("== {title} ({word})\n"));
        let report = Report {
            schema_version: crate::model::SCHEMA_VERSION,
            version: crate::VERSION.to_owned(),
            host: String::new(),
            started_at: String::new(),
            duration_ms: checks.iter().map(|c| c.duration_ms).max().unwrap_or(0),
            status,
            checks: checks.to_vec(),
            notices: Vec::new(),
        };
        out.push_str(&crate::output::render(&report, crate::output::Format::Human, style));
        out.push('\n');
    };
    let platform = Report::overall(&audit.addresses);
    if !audit.addresses.is_empty() {
        section(&mut out, lang.pick("platform addresses (all domains)", "adresses de la plateforme (tous les domaines)"), platform, &audit.addresses);
    }
    for a in &audit.domains {
        section(&mut out, &a.domain, a.status, &a.checks);
    }
    let n = audit.domains.len();
    let bad = audit.domains.iter().filter(|a| a.status != Status::Ok).count();
    let p = crate::output::status_word(lang, platform);
    let word = crate::output::status_word(lang, audit.status);
    out.push_str(&tr!(
        lang,
        "{n} domain(s) audited, {bad} not ok; platform addresses {p}; overall {word}\n",
        "{n} domaine(s) audité(s), {bad} pas ok ; adresses de la plateforme {p} ; global {word}\n"
    ));
    out
}
