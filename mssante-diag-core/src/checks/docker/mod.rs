//! Docker and the platform's compose project, through the Docker Engine API (bollard):
//! `docker compose ps`, `docker stats`, `docker compose logs | grep -i error` and
//! `docker system df` of the guide (Général, Démarrage P1-P4, Performance P1).
//!
//! The project's containers are those labelled `com.docker.compose.project=<[docker] project>`,
//! their service is the `com.docker.compose.service` label. The engine connection
//! (`Ctx::engine`) and the inspected containers ([`Shared`]) are gathered once per run and
//! used by every check.
//! When Docker is absent the checks are `skipped` (not configured) or `critical` with the
//! cause (not running, permission denied, wrong `DOCKER_HOST`).

use std::collections::BTreeMap;
use std::sync::Arc;

use futures::FutureExt;
use tokio::sync::OnceCell;

use super::{step, CheckDef, Ctx, Outcome};
use crate::model::Remedy;
use crate::{tr, Lang};

pub mod cgroup;
pub mod disk;
pub mod logs;
pub mod project;
pub mod resources;

pub use crate::docker::{DaemonError, Endpoint, Engine};
pub use project::{ContainerFacts, HealthFacts, Project, PROJECT_LABEL, SERVICE_LABEL};

mod settings;
pub use settings::Settings;

/// Per-run state: the project's containers, inspected once.
pub type State = Shared;

/// The `docker.*` checks.
pub const CHECKS: &[CheckDef] = &[
    CheckDef {
        id: "docker.daemon",
        title_en: "Docker engine reachable; not running vs socket permission denied vs wrong DOCKER_HOST",
        title_fr: "Moteur Docker joignable ; arrêté, permission refusée sur le socket ou DOCKER_HOST erroné",
        guide: "Démarrage P2",
        quick: false,
        remedy: &[
            step!("Check that Docker is started", "Vérifier que Docker est démarré", guide = "Démarrage P2", cmd = "sudo systemctl status docker"),
            step!("Start Docker if needed", "Démarrer Docker si nécessaire", guide = "Démarrage P2", cmd = "sudo systemctl start docker"),
            step!("Check the permissions: add the user to the docker group", "Vérifier les permissions : ajouter l'utilisateur au groupe docker", guide = "Démarrage P2", cmd = "sudo usermod -aG docker $USER"),
            step!("Reload the groups (or log in again)", "Recharger les groupes (ou se reconnecter)", guide = "Démarrage P2", cmd = "newgrp docker"),
            step!("Test", "Tester", guide = "Démarrage P2", cmd = "docker ps"),
        ],
        steps: 1,
        run: |ctx| daemon(ctx).boxed(),
    },
    CheckDef {
        id: "docker.containers",
        title_en: "Each expected compose service: running / exited (code, OOMKilled) / missing",
        title_fr: "Chaque service compose attendu : en marche / arrêté (code, OOMKilled) / absent",
        guide: "Général, Démarrage P1 P4",
        quick: true,
        remedy: &[
            step!("See the state of the containers", "Voir l'état des conteneurs", guide = "Général", cmd = "{docker.compose} ps -a"),
            step!("Look for a port already in use", "Chercher un port déjà utilisé", guide = "Démarrage P1", cmd = "sudo ss -tulpn | grep -E ':(80|443|25|587|143|3000|5432|6379)'"),
            step!("Restart the containers (interrupts the service)", "Redémarrer les conteneurs (interrompt le service)", guide = "Démarrage P1", cmd = "{docker.compose} down && {docker.compose} up -d", destructive = true),
        ],
        steps: 1,
        run: |ctx| containers(ctx).boxed(),
    },
    CheckDef {
        id: "docker.health",
        title_en: "Healthcheck state and last probe output",
        title_fr: "État des healthchecks et sortie de la dernière sonde",
        guide: "Démarrage P4",
        quick: false,
        remedy: &[
            step!("Check the health checks", "Vérifier les health checks", guide = "Démarrage P4", cmd = "{docker.compose} ps --format \"table {{.Name}}\\t{{.Status}}\\t{{.Health}}\""),
            step!("Read the logs of the container", "Voir les logs du conteneur", guide = "Démarrage P4", cmd = "{docker.compose} logs --tail=50"),
        ],
        steps: 1,
        run: |ctx| health(ctx).boxed(),
    },
    CheckDef {
        id: "docker.restarts",
        title_en: "Restart loops, restart counts",
        title_fr: "Boucles de redémarrage, nombre de redémarrages",
        guide: "Démarrage P4",
        quick: false,
        remedy: &[
            step!("Read the logs of the container", "Voir les logs du conteneur", guide = "Démarrage P4", cmd = "{docker.compose} logs --tail=50 api"),
            step!("Inspect the container", "Inspecter le conteneur", guide = "Démarrage P4", cmd = "docker inspect {docker.project}-api-1"),
            step!("If it is a configuration error, check the .env file", "Si erreur de configuration, vérifier le fichier .env", guide = "Démarrage P4", cmd = "grep -v '^#' .env | grep -v '^$'"),
            step!("If it is a database migration error, run the migrations", "Si erreur de migration, appliquer les migrations", guide = "Démarrage P4", cmd = "{docker.compose} exec api npm run migrate"),
            step!("If it is a permission error, give the data folder to the service user", "Si erreur de permissions, rendre le dossier data à l'utilisateur du service", guide = "Démarrage P4", cmd = "sudo chown -R 1000:1000 data/"),
            step!("Rebuild the image and restart the service", "Reconstruire l'image et relancer le service", guide = "Démarrage P4", cmd = "{docker.compose} build --no-cache api && {docker.compose} up -d api"),
        ],
        steps: 1,
        run: |ctx| restarts(ctx).boxed(),
    },
    CheckDef {
        id: "docker.resources",
        title_en: "CPU and memory of each container against its limits",
        title_fr: "CPU et mémoire de chaque conteneur par rapport à ses limites",
        guide: "Général, Performance P1",
        quick: true,
        remedy: &[
            step!("Watch the load", "Observer la charge", guide = "Général", cmd = "docker stats --no-stream --format \"table {{.Name}}\\t{{.CPUPerc}}\\t{{.MemUsage}}\""),
            step!("Raise the limits (deploy.resources.limits cpus / memory in docker-compose.yml)", "Augmenter les ressources (deploy.resources.limits cpus / memory dans docker-compose.yml)", guide = "Performance P1"),
            step!("Scale the API horizontally", "Scaler l'API horizontalement", guide = "Performance P1", cmd = "{docker.compose} up -d --scale api=3"),
        ],
        steps: 1,
        run: |ctx| resources(ctx).boxed(),
    },
    CheckDef {
        id: "docker.logs",
        title_en: "Error and warning lines in the recent logs of each service",
        title_fr: "Lignes d'erreur et d'avertissement dans les logs récents de chaque service",
        guide: "Général",
        quick: true,
        remedy: &[
            step!("Filter the errors", "Filtrer les erreurs", guide = "Général", cmd = "{docker.compose} logs --tail=50 | grep -i error"),
            step!("Read a service's log with timestamps", "Lire les logs d'un service avec l'horodatage", guide = "Général", cmd = "{docker.compose} logs --tail=100 --timestamps api"),
        ],
        steps: 1,
        run: |ctx| logs(ctx).boxed(),
    },
    CheckDef {
        id: "docker.disk",
        title_en: "Images, containers, volumes, build cache: size and reclaimable; free space of the Docker root",
        title_fr: "Images, conteneurs, volumes, cache de build : taille et espace récupérable ; espace libre de la racine Docker",
        guide: "Démarrage P3",
        quick: false,
        remedy: disk::CLEAN,
        steps: 1,
        run: |ctx| disk(ctx).boxed(),
    },
];

