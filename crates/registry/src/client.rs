//! One registry's HTTP client: the scheme chosen (HTTPS with rustls; plain HTTP for a
//! loopback registry, as docker does for localhost, or with `tls_verify: false`),
//! authentication answered as challenged (Basic, or a Bearer token fetched from the
//! realm the registry names), and retries with backoff on 429 and 5xx that honour
//! Retry-After. Every error names the URL and what the registry said.

use crate::challenge::parse_params;
use crate::creds::{self, Credentials};
use base64::Engine;
use std::io::Read;
use std::sync::Mutex;
use std::time::Duration;

#[derive(Debug, Clone)]
pub struct Options {
    /// `--creds`; else the auth files are read.
    pub creds: Option<Credentials>,
    /// false: plain HTTP to any registry (loopback registries get it anyway).
    pub tls_verify: bool,
    /// Tries after the first on 429, 5xx and dropped connections.
    pub retries: u32,
    /// The first wait between tries (doubled each time, at most `max_backoff`).
    pub backoff: Duration,
    pub max_backoff: Duration,
    /// Blobs fetched at once.
    pub parallel: usize,
    /// How to give credentials, in the error when a registry wants some.
    pub creds_hint: &'static str,
    /// How long a connection may stay silent.
    pub stall_timeout: Duration,
    /// When everything must be done (berthd's per-install deadline); each request
    /// gets what is left.
    pub deadline: Option<std::time::Instant>,
    /// Hosts redirects may lead to (`host_allowed` patterns); empty: any.
    pub allowed_hosts: Vec<String>,
}

/// Whether `host` (`name[:port]`) matches one of `patterns`: `name:port` exactly,
/// `name` with any port, `*.domain` any name below the domain. No patterns: any host.
pub fn host_allowed(patterns: &[String], host: &str) -> bool {
    if patterns.is_empty() {
        return true;
    }
    let host = host.to_ascii_lowercase();
    let name = match host.strip_prefix('[') {
        Some(rest) => format!("[{}]", rest.split(']').next().unwrap_or(rest)),
        None => host
            .rsplit_once(':')
            .map_or(host.clone(), |(n, _)| n.to_string()),
    };
    patterns.iter().any(|p| {
        let p = p.to_ascii_lowercase();
        match p.strip_prefix("*.") {
            Some(domain) => name.ends_with(&format!(".{domain}")),
            None => p == host || p == name,
        }
    })
}

