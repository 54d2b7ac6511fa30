//! `mssante-diag serve`: a Prometheus exporter. `/metrics` answers with the checks' report in
//! the text exposition format (see [`crate::output`]), `/` with a short page, anything else 404.
//!
//! Scrapes share runs: a report younger than the cache duration is served again, and scrapes
//! that arrive while a run is under way wait for that run instead of starting their own (one
//! run at a time, whatever the number of scrapers). Connections are capped; each request head
//! is bounded in size and time, each connection in time, so a hostile client (an endless
//! request line, a silent socket) never grows memory or holds the server.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use http_body_util::Full;
use hyper::body::{Bytes, Incoming};
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::net::TcpListener;
use tokio::sync::{Mutex, Semaphore};

use crate::config::Config;
use crate::error::{Error, Result};
use crate::output::prometheus::{self, Family};
use crate::runner::Selection;

/// Default time a report is served again before the next scrape runs the checks anew, seconds.
pub const DEFAULT_CACHE_SECS: u64 = 30;
/// Default number of connections served at once; more are closed on accept.
pub const DEFAULT_MAX_CONNECTIONS: usize = 32;
/// Largest request head (request line and headers) read, bytes (hyper's smallest buffer).
pub const MAX_REQUEST_BYTES: usize = 8192;
/// Time a client has to send a request head.
pub const HEADER_TIMEOUT: Duration = Duration::from_secs(5);
/// Longest life of one connection (keep-alive included).
pub const CONNECTION_TIMEOUT: Duration = Duration::from_secs(120);

/// How `serve` runs.
#[derive(Debug, Clone)]
pub struct Options {
    /// Address to listen on (`127.0.0.1:9917`; port 0 picks a free one).
    pub listen: SocketAddr,
    /// How long a report is served again (0: every scrape runs, concurrent scrapes still share one run).
    pub cache: Duration,
    /// The checks each run covers.
    pub selection: Selection,
    /// Connections served at once.
    pub max_connections: usize,
}

impl Options {
    /// Every check, the default cache and connection limit, on `listen`.
    #[must_use]
    pub fn new(listen: SocketAddr) -> Self {
        Self {
            listen,
            cache: Duration::from_secs(DEFAULT_CACHE_SECS),
            selection: Selection::All,
            max_connections: DEFAULT_MAX_CONNECTIONS,
        }
    }
}

/// The last report, as exposition families, and when its run ended.
struct Cached {
    finished: Instant,
    families: Arc<Vec<Family>>,
}

/// What the requests share: the configuration, the cache and the exporter's own counters.
struct Exporter {
    config: Arc<Config>,
    options: Options,
    slot: Mutex<Option<Cached>>,
    runs: AtomicU64,
    cache_hits: AtomicU64,
    requests: AtomicU64,
}

impl Exporter {
    /// The report a scrape arriving at `arrived` gets: the cached one when fresh or finished
    /// after the scrape arrived, else a new run (one at a time: the others wait for it).
    async fn report(&self, arrived: Instant) -> Result<(Arc<Vec<Family>>, Instant)> {
        let mut slot = self.slot.lock().await;
        if let Some(c) = slot.as_ref() {
            if c.finished >= arrived || c.finished.elapsed() < self.options.cache {
                self.cache_hits.fetch_add(1, Ordering::Relaxed);
                return Ok((c.families.clone(), c.finished));
            }
        }
        let report = crate::runner::run(self.config.clone(), &self.options.selection).await?;
        self.runs.fetch_add(1, Ordering::Relaxed);
        let families = Arc::new(prometheus::families(&report));
        let finished = Instant::now();
        *slot = Some(Cached {
            finished,
            families: families.clone(),
        });
        Ok((families, finished))
    }

    /// The `/metrics` body: the report's families and the exporter's own.
    async fn metrics(self: Arc<Self>) -> Result<String> {
        let arrived = Instant::now();
        let runs_before = self.runs.load(Ordering::Relaxed);
        // In a task of its own: a scraper that hangs up does not abort the run others wait for.
        let me = self.clone();
        let (families, finished) = tokio::spawn(async move { me.report(arrived).await })
            .await
            .map_err(|e| Error::Io {
                path: "serve: run".into(),
                source: std::io::Error::other(e.to_string()),
            })??;
        let mut own = vec![
            Family::new(
                "mssante_diag_exporter_runs_total",
                "Runs of the checks since the exporter started.",
                "counter",
            ),
            Family::new(
                "mssante_diag_exporter_cache_hits_total",
                "Scrapes answered with a report already run.",
                "counter",
            ),
            Family::new(
                "mssante_diag_exporter_requests_total",
                "HTTP requests received since the exporter started.",
                "counter",
            ),
            Family::new(
                "mssante_diag_exporter_report_age_seconds",
                "Age of the report this scrape got, in seconds.",
                "gauge",
            ),
        ];
        #[allow(clippy::cast_precision_loss)]
        let counters = [
            self.runs.load(Ordering::Relaxed) as f64,
            self.cache_hits.load(Ordering::Relaxed) as f64,
            self.requests.load(Ordering::Relaxed) as f64,
        ];
        for (f, v) in own.iter_mut().zip(counters) {
            f.samples.push((vec![], v));
        }
        own[3]
            .samples
            .push((vec![], finished.elapsed().as_secs_f64()));
        let mut text = prometheus::write(&families);
        text.push_str(&prometheus::write(&own));
        tracing::info!(
            ran = self.runs.load(Ordering::Relaxed) > runs_before,
            report_age_s = finished.elapsed().as_secs_f64(),
            duration_ms = arrived.elapsed().as_millis(),
            bytes = text.len(),
            "scrape answered"
        );
        Ok(text)
    }