/// Per-run state of the docker checks: the project's containers, inspected once.
#[derive(Debug, Default)]
pub struct Shared {
    project: OnceCell<Result<Arc<Project>, DaemonError>>,
}

/// The run's project containers, inspected on first use. Call it under `ctx.step`.
///
/// # Errors
/// Why Docker cannot be used.
pub async fn project(ctx: &Ctx) -> Result<Arc<Project>, DaemonError> {
    ctx.state
        .docker
        .project
        .get_or_init(|| async {
            let e = ctx.engine().await?;
            project::gather(&e.docker, &ctx.config.docker.project).await.map(Arc::new).map_err(|err| e.explain(&err))
        })
        .await
        .clone()
}

/// A remedy step running `docker compose [-p NAME] ARGS`: the runner renders `{docker.compose}`
/// from the configured project ([`Settings`]'s values).
pub(crate) fn compose_remedy(lang: Lang, args: &str, en: &str, fr: &str, guide: &str) -> Remedy {
    Remedy { text: lang.pick(en, fr).to_owned(), command: Some(format!("{{docker.compose}} {args}")), guide: guide.to_owned(), destructive: false }
}

/// Bytes in the units `docker system df` prints (kB, MB, GB: powers of 1000).
#[must_use]
#[allow(clippy::cast_precision_loss)]
pub fn human_bytes(b: u64) -> String {
    const UNITS: [&str; 5] = ["B", "kB", "MB", "GB", "TB"];
    let mut v = b as f64;
    let mut unit = 0;
    while v >= 1000.0 && unit < UNITS.len() - 1 {
        v /= 1000.0;
        unit += 1;
    }
    if unit == 0 {
        format!("{b} B")
    } else {
        format!("{v:.1} {}", UNITS[unit])
    }
}

