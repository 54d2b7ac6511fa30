//! How the platform reaches the outside world (guide: Réseau P1): the hospital's proxy
//! (`network.proxy`) and the Annuaire Santé API (`network.annuaire`).

use futures::FutureExt;

use super::{step, CheckDef};

pub mod annuaire;
pub mod proxy;
mod settings;
pub use settings::Settings;

/// The `network.*` checks keep no per-run state.
pub type State = ();

/// The `network.*` checks.
pub const CHECKS: &[CheckDef] = &[CheckDef {
    id: "network.annuaire",
    title_en: "Annuaire Santé API ({annuaire.url}/metadata): DNS, TCP, TLS, HTTP, API key, latency",
    title_fr: "API de l'Annuaire Santé ({annuaire.url}/metadata) : DNS, TCP, TLS, HTTP, clé d'API, latence",
    guide: "Réseau P1",
    quick: false,
    remedy: annuaire::STEPS,
    steps: 2,
    run: |ctx| annuaire::run(ctx).boxed(),
}, CheckDef {
    id: "network.proxy",
    title_en: "Outgoing proxy: variables, reachability, external endpoints let through",
    title_fr: "Proxy sortant : variables, joignabilité, points d'accès externes autorisés",
    guide: "Réseau P1",
    quick: false,
    remedy: &[
        step!(
            "Check the proxy variables of the platform and of the shell",
            "Vérifier les variables de proxy de la plateforme et du shell",
            guide = "Réseau P1",
            cmd = "env | grep -i _proxy; grep -i _proxy .env"
        ),
        step!(
            "Test an external endpoint through the proxy",
            "Tester un point d'accès externe à travers le proxy",
            guide = "Réseau P1",
            cmd = "curl -sv -x {network.proxy} -o /dev/null https://gateway.api.esante.gouv.fr/fhir/v2/metadata"
        ),
        step!(
            "Configure the proxy for Docker (http-proxy.conf of the docker service), then restart Docker",
            "Configurer le proxy de Docker (http-proxy.conf du service docker), puis redémarrer Docker",
            guide = "Réseau P1",
            cmd = "sudo systemctl edit docker && sudo systemctl restart docker",
            destructive = true
        ),
        step!(
            "Ask the network team to allow the MSSanté endpoints (Annuaire, Pro Santé Connect, espace de confiance) on the proxy and the outgoing firewall",
            "Demander à l'équipe réseau d'autoriser les points d'accès MSSanté (Annuaire, Pro Santé Connect, espace de confiance) sur le proxy et le pare-feu sortant",
            guide = "Réseau P1",
            cmd = "sudo iptables -L OUTPUT -n"
        ),
    ],
    steps: 2,
    run: |ctx| proxy::check(ctx).boxed(),
}];
