//! Shared infrastructure: reaching the Docker engine, and explaining why it cannot
//! be reached. Used by the `docker.*` checks and by the exec runner; the run's one
//! connection is [`crate::Ctx::engine`].

use std::path::{Path, PathBuf};
use std::time::Duration;

use bollard::{Docker, API_DEFAULT_VERSION};
use serde::Serialize;

use crate::checks::{step, Outcome, Step};
use crate::model::Remedy;
use crate::{tr, Lang};

/// Docker host used when neither `DOCKER_HOST` nor `[docker] host` says otherwise.
pub const DEFAULT_DOCKER_HOST: &str = "unix:///var/run/docker.sock";

/// Label of a container's compose project.
pub const PROJECT_LABEL: &str = "com.docker.compose.project";
/// Label of a container's compose service.
pub const SERVICE_LABEL: &str = "com.docker.compose.service";

/// Compose files whose presence in the project folder means Docker is expected.
pub const COMPOSE_FILES: &[&str] = &[
    "compose.yaml",
    "compose.yml",
    "docker-compose.yml",
    "docker-compose.yaml",
];

/// Where the engine listens, parsed from a `DOCKER_HOST`-style address.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Endpoint {
    /// A local Unix socket.
    Unix(PathBuf),
    /// Plain HTTP over TCP, `host:port`.
    Tcp(String),
}

/// Parses `unix:///path`, a bare socket path, or `tcp://host:port` (`http://` too; port 2375 if absent).
///
/// # Errors
/// Why the address is not usable (unsupported scheme, no port, ...), in `lang`.
pub fn parse_host(host: &str, lang: Lang) -> Result<Endpoint, String> {
    let host = host.trim();
    if let Some(path) = host
        .strip_prefix("unix://")
        .or_else(|| host.starts_with('/').then_some(host))
    {
        return if path.starts_with('/') {
            Ok(Endpoint::Unix(PathBuf::from(path)))
        } else {
            Err(tr!(
                lang,
                "`{path}` is not an absolute socket path",
                "`{path}` n'est pas un chemin de socket absolu"
            ))
        };
    }
    if let Some(rest) = host
        .strip_prefix("tcp://")
        .or_else(|| host.strip_prefix("http://"))
    {
        let authority = rest.trim_end_matches('/');
        if authority.is_empty() || authority.contains('/') {
            return Err(tr!(
                lang,
                "not of the form tcp://HOST:PORT",
                "pas de la forme tcp://HÔTE:PORT"
            ));
        }
        if authority.contains('@') {
            // Never quoted: `user:password@` would be shown.
            return Err(tr!(
                lang,
                "user information (`user:password@`) is not supported in a Docker address",
                "une adresse Docker ne peut pas contenir d'identifiants (`utilisateur:mot-de-passe@`)"
            ));
        }
        return match authority.rsplit_once(':') {
            Some((h, p)) if !h.is_empty() && p.parse::<u16>().is_ok() => {
                Ok(Endpoint::Tcp(authority.to_owned()))
            }
            Some((_, p)) if !authority.ends_with(']') => {
                Err(tr!(lang, "bad port `{p}`", "port `{p}` invalide"))
            }
            _ => Ok(Endpoint::Tcp(format!("{authority}:2375"))),
        };
    }
    match host.split_once("://") {
        Some((scheme, _)) => Err(tr!(
            lang,
            "scheme `{scheme}://` is not supported (use unix:// or tcp://)",
            "le schéma `{scheme}://` n'est pas pris en charge (utiliser unix:// ou tcp://)"
        )),
        None => Err(tr!(
            lang,
            "neither unix:///path nor tcp://host:port",
            "ni unix:///chemin ni tcp://hôte:port"
        )),
    }
}