/// Runs a docker check body with the engine, all under one step timeout, mapping
/// engine failures to the shared skipped/critical outcomes.
async fn with_engine<F, Fut>(ctx: Arc<Ctx>, body: F) -> Outcome
where
    F: FnOnce(Arc<Ctx>, Engine) -> Fut,
    Fut: std::future::Future<Output = Result<Outcome, DaemonError>>,
{
    let lang = ctx.lang();
    let inner = ctx.clone();
    match ctx.step(async move { body(inner.clone(), inner.engine().await?).await }).await {
        Ok(Ok(o)) => o,
        Ok(Err(e)) => e.outcome(lang),
        Err(t) => ctx.timed_out("Docker", t),
    }
}

/// Judges a reachable engine.
#[must_use]
pub fn evaluate_daemon(e: &Engine, lang: Lang) -> Outcome {
    let v = &e.version;
    let version = v.version.as_deref().unwrap_or("?");
    let api = v.api_version.as_deref().unwrap_or("?");
    Outcome::ok(tr!(lang, "Docker {version} (API {api}) answers at {}", "Docker {version} (API {api}) répond sur {}", e.host))
        .details(serde_json::json!({ "host": e.host, "engine": v }))
}

async fn daemon(ctx: Arc<Ctx>) -> Outcome {
    with_engine(ctx, |ctx, e| async move { Ok(evaluate_daemon(&e, ctx.lang())) }).await
}

async fn containers(ctx: Arc<Ctx>) -> Outcome {
    with_engine(ctx, |ctx, _| async move {
        let p = project(&ctx).await?;
        Ok(project::evaluate_containers(&p, &ctx.config.docker.services, ctx.lang()))
    })
    .await
}

async fn health(ctx: Arc<Ctx>) -> Outcome {
    with_engine(ctx, |ctx, _| async move {
        let p = project(&ctx).await?;
        Ok(project::evaluate_health(&p, ctx.lang()))
    })
    .await
}

/// Log lines shown for a looping container.
const LOOP_LOG_LINES: u32 = 10;

async fn restarts(ctx: Arc<Ctx>) -> Outcome {
    with_engine(ctx, |ctx, e| async move {
        let p = project(&ctx).await?;
        let now = chrono::Utc::now();
        let suspects = p.containers.iter().filter(|c| project::restart_status(c, now) != crate::Status::Ok);
        let logs = futures::future::join_all(suspects.map(|c| async {
            // A log that cannot be read does not hide the loop itself.
            let lines = project::last_lines(&e.docker, &c.id, LOOP_LOG_LINES).await.unwrap_or_default();
            (c.name.clone(), lines)
        }))
        .await;
        let logs: BTreeMap<String, Vec<String>> = logs.into_iter().collect();
        Ok(project::evaluate_restarts(&p, &logs, now, ctx.lang()))
    })
    .await
}

async fn resources(ctx: Arc<Ctx>) -> Outcome {
    with_engine(ctx, |ctx, e| async move {
        let p = project(&ctx).await?;
        let (usages, missed) = resources::sample(&e, &p).await;
        Ok(resources::evaluate_resources(&usages, &missed, &p.name, &ctx.config.docker, ctx.lang()))
    })
    .await
}

async fn logs(ctx: Arc<Ctx>) -> Outcome {
    with_engine(ctx, |ctx, e| async move {
        let cfg = &ctx.config.docker;
        let matcher = match crate::logscan::Matcher::new(&cfg.log_error_patterns, &cfg.log_warning_patterns) {
            Ok(m) => m,
            Err(err) => return Ok(Outcome::unknown(err.to_string())),
        };
        let p = project(&ctx).await?;
        let scanned = logs::scan(&e.docker, &p, cfg, &matcher).await.map_err(|err| e.explain(&err))?;
        Ok(logs::evaluate_logs(&scanned, &p.name, cfg, ctx.lang()))
    })
    .await
}

async fn disk(ctx: Arc<Ctx>) -> Outcome {
    with_engine(ctx, |ctx, e| async move {
        let usage = disk::gather(&e).await?;
        let s = &ctx.config.system;
        Ok(disk::evaluate_disk(&usage, s.disk_warn_pct, s.disk_crit_pct, ctx.lang()))
    })
    .await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bytes_and_compose() {
        assert_eq!(human_bytes(999), "999 B");
        assert_eq!(human_bytes(1_500_000), "1.5 MB");
        let ps = |toml: &str| {
            let cfg = crate::config::Config::from_toml_str(toml, std::path::Path::new("/srv/mssante")).unwrap();
            compose_remedy(Lang::En, "ps", "", "", "").render(&cfg.vars()).command.unwrap()
        };
        assert_eq!(ps("[docker]\nproject = \"other\"\n"), "docker compose -p other ps");
        assert_eq!(ps(""), "docker compose ps");
    }

    #[test]
    fn ids_are_docker_and_quick_set() {
        let quick: Vec<&str> = CHECKS.iter().filter(|c| c.quick).map(|c| c.id).collect();
        assert_eq!(quick, ["docker.containers", "docker.resources", "docker.logs"]);
        assert!(CHECKS.iter().all(|c| c.subsystem() == "docker"));
    }
}