    async fn handle(self: Arc<Self>, req: Request<Incoming>) -> Response<Full<Bytes>> {
        self.requests.fetch_add(1, Ordering::Relaxed);
        tracing::debug!(method = %req.method(), path = %req.uri().path(), "request");
        let reply = |status: StatusCode, kind: &str, body: String| {
            let mut r = Response::new(Full::new(Bytes::from(body)));
            *r.status_mut() = status;
            if let Ok(v) = kind.parse() {
                r.headers_mut().insert(hyper::header::CONTENT_TYPE, v);
            }
            r
        };
        if req.method() != Method::GET && req.method() != Method::HEAD {
            return reply(
                StatusCode::METHOD_NOT_ALLOWED,
                "text/plain; charset=utf-8",
                "GET only\n".into(),
            );
        }
        match req.uri().path() {
            "/metrics" => match self.metrics().await {
                Ok(text) => reply(
                    StatusCode::OK,
                    "text/plain; version=0.0.4; charset=utf-8",
                    text,
                ),
                Err(e) => reply(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "text/plain; charset=utf-8",
                    format!("{}\n", e.chain()),
                ),
            },
            "/" => reply(
                StatusCode::OK,
                "text/html; charset=utf-8",
                INDEX.replace("{version}", crate::VERSION),
            ),
            _ => reply(
                StatusCode::NOT_FOUND,
                "text/plain; charset=utf-8",
                "not found: see /metrics\n".into(),
            ),
        }
    }
}

const INDEX: &str = "<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\"><title>mssante-diag exporter</title></head>\n<body><h1>mssante-diag {version}</h1>\n<p>Diagnostics of an MSSanté platform for Prometheus / Diagnostic d'une plateforme MSSanté pour Prometheus: <a href=\"/metrics\">/metrics</a></p>\n</body></html>\n";

/// A bound exporter, ready to [`Server::run`].
pub struct Server {
    listener: TcpListener,
    exporter: Arc<Exporter>,
}

impl std::fmt::Debug for Server {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Server")
            .field("listen", &self.listener.local_addr().ok())
            .finish_non_exhaustive()
    }
}

impl Server {
    /// Checks the selection and binds the listening socket.
    ///
    /// # Errors
    /// An unknown check in the selection; an address that cannot be bound.
    pub async fn bind(config: Arc<Config>, options: Options) -> Result<Server> {
        options.selection.resolve(&config)?;
        let listener = TcpListener::bind(options.listen)
            .await
            .map_err(|source| Error::Io {
                path: format!("listen {}", options.listen).into(),
                source,
            })?;
        let exporter = Arc::new(Exporter {
            config,
            options,
            slot: Mutex::new(None),
            runs: AtomicU64::new(0),
            cache_hits: AtomicU64::new(0),
            requests: AtomicU64::new(0),
        });
        Ok(Server { listener, exporter })
    }

    /// The address it listens on (the port chosen when 0 was asked for).
    ///
    /// # Errors
    /// When the socket cannot tell.
    pub fn local_addr(&self) -> Result<SocketAddr> {
        self.listener.local_addr().map_err(|source| Error::Io {
            path: "listen".into(),
            source,
        })
    }

    /// Serves until the task is dropped: the listener and every open connection (keep-alive
    /// included) close with it.
    ///
    /// # Errors
    /// Never in practice: a failed accept (too many open files) is retried after a pause.
    pub async fn run(self) -> Result<()> {
        let slots = Arc::new(Semaphore::new(self.exporter.options.max_connections.max(1)));
        // Owned here, so dropping `run` aborts the connections too; finished ones are reaped
        // on each accept (at most `max_connections` live at once).
        let mut connections = tokio::task::JoinSet::new();
        loop {
            while connections.try_join_next().is_some() {}
            let stream = match self.listener.accept().await {
                Ok((stream, _)) => stream,
                Err(_) => {
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
            };
            // Over the limit: closed at once rather than queued without bound.
            let Ok(permit) = slots.clone().try_acquire_owned() else {
                continue;
            };
            let exporter = self.exporter.clone();
            connections.spawn(async move {
                let _permit = permit;
                let service = hyper::service::service_fn(move |req| {
                    let exporter = exporter.clone();
                    async move { Ok::<_, Infallible>(exporter.handle(req).await) }
                });
                let conn = hyper::server::conn::http1::Builder::new()
                    .timer(TokioTimer::new())
                    .header_read_timeout(HEADER_TIMEOUT)
                    .max_buf_size(MAX_REQUEST_BYTES)
                    .serve_connection(TokioIo::new(stream), service);
                let _ = tokio::time::timeout(CONNECTION_TIMEOUT, conn).await;
            });
        }
    }
}
