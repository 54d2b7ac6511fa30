//! `network.annuaire`: the Annuaire Santé FHIR API's `/metadata` (guide: Réseau P1), with the
//! `ESANTE-API-KEY` header when a key is configured: which step fails (DNS, TCP, TLS, HTTP), a
//! key missing or refused (401/403) told apart from a timeout, and the latency. The probe is
//! shared infrastructure ([`crate::annuaire::probe_metadata`]); the verdict is
//! [`evaluate_annuaire`].

use std::sync::Arc;

use crate::annuaire::{MetadataAnswer, MetadataProbe};
use crate::checks::{grade, step, Ctx, Outcome, Step};
use crate::model::{Metric, Status};
use crate::proxy::Route;
use crate::{tr, Lang};

/// The generic remedy of `network.annuaire`.
pub const STEPS: &[Step] = &[
    step!("Resolve the API's name", "Résoudre le nom de l'API", guide = "Réseau P1", cmd = "getent hosts gateway.api.esante.gouv.fr"),
    step!(
        "Call /metadata with the key, from the host and from the API container",
        "Appeler /metadata avec la clé, depuis l'hôte et depuis le conteneur de l'API",
        guide = "Réseau P1",
        cmd = "curl -sv -H \"ESANTE-API-KEY: ${annuaire.api_key_env}\" {annuaire.url}/metadata -o /dev/null"
    ),
    step!(
        "Check the outgoing proxy and firewall (see network.proxy)",
        "Vérifier le proxy et le pare-feu sortants (voir network.proxy)",
        guide = "Réseau P1",
        cmd = "env | grep -i _proxy"
    ),
];

/// The key step of a 401/403.
const KEY_STEP: Step = step!(
    "Check the API key in {annuaire.api_key_env} (ANS portal: the key and the APIs it may call)",
    "Vérifier la clé d'API dans {annuaire.api_key_env} (portail de l'ANS : la clé et les API qu'elle autorise)",
    guide = "Réseau P1",
    cmd = "grep {annuaire.api_key_env} .env"
);

/// Judges a `/metadata` probe: `ok` for a FHIR CapabilityStatement in time (latency graded
/// against `warn_ms`/`crit_ms`); `critical` naming the failed step, a key missing or refused
/// (401, 403 apart), another status or a body that is no CapabilityStatement; `hung_status`
/// (the run's timeout state) for a step that got no answer in time.
#[must_use]
pub fn evaluate_annuaire(
    p: &MetadataProbe,
    key_var: &str,
    warn_ms: u64,
    crit_ms: u64,
    hung_status: Status,
    lang: Lang,
) -> Outcome {
    #[allow(clippy::cast_precision_loss)]
    let (warn, crit) = (warn_ms as f64, crit_ms as f64);
    let url = &p.url;
    let mut outcome = match &p.answer {
        MetadataAnswer::Http {
            http_status: 200..=299,
            capability_statement: true,
            fhir_version,
            ..
        } => {
            let total =
                p.dns_ms.unwrap_or(0.0) + p.tcp_ms.unwrap_or(0.0) + p.http_ms.unwrap_or(0.0);
            let (v, ms) = (fhir_version.as_deref().unwrap_or("?"), total.round());
            match grade(total, warn, crit) {
                Status::Ok => Outcome::ok(tr!(
                    lang,
                    "Annuaire Santé API answers at {url} (FHIR {v}, {ms} ms)",
                    "L'API de l'Annuaire Santé répond sur {url} (FHIR {v}, {ms} ms)"
                )),
                s => Outcome::new(
                    s,
                    tr!(
                        lang,
                        "Annuaire Santé API slow: {ms} ms for {url}",
                        "API de l'Annuaire Santé lente : {ms} ms pour {url}"
                    ),
                ),
            }
        }
        MetadataAnswer::Http {
            http_status: code @ 200..=299,
            body_problem,
            ..
        } => {
            let why = body_problem.as_deref().unwrap_or("?");
            Outcome::critical(tr!(
                lang,
                "{url} answered HTTP {code} but no FHIR CapabilityStatement ({why})",
                "{url} répond HTTP {code} mais sans CapabilityStatement FHIR ({why})"
            ))
        }
        MetadataAnswer::Http {
            http_status: code @ 401,
            ..
        } if p.key_sent => Outcome::critical(tr!(
            lang,
            "{url}: HTTP {code}, the API key ({key_var}) is refused",
            "{url} : HTTP {code}, la clé d'API ({key_var}) est refusée"
        )),
        MetadataAnswer::Http {
            http_status: code @ 401,
            ..
        } => Outcome::critical(tr!(
            lang,
            "{url}: HTTP {code}, an API key is required and none is set ({key_var})",
            "{url} : HTTP {code}, une clé d'API est exigée et aucune n'est définie ({key_var})"
        )),
        MetadataAnswer::Http {
            http_status: code @ 403,
            ..
        } if p.key_sent => Outcome::critical(tr!(
            lang,
            "{url}: HTTP {code}, the API key ({key_var}) is not allowed to call this API",
            "{url} : HTTP {code}, la clé d'API ({key_var}) n'est pas autorisée pour cette API"
        )),
        MetadataAnswer::Http {
            http_status: code @ 403,
            ..
        } => Outcome::critical(tr!(
            lang,
            "{url}: HTTP {code}, access refused with no API key ({key_var})",
            "{url} : HTTP {code}, accès refusé sans clé d'API ({key_var})"
        )),
        MetadataAnswer::Http {
            http_status: code, ..
        } => Outcome::critical(tr!(lang, "{url}: HTTP {code}", "{url} : HTTP {code}")),
        MetadataAnswer::Failed { step, cause } => {
            let s = step.name();
            Outcome::critical(tr!(
                lang,
                "{url}: {s} failed: {cause}",
                "{url} : échec {s} : {cause}"
            ))
        }
        MetadataAnswer::Hung { step, hung } => {
            let s = step.name();
            Outcome::new(
                hung_status,
                tr!(
                    lang,
                    "{s} step: {}",
                    "étape {s} : {}",
                    hung.describe(lang, url)
                ),
            )
        }
    };
    if matches!(
        p.answer,
        MetadataAnswer::Http {
            http_status: 401 | 403,
            ..
        }
    ) {
        outcome = outcome.remedy(&KEY_STEP, lang);
    }
    let mut outcome = outcome.details(p);
    if let Some(ms) = p
        .http_ms
        .filter(|_| matches!(p.answer, MetadataAnswer::Http { .. }))
    {
        let total = p.dns_ms.unwrap_or(0.0) + p.tcp_ms.unwrap_or(0.0) + ms;
        outcome = outcome.metric(Metric::new("latency", total, "ms").thresholds(warn, crit));
    }
    for (name, v) in [("dns", p.dns_ms), ("tcp", p.tcp_ms)] {
        if let Some(v) = v {
            outcome = outcome.metric(Metric::new(format!("{name}_latency"), v, "ms"));
        }
    }
    outcome
}