/// Why the engine could not be used. Each cause has its own remedy.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "cause", rename_all = "snake_case")]
pub enum DaemonError {
    /// No host configured, no default socket, no compose file: Docker is not part of this platform here.
    NotConfigured,
    /// `[docker] enabled = false`.
    Disabled,
    /// The socket is missing or nobody listens on it: dockerd is stopped.
    NotRunning {
        /// The address tried.
        host: String,
        /// What was seen.
        detail: String,
    },
    /// The socket exists but this user may not open it (not in the `docker` group).
    PermissionDenied {
        /// The address tried.
        host: String,
        /// What was seen.
        detail: String,
    },
    /// The address is wrong: unparsable, unsupported, not a socket, nothing there, or not Docker.
    WrongHost {
        /// The address tried.
        host: String,
        /// What was seen.
        detail: String,
    },
    /// The engine answered, with an error.
    Api {
        /// The address tried.
        host: String,
        /// The engine's message.
        detail: String,
    },
}

impl DaemonError {
    /// True for the two causes that mean "skipped" rather than "critical".
    #[must_use]
    pub fn is_skip(&self) -> bool {
        matches!(self, Self::NotConfigured | Self::Disabled)
    }

    /// One sentence naming the cause.
    #[must_use]
    pub fn describe(&self, lang: Lang) -> String {
        match self {
            Self::NotConfigured => tr!(
                lang,
                "Docker not configured: no socket at {DEFAULT_DOCKER_HOST}, no DOCKER_HOST, no [docker] host, no compose file",
                "Docker non configuré : pas de socket {DEFAULT_DOCKER_HOST}, ni DOCKER_HOST, ni [docker] host, ni fichier compose"
            ),
            Self::Disabled => tr!(lang, "Docker checks disabled ([docker] enabled = false)", "vérifications Docker désactivées ([docker] enabled = false)"),
            Self::NotRunning { host, detail } => {
                tr!(lang, "Docker is not running at {host}: {detail}", "Docker n'est pas démarré ({host}) : {detail}")
            }
            Self::PermissionDenied { host, detail } => {
                let user = crate::access::current_user();
                tr!(
                    lang,
                    "cannot look: permission denied on the Docker socket {host} ({detail}): {user} is not in the docker group",
                    "impossible de regarder : permission refusée sur le socket Docker {host} ({detail}) : {user} n'est pas dans le groupe docker"
                )
            }
            Self::WrongHost { host, detail } => {
                tr!(lang, "wrong DOCKER_HOST `{host}`: {detail}", "DOCKER_HOST erroné `{host}` : {detail}")
            }
            Self::Api { host, detail } => {
                tr!(lang, "the Docker engine at {host} answered with an error: {detail}", "le moteur Docker ({host}) a répondu par une erreur : {detail}")
            }
        }
    }

    /// The guide's remedy for this cause (Démarrage P2).
    #[must_use]
    pub fn remedy(&self, lang: Lang) -> Vec<Remedy> {
        let steps: &[Step] = match self {
            Self::NotConfigured | Self::Disabled => &[],
            Self::NotRunning { .. } => NOT_RUNNING,
            Self::PermissionDenied { .. } => PERMISSION,
            Self::WrongHost { .. } => WRONG_HOST,
            Self::Api { .. } => API,
        };
        steps.iter().map(|s| s.to_remedy(lang)).collect()
    }

    /// The outcome every docker check gives for this cause: skipped; unknown for a permission
    /// this user lacks (the tool could not look: the platform is not broken); else critical;
    /// with the remedy.
    #[must_use]
    pub fn outcome(&self, lang: Lang) -> Outcome {
        let mut o = match self {
            _ if self.is_skip() => Outcome::skipped(self.describe(lang)),
            Self::PermissionDenied { .. } => Outcome::unknown(self.describe(lang)),
            _ => Outcome::critical(self.describe(lang)),
        };
        o.remediation = self.remedy(lang);
        o.details(self)
    }
}

const NOT_RUNNING: &[Step] = &[
    step!(
        "Check that Docker is started",
        "Vérifier que Docker est démarré",
        guide = "Démarrage P2",
        cmd = "sudo systemctl status docker"
    ),
    step!(
        "Start Docker",
        "Démarrer Docker",
        guide = "Démarrage P2",
        cmd = "sudo systemctl start docker"
    ),
    step!(
        "Check that DOCKER_HOST (or [docker] host) names the engine's socket",
        "Vérifier que DOCKER_HOST (ou [docker] host) désigne le socket du moteur",
        guide = "Démarrage P2",
        cmd = "echo \"$DOCKER_HOST\""
    ),
    step!("Test", "Tester", guide = "Démarrage P2", cmd = "docker ps"),
];

