//! The outgoing proxy (guide: Réseau P1): `HTTPS_PROXY`, `HTTP_PROXY`, `ALL_PROXY` and
//! `NO_PROXY` (and their lower-case forms) from the process environment, then the platform's
//! `.env`, overridden by `[network] proxy` / `no_proxy`. [`Proxies::apply`] makes a
//! `reqwest` client follow exactly these rules (every HTTP client of the tool is built by
//! [`crate::http::client_builder`], which calls it), and [`Proxies::route`] tells which way a
//! URL goes, with the same matcher. A proxy's credentials are never shown.

use std::net::IpAddr;
use std::sync::Arc;

use serde::Serialize;

use crate::config::{redact_url, Config};

/// Where a proxy setting was found.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Origin {
    /// `[network]` of the configuration.
    Config,
    /// The process environment.
    Environment,
    /// The platform's `.env`.
    EnvFile,
}

/// One proxy variable found, its value shown with credentials redacted.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Variable {
    /// Name (`HTTPS_PROXY`, `no_proxy`, `[network] proxy`...).
    pub name: String,
    /// Where it was found.
    pub origin: Origin,
    /// Value, credentials redacted.
    pub value: String,
}

/// Which way a request to a URL goes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Route {
    /// Straight to the host: no proxy for this scheme.
    Direct,
    /// Straight to the host: `NO_PROXY` names it (the matching entry).
    Bypass(String),
    /// Through this proxy (credentials kept: use [`redact_url`] to show it).
    Proxy(reqwest::Url),
}

/// A `NO_PROXY` entry.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Entry {
    /// `*`: every host.
    All,
    /// A name (lower case, no leading dot): the name itself and every name under it.
    Domain(String),
    /// An address.
    Ip(IpAddr),
    /// A network, `10.0.0.0/8`.
    Net(ipnet::IpNet),
}

/// A parsed `NO_PROXY` list: names match themselves and their subdomains (`example.org` and
/// `.example.org` both match `a.example.org`; `*.example.org` is read as `.example.org`), `*`
/// matches every host, addresses and CIDR networks match addresses written in the URL. A port
/// after an entry is ignored. Nothing is implicit: `localhost` goes through the proxy unless
/// listed, as curl does.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct NoProxy(Vec<(String, Entry)>);

impl NoProxy {
    /// Parses a comma- (or space-) separated list; empty entries are ignored.
    #[must_use]
    pub fn parse(list: &str) -> Self {
        let mut out = Vec::new();
        for raw in list
            .split([',', ' ', '\t'])
            .map(str::trim)
            .filter(|e| !e.is_empty())
        {
            let entry = if raw == "*" {
                Entry::All
            } else if let Ok(net) = raw.parse::<ipnet::IpNet>() {
                Entry::Net(net)
            } else if let Ok(ip) = raw
                .trim_start_matches('[')
                .trim_end_matches(']')
                .parse::<IpAddr>()
            {
                Entry::Ip(ip)
            } else {
                // `[::1]:8080`, `host:3128`: the port is ignored.
                let host = match raw.strip_prefix('[') {
                    Some(rest) => rest.split(']').next().unwrap_or(rest),
                    None => raw.rsplit_once(':').map_or(raw, |(h, _)| h),
                };
                if let Ok(ip) = host.parse::<IpAddr>() {
                    Entry::Ip(ip)
                } else {
                    let name = host
                        .trim_start_matches("*.")
                        .trim_start_matches('.')
                        .trim_end_matches('.')
                        .to_ascii_lowercase();
                    if name.is_empty() {
                        continue;
                    }
                    Entry::Domain(name)
                }
            };
            out.push((raw.to_owned(), entry));
        }
        Self(out)
    }