/// Runs `network.annuaire`.
pub(super) async fn run(ctx: Arc<Ctx>) -> Outcome {
    let (s, lang) = (&ctx.config.annuaire, ctx.lang());
    if let Some(skipped) = crate::annuaire::disabled(&ctx.config, lang) {
        return skipped;
    }
    let timeout = ctx.config.timeout();
    let (api, proxies, client) = match crate::annuaire::connect(&ctx.config, lang).await {
        Ok(c) => c,
        Err(unusable) => return unusable,
    };
    let proxy = reqwest::Url::parse(&api.url("metadata"))
        .ok()
        .and_then(|u| match proxies.route(&u) {
            Route::Proxy(p) => Some(p),
            Route::Direct | Route::Bypass(_) => None,
        });
    let probe = crate::annuaire::probe_metadata(&api, &client, proxy.as_ref(), timeout, lang).await;
    evaluate_annuaire(
        &probe,
        &s.api_key_env,
        s.latency_warn_ms,
        s.latency_crit_ms,
        ctx.config.timeout_state.into(),
        lang,
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::annuaire::NetStep;
    use crate::probe::{Hung, Phase};

    fn probe(answer: MetadataAnswer, key_sent: bool) -> MetadataProbe {
        MetadataProbe {
            url: "https://a/fhir/v2/metadata".into(),
            key_sent,
            proxy: None,
            address: None,
            dns_ms: Some(1.0),
            tcp_ms: Some(1.0),
            http_ms: Some(10.0),
            answer,
        }
    }
    fn http(code: u16) -> MetadataAnswer {
        MetadataAnswer::Http {
            http_status: code,
            capability_statement: code == 200,
            body_problem: None,
            fhir_version: Some("4.0.1".into()),
            software: None,
        }
    }

    #[test]
    fn each_answer_has_its_own_finding() {
        let judge = |a, key| {
            evaluate_annuaire(
                &probe(a, key),
                "ESANTE_API_KEY",
                1000,
                3000,
                Status::Critical,
                Lang::En,
            )
        };
        let ok = judge(http(200), true);
        assert_eq!(ok.status, Status::Ok, "{}", ok.summary);
        assert!(ok
            .metrics
            .iter()
            .any(|m| m.name == "latency" && (m.value - 12.0).abs() < 0.01));
        let cases = [
            (
                judge(http(401), true),
                "the API key (ESANTE_API_KEY) is refused",
            ),
            (
                judge(http(401), false),
                "an API key is required and none is set",
            ),
            (judge(http(403), true), "not allowed to call this API"),
            (judge(http(403), false), "access refused with no API key"),
            (
                judge(
                    MetadataAnswer::Failed {
                        step: NetStep::Dns,
                        cause: "x".into(),
                    },
                    true,
                ),
                "DNS failed: x",
            ),
            (
                judge(
                    MetadataAnswer::Failed {
                        step: NetStep::Tcp,
                        cause: "x".into(),
                    },
                    true,
                ),
                "TCP failed: x",
            ),
            (
                judge(
                    MetadataAnswer::Hung {
                        step: NetStep::Tls,
                        hung: Hung {
                            step: Phase::HttpsConnect,
                            timeout_secs: 5.0,
                        },
                    },
                    true,
                ),
                "TLS step:",
            ),
        ];
        for (o, want) in cases {
            assert_eq!(o.status, Status::Critical);
            assert!(o.summary.contains(want), "{} / {want}", o.summary);
        }
        let fr = evaluate_annuaire(
            &probe(http(403), true),
            "K",
            1000,
            3000,
            Status::Critical,
            Lang::Fr,
        );
        assert!(
            fr.summary.contains("n'est pas autorisée") && !fr.remediation.is_empty(),
            "{}",
            fr.summary
        );
    }
}