const PERMISSION: &[Step] = &[
    step!("Add the user running the tool to the docker group (docs/least-privilege.md)", "Ajouter l'utilisateur qui lance l'outil au groupe docker (docs/least-privilege.md)", guide = "Démarrage P2", cmd = "sudo usermod -aG docker $USER"),
    step!(
        "Or give it a read-only Docker socket proxy (GET only: containers, images, info, version, system/df) and point [docker] host at it",
        "Ou lui donner un proxy en lecture seule du socket Docker (GET seulement : containers, images, info, version, system/df) et y pointer [docker] host",
        guide = "Démarrage P2",
        cmd = "docker run -d --name docker-ro -v /var/run/docker.sock:/var/run/docker.sock:ro -e CONTAINERS=1 -e IMAGES=1 -e INFO=1 -e SYSTEM=1 -e POST=0 -p 127.0.0.1:2375:2375 tecnativa/docker-socket-proxy"
    ),
    step!("Reload the groups (or log in again)", "Recharger les groupes (ou se reconnecter)", guide = "Démarrage P2", cmd = "newgrp docker"),
    step!("Test", "Tester", guide = "Démarrage P2", cmd = "docker ps"),
];

const WRONG_HOST: &[Step] = &[
    step!("Check DOCKER_HOST and [docker] host in mssante-diag.toml (unix:///var/run/docker.sock by default)", "Vérifier DOCKER_HOST et [docker] host dans mssante-diag.toml (unix:///var/run/docker.sock par défaut)", guide = "Démarrage P2", cmd = "echo \"$DOCKER_HOST\""),
    step!("Check that Docker is started", "Vérifier que Docker est démarré", guide = "Démarrage P2", cmd = "sudo systemctl status docker"),
    step!("Test", "Tester", guide = "Démarrage P2", cmd = "docker ps"),
];

const API: &[Step] = &[
    step!(
        "Read the engine's version and state",
        "Lire la version et l'état du moteur",
        guide = "Démarrage P2",
        cmd = "docker version && docker info"
    ),
    step!(
        "Read the engine's log",
        "Lire le journal du moteur",
        guide = "Démarrage P2",
        cmd = "sudo journalctl -u docker --since -1h"
    ),
];

/// Facts of a reachable engine.
#[derive(Debug, Clone, Serialize)]
pub struct EngineVersion {
    /// Engine version, e.g. `24.0.7`.
    pub version: Option<String>,
    /// API version the engine speaks at most.
    pub api_version: Option<String>,
    /// API version used by this client (negotiated).
    pub client_api_version: String,
    /// Operating system / architecture.
    pub platform: String,
    /// Kernel of the engine's host.
    pub kernel: Option<String>,
}

/// A reachable engine: the client and what it said about itself.
#[derive(Debug, Clone)]
pub struct Engine {
    /// The client (cheap to clone).
    pub docker: Docker,
    /// The address used.
    pub host: String,
    /// Where it is: a local socket or TCP.
    pub endpoint: Endpoint,
    /// Its version.
    pub version: EngineVersion,
    /// Language of the explanations of failed requests.
    pub lang: Lang,
}

/// Whether the docker checks should run when `enabled` is unset.
fn expected(host: &str, project_dir: &Path) -> bool {
    host != DEFAULT_DOCKER_HOST
        || !matches!(std::fs::symlink_metadata("/var/run/docker.sock"), Err(e) if e.kind() == std::io::ErrorKind::NotFound)
        || COMPOSE_FILES.iter().any(|f| project_dir.join(f).exists())
}