    /// The entry that names `host` (a name or an address as written in a URL), if any.
    #[must_use]
    pub fn matching(&self, host: &str) -> Option<&str> {
        let host = host
            .trim_start_matches('[')
            .trim_end_matches(']')
            .trim_end_matches('.')
            .to_ascii_lowercase();
        let ip = host.parse::<IpAddr>().ok();
        self.0
            .iter()
            .find(|(_, e)| match e {
                Entry::All => true,
                Entry::Ip(a) => ip == Some(*a),
                Entry::Net(n) => ip.is_some_and(|ip| n.contains(&ip)),
                Entry::Domain(d) => {
                    host == *d
                        || host
                            .strip_suffix(d.as_str())
                            .is_some_and(|rest| rest.ends_with('.'))
                }
            })
            .map(|(raw, _)| raw.as_str())
    }

    /// No entry.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

/// Why a proxy value cannot be used (never the value: it may hold a password).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "problem", rename_all = "snake_case")]
pub enum BadProxy {
    /// Not a URL: the parser's reason.
    NotUrl {
        /// The parser's reason.
        reason: String,
    },
    /// A scheme other than `http`/`https` (`socks5`...).
    Scheme {
        /// The scheme.
        scheme: String,
    },
    /// No host.
    NoHost,
}

impl BadProxy {
    /// In a few words.
    #[must_use]
    pub fn describe(&self, lang: crate::Lang) -> String {
        match self {
            Self::NotUrl { reason } => crate::tr!(lang, "not a URL: {reason}", "pas une URL : {reason}"),
            Self::Scheme { scheme } => crate::tr!(
                lang,
                "unsupported proxy scheme {scheme}: only http:// and https:// proxies are supported",
                "schéma de proxy {scheme} non pris en charge : seuls les proxys http:// et https:// le sont"
            ),
            Self::NoHost => crate::tr!(lang, "a proxy URL needs a host", "une URL de proxy doit nommer un hôte"),
        }
    }
}

/// A value that could not be used: the variable (or `[network] proxy`) and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Invalid {
    /// The variable.
    pub name: String,
    /// Why.
    #[serde(flatten)]
    pub problem: BadProxy,
}

/// A proxy URL as the variables write it: `host:3128` means `http://host:3128`; only `http`
/// and `https` proxies are supported.
///
/// # Errors
/// [`BadProxy`]: why it is not a usable proxy URL.
pub fn parse_proxy_url(value: &str) -> Result<reqwest::Url, BadProxy> {
    let value = value.trim();
    let with_scheme = if value.contains("://") {
        value.to_owned()
    } else {
        format!("http://{value}")
    };
    let url = reqwest::Url::parse(&with_scheme).map_err(|e| BadProxy::NotUrl {
        reason: e.to_string(),
    })?;
    if !matches!(url.scheme(), "http" | "https") {
        return Err(BadProxy::Scheme {
            scheme: url.scheme().chars().take(32).collect(),
        });
    }
    if url.host_str().is_none_or(str::is_empty) {
        return Err(BadProxy::NoHost);
    }
    Ok(url)
}

/// The proxy rules of a run: a proxy per scheme, the `NO_PROXY` list, and the variables they
/// came from. Its `Debug` shows no credential.
#[derive(Clone, Default)]
pub struct Proxies {
    http: Option<reqwest::Url>,
    https: Option<reqwest::Url>,
    no_proxy: NoProxy,
    /// The variables found, values redacted, in the order they were looked up.
    pub variables: Vec<Variable>,
    /// Values that could not be used, and why.
    pub invalid: Vec<Invalid>,
}

impl std::fmt::Debug for Proxies {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Proxies")
            .field("http", &self.http.as_ref().map(|u| redact_url(u.as_str())))
            .field(
                "https",
                &self.https.as_ref().map(|u| redact_url(u.as_str())),
            )
            .field("no_proxy", &self.no_proxy)
            .finish_non_exhaustive()
    }
}

/// Names looked up, in order of precedence, for each setting (curl's order: the lower-case
/// form first).
const HTTPS_NAMES: &[&str] = &["https_proxy", "HTTPS_PROXY"];
const HTTP_NAMES: &[&str] = &["http_proxy", "HTTP_PROXY"];
const ALL_NAMES: &[&str] = &["all_proxy", "ALL_PROXY"];
const NO_PROXY_NAMES: &[&str] = &["no_proxy", "NO_PROXY"];