impl Default for Options {
    fn default() -> Options {
        Options {
            creds: None,
            tls_verify: true,
            retries: 5,
            backoff: Duration::from_secs(2),
            max_backoff: Duration::from_secs(60),
            parallel: 4,
            creds_hint: "give --creds USER:PASS or log in with podman/skopeo/docker",
            stall_timeout: Duration::from_secs(60),
            deadline: None,
            allowed_hosts: Vec::new(),
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum RegistryError {
    #[error("{method} {url}: HTTP {status}{message}")]
    Status {
        method: String,
        url: String,
        status: u16,
        message: String,
    },
    #[error("{method} {url}: {why}")]
    Transport {
        method: String,
        url: String,
        why: String,
    },
    #[error("{url}: {why}")]
    Protocol { url: String, why: String },
    #[error("{url}: {why}")]
    Auth { url: String, why: String },
}

impl From<RegistryError> for berth_image::ImageError {
    fn from(e: RegistryError) -> Self {
        berth_image::ImageError::Remote(Box::new(e))
    }
}

/// A request's body, which can be sent again when the request is retried.
#[derive(Clone, Copy)]
pub enum Body<'a> {
    Empty,
    Bytes(&'a [u8]),
}

pub struct Client {
    agent: ureq::Agent,
    base: String,
    pub(crate) registry: String,
    creds: Option<Credentials>,
    /// The Authorization value that last worked (or none yet).
    authorization: Mutex<Option<String>>,
    options: Options,
}

/// Whether `registry` (`host[:port]`) is on the loopback interface.
pub fn is_loopback(registry: &str) -> bool {
    let host = match registry.strip_prefix('[') {
        Some(rest) => rest.split(']').next().unwrap_or(rest),
        None => registry.rsplit_once(':').map_or(registry, |(h, _)| h),
    };
    host == "localhost"
        || host
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback())
}

impl Client {
    pub fn new(registry: &str, options: &Options) -> Client {
        let plain = !options.tls_verify || is_loopback(registry);
        let host = match registry {
            "docker.io" => "registry-1.docker.io",
            other => other,
        };
        // With an allow-list, redirects are followed by `call`, which checks each host.
        let redirects = if options.allowed_hosts.is_empty() {
            5
        } else {
            0
        };
        let agent = ureq::AgentBuilder::new()
            .timeout_connect(options.stall_timeout.min(Duration::from_secs(30)))
            .timeout_read(options.stall_timeout)
            .timeout_write(options.stall_timeout)
            .redirects(redirects)
            // A redirect (a blob on a CDN, say) gets no Authorization: credentials stay
            // with the registry's own origin (ureq's default, stated).
            .redirect_auth_headers(ureq::RedirectAuthHeaders::Never)
            .user_agent(concat!("berth/", env!("CARGO_PKG_VERSION")))
            .build();
        let creds = options
            .creds
            .clone()
            .or_else(|| creds::lookup(registry, &creds::auth_files()));
        Client {
            agent,
            base: format!("{}://{host}", if plain { "http" } else { "https" }),
            registry: registry.to_string(),
            creds,
            authorization: Mutex::new(None),
            options: options.clone(),
        }
    }

    pub fn options(&self) -> &Options {
        &self.options
    }

    /// `path` (`/v2/…`) as a URL; a full URL (an upload's Location) as it is.
    pub fn url(&self, path: &str) -> String {
        if path.starts_with("http://") || path.starts_with("https://") {
            path.to_string()
        } else {
            format!("{}{path}", self.base)
        }
    }

    /// A `Location` the registry answered to a request for `request_path`, resolved
    /// as RFC 3986 says (relative to the request's URL, not glued to the host).
    pub fn resolve(&self, request_path: &str, location: &str) -> Result<String, RegistryError> {
        let request = self.url(request_path);
        url::Url::parse(&request)
            .and_then(|u| u.join(location))
            .map(String::from)
            .map_err(|e| RegistryError::Protocol {
                url: request,
                why: format!("Location {location:?}: {e}"),
            })
    }

    /// Whether `url` is on the registry's own scheme, host and port: only there are
    /// its credentials and tokens sent (an upload `Location` on another host got them,
    /// issue 21, finding 7).
    fn own_origin(&self, url: &str) -> bool {
        match (url::Url::parse(url), url::Url::parse(&self.base)) {
            (Ok(a), Ok(b)) => a.origin() == b.origin(),
            _ => false,
        }
    }

    /// Sends a request, answering an auth challenge and retrying what may pass on a
    /// second try. Statuses of 400 and more are errors unless listed in `accept`.
    pub fn call(
        &self,
        method: &str,
        path: &str,
        headers: &[(&str, &str)],
        body: Body<'_>,
        accept: &[u16],
    ) -> Result<ureq::Response, RegistryError> {
        let mut url = self.url(path);
        let mut wait = self.options.backoff;
        let mut tries = 0;
        let mut redirects = 0;
        let mut authenticated = false;
        loop {
            let mut request = self.agent.request(method, &url);
            if let Some(deadline) = self.options.deadline {
                let left = deadline.saturating_duration_since(std::time::Instant::now());
                if left.is_zero() {
                    return Err(RegistryError::Transport {
                        method: method.into(),
                        url,
                        why: "the deadline passed".into(),
                    });
                }
                request = request.timeout(left);
            }
            for (k, v) in headers {
                request = request.set(k, v);
            }
            if let Some(auth) = self.authorization.lock().expect("unpoisoned").clone() {
                if self.own_origin(&url) {
                    request = request.set("Authorization", &auth);
                }
            }
            let result = match body {
                Body::Empty if method == "PUT" || method == "POST" || method == "PATCH" => {
                    request.set("Content-Length", "0").send_bytes(&[])
                }
                Body::Empty => request.call(),
                Body::Bytes(b) => request.send_bytes(b),
            };
            let retry_after = match result {
                Ok(response) if (300..400).contains(&response.status()) && redirects < 5 => {
                    // Only with an allow-list (ureq follows redirects itself otherwise).
                    let Some(location) = response.header("Location") else {
                        return Ok(response);
                    };
                    let next = url::Url::parse(&url)
                        .and_then(|u| u.join(location))
                        .map_err(|e| RegistryError::Protocol {
                            url: url.clone(),
                            why: format!("redirect to {location:?}: {e}"),
                        })?;
                    let host = match (next.host_str(), next.port()) {
                        (Some(h), Some(p)) => format!("{h}:{p}"),
                        (Some(h), None) => h.to_string(),
                        (None, _) => String::new(),
                    };
                    if !host_allowed(&self.options.allowed_hosts, &host) {
                        return Err(RegistryError::Protocol {
                            url,
                            why: format!(
                                "redirects to {host:?}, which registry.allow does not list"
                            ),
                        });
                    }
                    url = next.into();
                    redirects += 1;
                    continue;
                }
                Ok(response) => return Ok(response),
                Err(ureq::Error::Status(status, response)) if accept.contains(&status) => {
                    return Ok(response)
                }
                Err(ureq::Error::Status(401, response))
                    if !authenticated && self.own_origin(&url) =>
                {
                    authenticated = true;
                    self.answer_challenge(&url, &response)?;
                    continue;
                }
                Err(ureq::Error::Status(status, response))
                    if status == 429 || (500..600).contains(&status) =>
                {
                    if tries >= self.options.retries {
                        return Err(status_error(method, &url, status, response));
                    }
                    response
                        .header("Retry-After")
                        .and_then(|v| v.trim().parse::<u64>().ok())
                        .map(Duration::from_secs)
                }
                Err(ureq::Error::Status(status, response)) => {
                    return Err(status_error(method, &url, status, response))
                }
                Err(ureq::Error::Transport(t)) if t.kind() == ureq::ErrorKind::TooManyRedirects => {
                    return Err(RegistryError::Protocol {
                        url,
                        why: "more than 5 redirects (a redirect loop?)".into(),
                    })
                }
                Err(ureq::Error::Transport(t)) => {
                    let again = matches!(
                        t.kind(),
                        ureq::ErrorKind::Io | ureq::ErrorKind::ConnectionFailed
                    );
                    if !again || tries >= self.options.retries {
                        return Err(RegistryError::Transport {
                            method: method.into(),
                            url,
                            why: t.to_string(),
                        });
                    }
                    None
                }
            };
            tries += 1;
            let pause = retry_after.unwrap_or(wait).min(self.options.max_backoff);
            std::thread::sleep(pause);
            wait = (wait * 2).min(self.options.max_backoff);
        }
    }

    /// Sets the Authorization a 401's `WWW-Authenticate` asks for.
    fn answer_challenge(&self, url: &str, response: &ureq::Response) -> Result<(), RegistryError> {
        let challenge = response
            .header("WWW-Authenticate")
            .unwrap_or("")
            .to_string();
        let (scheme, params) = challenge.split_once(' ').unwrap_or((&challenge, ""));
        let params = parse_params(params);
        let value = match scheme.to_ascii_lowercase().as_str() {
            "basic" => {
                let creds = self.creds.as_ref().ok_or_else(|| RegistryError::Auth {
                    url: url.into(),
                    why: format!(
                        "the registry wants credentials: {}",
                        self.options.creds_hint
                    ),
                })?;
                format!("Basic {}", basic(creds))
            }
            "bearer" => {
                let realm = params
                    .iter()
                    .find(|(k, _)| k == "realm")
                    .map(|(_, v)| v.clone())
                    .ok_or_else(|| RegistryError::Protocol {
                        url: url.into(),
                        why: "a Bearer challenge with no realm".into(),
                    })?;
                format!("Bearer {}", self.token(&realm, &params)?)
            }
            _ => {
                return Err(RegistryError::Protocol {
                    url: url.into(),
                    why: format!(
                        "HTTP 401 with challenge {challenge:?}, which berth cannot answer"
                    ),
                })
            }
        };
        *self.authorization.lock().expect("unpoisoned") = Some(value);
        Ok(())
    }

    /// A token from `realm` for the challenge's service and scope.
    fn token(&self, realm: &str, params: &[(String, String)]) -> Result<String, RegistryError> {
        let mut request = self.agent.get(realm);
        for (k, v) in params {
            if k == "service" || k == "scope" {
                request = request.query(k, v);
            }
        }
        if let Some(creds) = &self.creds {
            // The realm may be another host (Docker Hub's is), but a registry reached
            // over https must not have the password sent in the clear.
            if plain_realm_for_tls(&self.base, realm) {
                return Err(RegistryError::Auth {
                    url: realm.into(),
                    why: "the registry (https) names a plain-http token realm; \
                          credentials are not sent over plain http"
                        .into(),
                });
            }
            request = request.set("Authorization", &format!("Basic {}", basic(creds)));
        }
        let response = request.call().map_err(|e| match e {
            ureq::Error::Status(status, r) => status_error("GET", realm, status, r),
            ureq::Error::Transport(t) => RegistryError::Transport {
                method: "GET".into(),
                url: realm.into(),
                why: t.to_string(),
            },
        })?;
        #[derive(serde::Deserialize)]
        struct Token {
            token: Option<String>,
            access_token: Option<String>,
        }
        let body = read_limited(response, 1 << 20, realm)?;
        let token: Token = serde_json::from_slice(&body).map_err(|e| RegistryError::Protocol {
            url: realm.into(),
            why: format!("token response: {e}"),
        })?;
        token
            .token
            .or(token.access_token)
            .ok_or_else(|| RegistryError::Protocol {
                url: realm.into(),
                why: "token response without token or access_token".into(),
            })
    }
}

/// A token realm over plain http for a registry over https.
fn plain_realm_for_tls(base: &str, realm: &str) -> bool {
    base.starts_with("https://") && !realm.starts_with("https://")
}

fn basic(c: &Credentials) -> String {
    base64::engine::general_purpose::STANDARD.encode(format!("{}:{}", c.username, c.password))
}

fn status_error(method: &str, url: &str, status: u16, response: ureq::Response) -> RegistryError {
    // The distribution spec's error body: {"errors":[{"code","message"}]}.
    let body = read_limited(response, 64 * 1024, url).unwrap_or_default();
    let message = serde_json::from_slice::<serde_json::Value>(&body)
        .ok()
        .and_then(|v| {
            let e = v.get("errors")?.get(0)?.clone();
            Some(format!(
                ": {} {}",
                e.get("code")?.as_str().unwrap_or(""),
                e.get("message").and_then(|m| m.as_str()).unwrap_or("")
            ))
        })
        .unwrap_or_default();
    RegistryError::Status {
        method: method.into(),
        url: url.into(),
        status,
        message,
    }
}

/// A response body of at most `max` bytes; more is an error, not a longer wait.
pub fn read_limited(
    response: ureq::Response,
    max: u64,
    url: &str,
) -> Result<Vec<u8>, RegistryError> {
    let mut out = Vec::new();
    response
        .into_reader()
        .take(max + 1)
        .read_to_end(&mut out)
        .map_err(|e| RegistryError::Protocol {
            url: url.into(),
            why: format!("reading the body: {e}"),
        })?;
    if out.len() as u64 > max {
        return Err(RegistryError::Protocol {
            url: url.into(),
            why: format!("body over {max} bytes"),
        });
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loopback_registries_are_told_apart() {
        assert!(is_loopback("127.0.0.1:5000"));
        assert!(is_loopback("localhost:5000"));
        assert!(is_loopback("[::1]:5000"));
        assert!(is_loopback("127.8.9.1"));
        assert!(!is_loopback("quay.io"));
        assert!(!is_loopback("10.0.0.1:5000"));
    }
}

#[cfg(test)]
mod allow_tests {
    use super::host_allowed;

    #[test]
    fn hosts_are_allowed_by_name_port_or_domain() {
        let p = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        assert!(host_allowed(&[], "anything:1"));
        let list = p(&["registry.example.com", "127.0.0.1:5000", "*.cdn.example"]);
        assert!(host_allowed(&list, "registry.example.com"));
        assert!(host_allowed(&list, "Registry.Example.com:443"));
        assert!(host_allowed(&list, "127.0.0.1:5000"));
        assert!(!host_allowed(&list, "127.0.0.1:5001"));
        assert!(host_allowed(&list, "eu.cdn.example"));
        assert!(!host_allowed(&list, "cdn.example"));
        assert!(!host_allowed(&list, "evil.example.com"));
        assert!(!host_allowed(&list, "registry.example.com.evil"));
    }
}