/// Connects to the engine at `host` (`enabled`: `[docker] enabled`), negotiates the API version and reads the engine's version.
/// Call it under a timeout (`Ctx::step`).
///
/// # Errors
/// A [`DaemonError`] naming the cause.
pub async fn connect(
    host: &str,
    enabled: Option<bool>,
    project_dir: &Path,
    timeout: Duration,
    lang: Lang,
) -> Result<Engine, DaemonError> {
    let shown = crate::config::redact_url(host);
    tracing::debug!(host = %shown, "Docker: connecting");
    let got = connect_within(host, enabled, project_dir, timeout, lang).await;
    match &got {
        Ok(e) => tracing::debug!(host = %shown, version = ?e.version.version, "Docker: connected"),
        Err(e) => tracing::debug!(host = %shown, cause = %e.describe(Lang::En), "Docker: not used"),
    }
    got
}

/// [`connect`] itself.
async fn connect_within(
    host: &str,
    enabled: Option<bool>,
    project_dir: &Path,
    timeout: Duration,
    lang: Lang,
) -> Result<Engine, DaemonError> {
    if enabled == Some(false) {
        return Err(DaemonError::Disabled);
    }
    // What messages show: credentials in the address (`tcp://user:password@host`) are not.
    let (real, host) = (host, crate::config::redact_url(host));
    let endpoint = parse_host(real, lang).map_err(|detail| DaemonError::WrongHost {
        host: host.clone(),
        detail,
    })?;
    if enabled.is_none() && !expected(real, project_dir) {
        return Err(DaemonError::NotConfigured);
    }
    // Longer than the step timeout: the caller's `ctx.step` decides, as for every other check.
    let secs = timeout.as_secs() + 2;
    let docker = match &endpoint {
        Endpoint::Unix(path) => {
            check_socket(path, &host, lang)?;
            Docker::connect_with_unix(&path.to_string_lossy(), secs, API_DEFAULT_VERSION)
        }
        Endpoint::Tcp(addr) => Docker::connect_with_http(addr, secs, API_DEFAULT_VERSION),
    }
    .map_err(|e| classify(&endpoint, &host, &e, lang))?;
    let docker = docker
        .negotiate_version()
        .await
        .map_err(|e| not_docker(classify(&endpoint, &host, &e, lang), &e, lang))?;
    let v = docker
        .version()
        .await
        .map_err(|e| not_docker(classify(&endpoint, &host, &e, lang), &e, lang))?;
    let client = docker.client_version();
    let version = EngineVersion {
        version: v.version,
        api_version: v.api_version,
        client_api_version: format!("{}.{}", client.major_version, client.minor_version),
        platform: format!(
            "{}/{}",
            v.os.unwrap_or_default(),
            v.arch.unwrap_or_default()
        ),
        kernel: v.kernel_version,
    };
    Ok(Engine {
        docker,
        host,
        endpoint,
        version,
        lang,
    })
}

/// Looks at the socket file itself: missing, not a socket, or not reachable by this user.
fn check_socket(path: &Path, host: &str, lang: Lang) -> Result<(), DaemonError> {
    use std::os::unix::fs::FileTypeExt;
    let shown = path.display();
    match std::fs::metadata(path) {
        Ok(m) if m.file_type().is_socket() => Ok(()),
        Ok(_) => Err(DaemonError::WrongHost {
            host: host.into(),
            detail: tr!(
                lang,
                "{shown} is not a socket",
                "{shown} n'est pas un socket"
            ),
        }),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Err(DaemonError::NotRunning {
            host: host.into(),
            detail: tr!(lang, "no socket at {shown}", "pas de socket {shown}"),
        }),
        Err(e) if e.kind() == std::io::ErrorKind::PermissionDenied => {
            Err(DaemonError::PermissionDenied {
                host: host.into(),
                detail: format!("{shown}: {e}"),
            })
        }
        Err(e) => Err(DaemonError::WrongHost {
            host: host.into(),
            detail: format!("{shown}: {e}"),
        }),
    }
}