impl Proxies {
    /// The rules of a configuration: `[network] proxy` / `no_proxy` if set, else the
    /// variables of the process environment, else those of the project's `.env`.
    #[must_use]
    pub fn resolve(config: &Config) -> Self {
        let env = &config.env;
        Self::from_lookup(
            config
                .network
                .proxy
                .as_ref()
                .map(crate::config::CredentialUrl::expose),
            config.network.no_proxy.as_deref(),
            |name| {
                std::env::var(name)
                    .ok()
                    .filter(|v| !v.trim().is_empty())
                    .map(|v| (v, Origin::Environment))
                    .or_else(|| env.get(name).map(|v| (v.to_owned(), Origin::EnvFile)))
            },
        )
    }

    /// Rules from explicit values only (no variable): for Rust callers and tests.
    #[must_use]
    pub fn explicit(proxy: Option<&str>, no_proxy: Option<&str>) -> Self {
        Self::from_lookup(proxy, no_proxy, |_| None)
    }

    /// Rules from the overrides, then variables found by `lookup` (value, where it was found).
    fn from_lookup(
        proxy: Option<&str>,
        no_proxy: Option<&str>,
        lookup: impl Fn(&str) -> Option<(String, Origin)>,
    ) -> Self {
        let mut me = Self::default();
        let mut find = |names: &[&str]| -> Option<(String, String)> {
            let (name, (value, origin)) = names.iter().find_map(|n| lookup(n).map(|v| (*n, v)))?;
            me.variables.push(Variable {
                name: name.to_owned(),
                origin,
                value: redact_url(&value),
            });
            Some((name.to_owned(), value))
        };
        let configured = |p: &str| Some(("[network] proxy".to_owned(), p.to_owned()));
        let (all, https, http) = match proxy {
            Some(p) => (None, configured(p), configured(p)),
            None => (find(ALL_NAMES), find(HTTPS_NAMES), find(HTTP_NAMES)),
        };
        let list = match no_proxy {
            Some(n) => Some(n.to_owned()),
            None => find(NO_PROXY_NAMES).map(|(_, v)| v),
        };
        if let Some(p) = proxy {
            me.variables.insert(
                0,
                Variable {
                    name: "[network] proxy".into(),
                    origin: Origin::Config,
                    value: redact_url(p),
                },
            );
        }
        if let Some(n) = no_proxy {
            me.variables.push(Variable {
                name: "[network] no_proxy".into(),
                origin: Origin::Config,
                value: n.to_owned(),
            });
        }
        let mut parse = |found: Option<(String, String)>| -> Option<reqwest::Url> {
            let (name, value) = found.filter(|(_, v)| !v.trim().is_empty())?;
            match parse_proxy_url(&value) {
                Ok(u) => Some(u),
                Err(e) => {
                    me.invalid.push(Invalid { name, problem: e });
                    None
                }
            }
        };
        let all = parse(all);
        me.https = parse(https).or_else(|| all.clone());
        me.http = parse(http).or(all);
        me.no_proxy = NoProxy::parse(list.as_deref().unwrap_or(""));
        me
    }

    /// A proxy is set for at least one scheme.
    #[must_use]
    pub fn any(&self) -> bool {
        self.http.is_some() || self.https.is_some()
    }

    /// The `NO_PROXY` list in force.
    #[must_use]
    pub fn no_proxy(&self) -> &NoProxy {
        &self.no_proxy
    }

    /// Which way a request to `url` goes.
    #[must_use]
    pub fn route(&self, url: &reqwest::Url) -> Route {
        let proxy = if url.scheme() == "https" {
            &self.https
        } else {
            &self.http
        };
        let Some(proxy) = proxy else {
            return Route::Direct;
        };
        let host = url.host_str().unwrap_or_default();
        match self.no_proxy.matching(host) {
            Some(entry) => Route::Bypass(entry.to_owned()),
            None => Route::Proxy(proxy.clone()),
        }
    }