/// While connecting, a peer that breaks HTTP (rather than answering an HTTP error) is not a Docker engine.
fn not_docker(d: DaemonError, e: &bollard::errors::Error, lang: Lang) -> DaemonError {
    match d {
        DaemonError::Api { host, detail }
            if !matches!(
                e,
                bollard::errors::Error::DockerResponseServerError { .. }
                    | bollard::errors::Error::RequestTimeoutError
            ) =>
        {
            DaemonError::WrongHost {
                host,
                detail: tr!(
                    lang,
                    "does not answer like a Docker engine ({detail})",
                    "ne répond pas comme un moteur Docker ({detail})"
                ),
            }
        }
        other => other,
    }
}

/// Explains a failed request to the engine.
#[must_use]
pub fn classify(
    endpoint: &Endpoint,
    host: &str,
    e: &bollard::errors::Error,
    lang: Lang,
) -> DaemonError {
    use bollard::errors::Error as B;
    use std::io::ErrorKind as K;
    let host = host.to_owned();
    if let Some(io) = crate::probe::find_io_error(e) {
        let detail = io.to_string();
        return match (io.kind(), endpoint) {
            (K::PermissionDenied, _) => DaemonError::PermissionDenied { host, detail },
            (K::NotFound | K::ConnectionRefused, Endpoint::Unix(_)) => {
                DaemonError::NotRunning { host, detail }
            }
            (K::ConnectionRefused, Endpoint::Tcp(_)) => DaemonError::WrongHost {
                host,
                detail: tr!(
                    lang,
                    "nothing listens there ({detail})",
                    "rien n'écoute à cette adresse ({detail})"
                ),
            },
            (_, Endpoint::Tcp(_)) => DaemonError::WrongHost { host, detail },
            _ => DaemonError::Api { host, detail },
        };
    }
    match e {
        B::DockerResponseServerError {
            status_code,
            message,
        } => DaemonError::Api {
            host,
            detail: format!(
                "HTTP {status_code}: {}",
                crate::logscan::sample(message.as_bytes())
            ),
        },
        B::JsonDataError { .. } | B::JsonSerdeError { .. } | B::APIVersionParseError {} => {
            DaemonError::WrongHost {
                host,
                detail: tr!(
                    lang,
                    "does not answer like a Docker engine ({e})",
                    "ne répond pas comme un moteur Docker ({e})"
                ),
            }
        }
        B::UnsupportedURISchemeError { .. } | B::SocketNotFoundError(_) => DaemonError::WrongHost {
            host,
            detail: e.to_string(),
        },
        _ => DaemonError::Api {
            host,
            detail: e.to_string(),
        },
    }
}

impl Engine {
    /// Explains a failed request to this engine.
    #[must_use]
    pub fn explain(&self, e: &bollard::errors::Error) -> DaemonError {
        classify(&self.endpoint, &self.host, e, self.lang)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hosts() {
        assert_eq!(
            parse_host("unix:///run/d.sock", Lang::En),
            Ok(Endpoint::Unix("/run/d.sock".into()))
        );
        assert_eq!(
            parse_host("/run/d.sock", Lang::En),
            Ok(Endpoint::Unix("/run/d.sock".into()))
        );
        assert_eq!(
            parse_host("tcp://127.0.0.1:2376", Lang::En),
            Ok(Endpoint::Tcp("127.0.0.1:2376".into()))
        );
        assert_eq!(
            parse_host("tcp://docker", Lang::En),
            Ok(Endpoint::Tcp("docker:2375".into()))
        );
        assert!(parse_host("ssh://me@box", Lang::En)
            .unwrap_err()
            .contains("ssh://"));
        assert!(parse_host("unix://relative", Lang::En).is_err());
        assert!(parse_host("tcp://h:99999", Lang::En).is_err());
        let e =
            parse_host("tcp://me:pw-in-host@box:2375", Lang::En).expect_err("credentials refused");
        assert!(
            !e.contains("pw-in-host") && e.contains("user information"),
            "{e}"
        );
        assert!(parse_host("docker.sock", Lang::En).is_err());
    }

    #[test]
    fn causes_have_remedies() {
        let e = DaemonError::PermissionDenied {
            host: "unix:///x".into(),
            detail: "EACCES".into(),
        };
        let o = e.outcome(Lang::Fr);
        assert_eq!(
            o.status,
            crate::Status::Unknown,
            "a permission the tool lacks is not a broken platform"
        );
        assert!(o.summary.contains("groupe docker"), "{}", o.summary);
        assert!(o
            .remediation
            .iter()
            .any(|r| r.command.as_deref() == Some("sudo usermod -aG docker $USER")));
        assert!(
            o.remediation
                .iter()
                .any(|r| r.text.contains("lecture seule")),
            "{:?}",
            o.remediation
        );
        assert_eq!(
            DaemonError::NotConfigured.outcome(Lang::En).status,
            crate::Status::Skipped
        );
    }
}

/// Bytes of log read from one container at most by [`read_log`].
pub const LOG_BYTES: usize = 1 << 20;

/// Which part of a container's log [`stream_log`] reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LogWindow {
    /// The last lines only (`docker logs --tail`); all when `None`.
    pub tail: Option<u32>,
    /// Lines not older than this, Unix seconds (`docker logs --since`).
    pub since: Option<i64>,
    /// Each line prefixed with the engine's RFC 3339 time (`docker logs --timestamps`).
    pub timestamps: bool,
    /// Bytes read at most.
    pub max_bytes: usize,
}

/// Streams a container's recent log (stdout and stderr, no timestamps) into `sink`,
/// at most `lines` lines not older than `since_secs`, and at most [`LOG_BYTES`].
///
/// # Errors
/// The engine's error.
pub async fn read_log(
    docker: &Docker,
    id: &str,
    lines: u32,
    since_secs: Option<u64>,
    sink: impl FnMut(&[u8]),
) -> Result<(), bollard::errors::Error> {
    let since = since_secs.map(|s| {
        chrono::Utc::now()
            .timestamp()
            .saturating_sub(i64::try_from(s).unwrap_or(i64::MAX))
    });
    stream_log(
        docker,
        id,
        &LogWindow {
            tail: Some(lines),
            since,
            timestamps: false,
            max_bytes: LOG_BYTES,
        },
        sink,
    )
    .await
}

/// Streams the part of a container's log (stdout and stderr) that `window` says into `sink`,
/// in the frames the engine sends (not cut at line ends).
///
/// # Errors
/// The engine's error.
pub async fn stream_log(
    docker: &Docker,
    id: &str,
    window: &LogWindow,
    mut sink: impl FnMut(&[u8]),
) -> Result<(), bollard::errors::Error> {
    use futures::StreamExt;
    let mut opts = bollard::query_parameters::LogsOptionsBuilder::new()
        .stdout(true)
        .stderr(true)
        .timestamps(window.timestamps);
    if let Some(lines) = window.tail {
        opts = opts.tail(&lines.to_string());
    }
    if let Some(since) = window.since {
        opts = opts.since(i32::try_from(since.max(0)).unwrap_or(i32::MAX));
    }
    let mut stream = docker.logs(id, Some(opts.build()));
    let mut left = window.max_bytes;
    while let Some(frame) = stream.next().await {
        let frame = frame?;
        let bytes: &[u8] = frame.as_ref();
        let n = bytes.len().min(left);
        sink(&bytes[..n]);
        left -= n;
        if left == 0 {
            break;
        }
    }
    Ok(())
}

/// The containers (any state) of a compose service of a project, newest first.
///
/// # Errors
/// The engine's error.
pub async fn service_containers(
    docker: &Docker,
    project: &str,
    service: &str,
) -> Result<Vec<String>, bollard::errors::Error> {
    let filters = std::collections::HashMap::from([(
        "label",
        vec![
            format!("{PROJECT_LABEL}={project}"),
            format!("{SERVICE_LABEL}={service}"),
        ],
    )]);
    let mut list = docker
        .list_containers(Some(
            bollard::query_parameters::ListContainersOptionsBuilder::new()
                .all(true)
                .filters(&filters)
                .build(),
        ))
        .await?;
    list.sort_by_key(|c| std::cmp::Reverse(c.created.unwrap_or(0)));
    Ok(list.into_iter().filter_map(|c| c.id).collect())
}