    /// The client follows these rules and no other: the system's proxy variables are not read
    /// again by `reqwest`.
    pub fn apply(&self, builder: reqwest::ClientBuilder) -> reqwest::ClientBuilder {
        let builder = builder.no_proxy();
        if !self.any() {
            return builder;
        }
        let me = Arc::new(self.clone());
        builder.proxy(reqwest::Proxy::custom(move |url| match me.route(url) {
            Route::Proxy(p) => Some(p),
            Route::Direct | Route::Bypass(_) => None,
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn url(s: &str) -> reqwest::Url {
        reqwest::Url::parse(s).expect("url")
    }

    #[test]
    fn no_proxy_matches_as_curl_does() {
        let n = NoProxy::parse(
            "localhost, .example.org,*.corp.test 10.0.0.0/8,192.168.1.5,[::1],intra:8080",
        );
        assert_eq!(n.matching("localhost"), Some("localhost"));
        assert_eq!(n.matching("a.example.org"), Some(".example.org"));
        assert_eq!(n.matching("example.org"), Some(".example.org"));
        assert_eq!(n.matching("badexample.org"), None);
        assert_eq!(n.matching("x.corp.test"), Some("*.corp.test"));
        assert_eq!(n.matching("10.1.2.3"), Some("10.0.0.0/8"));
        assert_eq!(n.matching("192.168.1.5"), Some("192.168.1.5"));
        assert_eq!(n.matching("192.168.1.6"), None);
        assert_eq!(n.matching("[::1]"), Some("[::1]"));
        assert_eq!(n.matching("INTRA"), Some("intra:8080"));
        assert_eq!(n.matching("gateway.api.esante.gouv.fr"), None);
        assert_eq!(NoProxy::parse("*").matching("anything"), Some("*"));
        assert!(NoProxy::parse(" , ").is_empty());
    }

    #[test]
    fn routes_follow_scheme_and_no_proxy() {
        let p = Proxies::from_lookup(None, None, |n| match n {
            "HTTPS_PROXY" => Some(("http://u:secret@proxy.local:3128".into(), Origin::EnvFile)),
            "no_proxy" => Some(("localhost,127.0.0.1".into(), Origin::Environment)),
            _ => None,
        });
        assert_eq!(p.route(&url("http://annuaire.example/")), Route::Direct);
        assert_eq!(
            p.route(&url("https://127.0.0.1:3000/")),
            Route::Bypass("127.0.0.1".into())
        );
        let Route::Proxy(via) =
            p.route(&url("https://gateway.api.esante.gouv.fr/fhir/v2/metadata"))
        else {
            panic!("proxied")
        };
        assert_eq!(via.host_str(), Some("proxy.local"));
        let shown = format!("{p:?} {:?}", p.variables);
        assert!(
            !shown.contains("secret")
                && shown.contains("HTTPS_PROXY")
                && shown.contains("[REDACTED]"),
            "{shown}"
        );
    }

    #[test]
    fn the_configuration_overrides_the_variables() {
        let p = Proxies::from_lookup(Some("proxy.hopital:8080"), Some(""), |n| {
            (n == "https_proxy").then(|| ("http://other:1".into(), Origin::Environment))
        });
        let Route::Proxy(via) = p.route(&url("https://a.example/")) else {
            panic!("proxied")
        };
        assert_eq!(via.as_str(), "http://proxy.hopital:8080/");
        assert!(
            p.variables.iter().all(|v| v.origin == Origin::Config),
            "{:?}",
            p.variables
        );
        let none = Proxies::explicit(Some(""), None);
        assert!(!none.any());
        let bad = Proxies::explicit(Some("socks5://p:1080"), None);
        assert!(
            !bad.any()
                && bad.invalid[0].problem
                    == BadProxy::Scheme {
                        scheme: "socks5".into()
                    },
            "{:?}",
            bad.invalid
        );
        assert!(bad.invalid[0]
            .problem
            .describe(crate::Lang::Fr)
            .starts_with("schéma de proxy socks5 non pris en charge"));
    }
}
