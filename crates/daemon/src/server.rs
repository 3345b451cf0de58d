//! The API server: HTTP/1.1 with JSON bodies on a unix socket (docs/api.md). Reads
//! answer from containers.conf and the runtime; operations run on blocking threads
//! (`ops.rs`), so the async thread only moves bytes. Every error is `{code, message}`
//! with a stable code.

use crate::ops::{Daemon, OpError, DEFAULT_STOP_GRACE};
use crate::store::ContainerEntry;
use berth_api::{codes, Container, ErrorBody, Info, RestartPolicy, RuntimeInfo, Status};
use berth_runtime::{CommandError, RuntimeError};
use bytes::Bytes;
use http_body_util::combinators::BoxBody;
use http_body_util::{BodyExt, Full};
use hyper::body::{Frame, Incoming};
use hyper::{Method, Request, Response, StatusCode};
use std::convert::Infallible;
use std::io::{self, Read};
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;
use tokio::net::UnixListener;
use tokio::sync::mpsc;

type Body = BoxBody<Bytes, io::Error>;
type Answer = Response<Body>;

fn full(bytes: impl Into<Bytes>) -> Body {
    Full::new(bytes.into())
        .map_err(|never: Infallible| match never {})
        .boxed()
}

fn json<T: serde::Serialize>(status: StatusCode, body: &T) -> Answer {
    let bytes = serde_json::to_vec(body).expect("API types serialise");
    Response::builder()
        .status(status)
        .header("content-type", "application/json")
        .body(full(bytes))
        .expect("valid response")
}

fn error(status: StatusCode, code: &str, message: impl Into<String>) -> Answer {
    json(
        status,
        &ErrorBody {
            code: code.into(),
            message: message.into(),
        },
    )
}

fn on_path(name: &str) -> bool {
    std::env::var_os("PATH")
        .map(|paths| std::env::split_paths(&paths).any(|d| d.join(name).is_file()))
        .unwrap_or(false)
}

fn info(daemon: &Daemon) -> Info {
    let wp = &daemon.config.service.working_path;
    Info {
        version: env!("CARGO_PKG_VERSION").into(),
        working_path: wp.display().to_string(),
        runtimes: [("podman", "podman"), ("lxc", "lxc-start"), ("runc", "runc")]
            .into_iter()
            .map(|(name, cmd)| RuntimeInfo {
                name: name.into(),
                found: on_path(cmd),
            })
            .collect(),
        free_bytes: crate::ops::free_bytes(wp),
    }
}

fn to_api(e: &ContainerEntry) -> Container {
    Container {
        id: e.id.clone(),
        friendly_name: e.friendly_name.clone(),
        version: e.version.clone(),
        runtime: e.runtime.clone(),
        autostart: e.autostart,
        monitor: e.monitor,
        restart: RestartPolicy {
            enabled: e.restart.enabled,
            max_retries: e.restart.max_retries,
            window: e.restart.window,
            retry_delay: e.restart.retry_delay,
        },
    }
}

/// The answer for a failed operation: its status and stable code.
fn op_error(e: &OpError) -> Answer {
    let (status, code) = match e {
        OpError::Package(_) => (StatusCode::BAD_REQUEST, codes::PACKAGE_INVALID),
        OpError::NoSuchContainer(_) => (StatusCode::NOT_FOUND, codes::NO_SUCH_CONTAINER),
        OpError::AlreadyInstalled { .. } => (StatusCode::CONFLICT, codes::ALREADY_INSTALLED),
        OpError::NoSpace(_) => (StatusCode::INSUFFICIENT_STORAGE, codes::NO_SPACE),
        OpError::BadRequest(_) => (StatusCode::BAD_REQUEST, codes::BAD_REQUEST),
        OpError::Unsupported(_) => (StatusCode::NOT_IMPLEMENTED, codes::RUNTIME_UNAVAILABLE),
        OpError::Runtime {
            source: RuntimeError::Command(CommandError::Timeout { .. }),
            ..
        } => (StatusCode::GATEWAY_TIMEOUT, codes::RUNTIME_FAILED),
        OpError::Runtime {
            source: RuntimeError::NoSuchContainer(_),
            ..
        } => (StatusCode::CONFLICT, codes::RUNTIME_FAILED),
        OpError::Runtime { .. } => (StatusCode::BAD_GATEWAY, codes::RUNTIME_FAILED),
        OpError::Store(crate::store::StoreError::Invalid(_)) => {
            (StatusCode::INTERNAL_SERVER_ERROR, codes::STORE_INVALID)
        }
        OpError::Store(_) | OpError::Io { .. } => {
            (StatusCode::INTERNAL_SERVER_ERROR, codes::INTERNAL)
        }
    };
    error(status, code, error_chain(e))
}

/// An error and its causes on one line.
pub fn error_chain(e: &dyn std::error::Error) -> String {
    let mut line = e.to_string();
    let mut cur = e.source();
    while let Some(c) = cur {
        let text = c.to_string();
        if !line.ends_with(&text) {
            line.push_str(": ");
            line.push_str(&text);
        }
        cur = c.source();
    }
    line
}

/// Runs a blocking operation off the async thread and renders its result.
async fn blocking<T, F>(f: F, ok: StatusCode) -> Answer
where
    T: serde::Serialize + Send + 'static,
    F: FnOnce() -> Result<T, OpError> + Send + 'static,
{
    match tokio::task::spawn_blocking(f).await {
        Ok(Ok(v)) => json(ok, &v),
        Ok(Err(e)) => op_error(&e),
        Err(e) => error(
            StatusCode::INTERNAL_SERVER_ERROR,
            codes::INTERNAL,
            e.to_string(),
        ),
    }
}

fn query<'a>(req: &'a Request<Incoming>, key: &str) -> Option<&'a str> {
    req.uri()
        .query()?
        .split('&')
        .filter_map(|kv| kv.split_once('=').or(Some((kv, ""))))
        .find(|(k, _)| *k == key)
        .map(|(_, v)| v)
}

fn flag(req: &Request<Incoming>, key: &str) -> bool {
    matches!(query(req, key), Some("" | "1" | "true"))
}

fn bad_request(message: String) -> Answer {
    error(StatusCode::BAD_REQUEST, codes::BAD_REQUEST, message)
}

/// A number from the query string, or why it is not one.
fn number(req: &Request<Incoming>, key: &str) -> Result<Option<u64>, String> {
    match query(req, key) {
        None => Ok(None),
        Some(v) => v
            .parse()
            .map(Some)
            .map_err(|_| format!("query parameter {key} must be a whole number, got {v:?}")),
    }
}

/// The request body as a blocking reader, fed by a task as the bytes arrive.
struct BodyReader {
    rx: mpsc::Receiver<io::Result<Bytes>>,
    chunk: Bytes,
}

impl BodyReader {
    fn new(mut body: Incoming) -> Self {
        let (tx, rx) = mpsc::channel(16);
        tokio::spawn(async move {
            while let Some(frame) = body.frame().await {
                let item = match frame {
                    Ok(f) => match f.into_data() {
                        Ok(data) => Ok(data),
                        Err(_) => continue, // trailers
                    },
                    Err(e) => Err(io::Error::new(io::ErrorKind::ConnectionAborted, e)),
                };
                let stop = item.is_err();
                if tx.send(item).await.is_err() || stop {
                    return;
                }
            }
        });
        BodyReader {
            rx,
            chunk: Bytes::new(),
        }
    }
}

impl Read for BodyReader {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        while self.chunk.is_empty() {
            match self.rx.blocking_recv() {
                Some(Ok(b)) => self.chunk = b,
                Some(Err(e)) => return Err(e),
                None => return Ok(0),
            }
        }
        let n = buf.len().min(self.chunk.len());
        buf[..n].copy_from_slice(&self.chunk.split_to(n));
        Ok(n)
    }
}

/// A response body fed from a channel (followed logs).
struct ChannelBody(mpsc::Receiver<Bytes>);

impl hyper::body::Body for ChannelBody {
    type Data = Bytes;
    type Error = io::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, io::Error>>> {
        self.0.poll_recv(cx).map(|o| o.map(|b| Ok(Frame::data(b))))
    }
}

fn text_answer(rx: mpsc::Receiver<Bytes>) -> Answer {
    Response::builder()
        .status(StatusCode::OK)
        .header("content-type", "text/plain; charset=utf-8")
        .body(ChannelBody(rx).boxed())
        .expect("valid response")
}

/// `GET /v1/containers/{id}/logs`: the log file under the working path (both
/// rotations), followed by polling when asked; the runtime's log command for a
/// container created without one.
fn logs(
    daemon: &Daemon,
    id: &str,
    tail: Option<u64>,
    follow: bool,
    since: Option<std::time::SystemTime>,
) -> Result<Answer, OpError> {
    let entry = daemon.entry(id)?;
    let rt = daemon.runtime_for(&entry)?;
    let wp = daemon.config.service.working_path.clone();
    if crate::logs::path(&wp, id).exists() {
        let (text, end) =
            crate::logs::read(&wp, id, since, tail).map_err(|source| OpError::Io {
                context: format!("reading the log of {id}"),
                source,
            })?;
        let (tx, rx) = mpsc::channel(16);
        let id = id.to_string();
        std::thread::spawn(move || {
            if tx.blocking_send(Bytes::from(text)).is_err() || !follow {
                return;
            }
            crate::logs::follow(&wp, &id, end, |more| {
                more.is_empty() && !tx.is_closed()
                    || !more.is_empty() && tx.blocking_send(Bytes::from(more)).is_ok()
            });
        });
        return Ok(text_answer(rx));
    }
    let (program, args) = rt.logs_command(id, tail, follow);
    let mut child = std::process::Command::new(&program)
        .args(&args)
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .map_err(|source| OpError::Io {
            context: format!("running {program} logs"),
            source,
        })?;
    let (tx, rx) = mpsc::channel(16);
    // Both of the container's streams; podman keeps them apart, the log merges them.
    for pipe in [
        child
            .stdout
            .take()
            .map(|p| Box::new(p) as Box<dyn Read + Send>),
        child
            .stderr
            .take()
            .map(|p| Box::new(p) as Box<dyn Read + Send>),
    ]
    .into_iter()
    .flatten()
    {
        let tx = tx.clone();
        std::thread::spawn(move || {
            let mut pipe = pipe;
            let mut buf = vec![0u8; 16 * 1024];
            while let Ok(n) = pipe.read(&mut buf) {
                if n == 0 || tx.blocking_send(Bytes::copy_from_slice(&buf[..n])).is_err() {
                    break;
                }
            }
        });
    }
    // When the client goes away the body is dropped, the senders fail, and the
    // command is killed.
    std::thread::spawn(move || {
        while !tx.is_closed() {
            if let Ok(Some(_)) = child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(200));
        }
        let _ = child.kill();
        let _ = child.wait();
    });
    Ok(text_answer(rx))
}

fn container_status(daemon: &Daemon, id: &str) -> Result<Status, OpError> {
    let entry = daemon.entry(id)?;
    let s = match daemon.runtime_for(&entry)?.state(id) {
        Ok(s) => s,
        // Removed behind berthd's back: reported, not an error of the request.
        Err(RuntimeError::NoSuchContainer(_)) => berth_runtime::ContainerState {
            id: id.into(),
            status: "missing".into(),
            running: false,
            pid: None,
            exit_code: None,
            started_at: None,
            image: None,
            ..Default::default()
        },
        Err(e) => {
            return Err(OpError::Runtime {
                context: format!("asking {} about {id}", entry.runtime),
                source: e,
            })
        }
    };
    let (restart_count, reason) = daemon.supervision_summary(id);
    let word = if s.status == "missing" {
        s.status.clone()
    } else {
        daemon.status_word(id, Some(&s))
    };
    Ok(Status {
        id: id.into(),
        runtime: entry.runtime,
        status: word,
        restart_count,
        reason,
        running: s.running,
        pid: s.pid,
        exit_code: s.exit_code,
        started_at: s.started_at,
    })
}

fn not_allowed(method: &Method, path: &str) -> Answer {
    error(
        StatusCode::METHOD_NOT_ALLOWED,
        codes::METHOD_NOT_ALLOWED,
        format!("{method} {path} is not supported"),
    )
}

/// Reads a small JSON request body.
async fn json_body(body: Incoming) -> Result<serde_json::Value, String> {
    let limited = http_body_util::Limited::new(body, 64 * 1024);
    let bytes = limited
        .collect()
        .await
        .map_err(|e| format!("request body: {e}"))?;
    serde_json::from_slice(&bytes.to_bytes())
        .map_err(|e| format!("request body must be a JSON value: {e}"))
}

fn is_id(id: &str) -> bool {
    berth_package::manifest::check_identifier(id).is_ok()
}

async fn handle(req: Request<Incoming>, daemon: Arc<Daemon>) -> Result<Answer, Infallible> {
    let path = req.uri().path().trim_end_matches('/').to_string();
    let parts: Vec<&str> = path.split('/').collect();
    let method = req.method().clone();
    let d = Arc::clone(&daemon);
    let answer = match (parts.as_slice(), &method) {
        (["", "v1", "info"], &Method::GET) => json(StatusCode::OK, &info(&daemon)),
        (["", "v1", "containers"], &Method::GET) => match daemon.containers() {
            Ok(c) => json(
                StatusCode::OK,
                &c.containers.iter().map(to_api).collect::<Vec<_>>(),
            ),
            Err(e) => op_error(&e.into()),
        },
        (["", "v1", "packages"], &Method::POST) => {
            let force = flag(&req, "force");
            let body = BodyReader::new(req.into_body());
            blocking(move || d.install(body, force), StatusCode::CREATED).await
        }
        (["", "v1", "containers", id, ..], _) if !is_id(id) => error(
            StatusCode::NOT_FOUND,
            codes::NO_SUCH_CONTAINER,
            format!("{id:?} is not a container id"),
        ),
        (["", "v1", "containers", id], &Method::GET) => match daemon.entry(id) {
            Ok(e) => json(StatusCode::OK, &to_api(&e)),
            Err(e) => op_error(&e),
        },
        (["", "v1", "containers", id], &Method::DELETE) => {
            let id = id.to_string();
            blocking(
                move || d.uninstall(&id).map(|_| serde_json::json!({"removed": id})),
                StatusCode::OK,
            )
            .await
        }
        (["", "v1", "containers", id, "status"], &Method::GET) => {
            let id = id.to_string();
            blocking(move || container_status(&d, &id), StatusCode::OK).await
        }
        (["", "v1", "containers", id, "stats"], &Method::GET) => {
            let id = id.to_string();
            blocking(
                move || {
                    let entry = d.entry(&id)?;
                    d.runtime_for(&entry)?
                        .stats(&id)
                        .map_err(|source| OpError::Runtime {
                            context: format!("statistics of {id}"),
                            source,
                        })
                },
                StatusCode::OK,
            )
            .await
        }
        (["", "v1", "containers", id, "logs"], &Method::GET) => {
            let (tail, follow) = match number(&req, "tail") {
                Ok(t) => (t, flag(&req, "follow")),
                Err(m) => return Ok(bad_request(m)),
            };
            let since = match query(&req, "since").map(|v| {
                let v = v
                    .replace("%20", " ")
                    .replace("%3A", ":")
                    .replace("%2B", "+");
                crate::logs::parse_since(&v)
            }) {
                None => None,
                Some(Ok(t)) => Some(t),
                Some(Err(m)) => return Ok(bad_request(m)),
            };
            let id = id.to_string();
            match tokio::task::spawn_blocking(move || logs(&d, &id, tail, follow, since)).await {
                Ok(Ok(a)) => a,
                Ok(Err(e)) => op_error(&e),
                Err(e) => error(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    codes::INTERNAL,
                    e.to_string(),
                ),
            }
        }
        (["", "v1", "containers", id, action @ ("start" | "stop" | "restart")], &Method::POST) => {
            let grace = match number(&req, "time") {
                Ok(t) => t.map(Duration::from_secs).unwrap_or(DEFAULT_STOP_GRACE),
                Err(m) => return Ok(bad_request(m)),
            };
            let (id, action) = (id.to_string(), action.to_string());
            blocking(
                move || {
                    match action.as_str() {
                        "start" => d.start(&id),
                        "stop" => d.stop(&id, grace),
                        _ => d.restart(&id, grace),
                    }?;
                    container_status(&d, &id)
                },
                StatusCode::OK,
            )
            .await
        }
        (["", "v1", "containers", id, "config", key], &Method::PUT) => {
            let (id, key) = (id.to_string(), key.to_string());
            match json_body(req.into_body()).await {
                Ok(value) => {
                    blocking(
                        move || d.config_set(&id, &key, &value).map(|e| to_api(&e)),
                        StatusCode::OK,
                    )
                    .await
                }
                Err(m) => bad_request(m),
            }
        }
        (["", "v1", "info"] | ["", "v1", "containers"] | ["", "v1", "packages"], _)
        | (["", "v1", "containers", _], _)
        | (
            ["", "v1", "containers", _, "status" | "stats" | "logs" | "start" | "stop" | "restart"],
            _,
        )
        | (["", "v1", "containers", _, "config", _], _) => not_allowed(&method, &path),
        _ => error(
            StatusCode::NOT_FOUND,
            codes::NOT_FOUND,
            format!("no such endpoint: {path}"),
        ),
    };
    Ok(answer)
}

/// Serves connections until the future is dropped; each connection on a task of
/// its own, so one slow client does not hold up another.
pub async fn serve(listener: UnixListener, daemon: Arc<Daemon>) -> std::io::Result<()> {
    loop {
        let (stream, _) = listener.accept().await?;
        let daemon = Arc::clone(&daemon);
        tokio::spawn(async move {
            let service = hyper::service::service_fn(move |req| handle(req, Arc::clone(&daemon)));
            let _ = hyper::server::conn::http1::Builder::new()
                .serve_connection(hyper_util::rt::TokioIo::new(stream), service)
                .await;
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Config;
    use berth_runtime::{LoadedImage, Runtime, Stats};
    use std::path::{Path, PathBuf};

    /// A runtime that has every container running, except "gone".
    struct FakeRuntime;

    impl berth_runtime::ImageStore for FakeRuntime {
        fn load_image(&self, _: &Path) -> Result<Vec<String>, RuntimeError> {
            Ok(vec![])
        }
        fn load_stream(
            &self,
            _: &mut dyn Read,
            _: &Path,
            _: &str,
        ) -> Result<Vec<LoadedImage>, RuntimeError> {
            Ok(vec![])
        }
        fn storage_root(&self) -> Result<PathBuf, RuntimeError> {
            Ok("/".into())
        }
        fn remove_image(&self, _: &str) -> Result<(), RuntimeError> {
            Ok(())
        }
        fn discard_image(&self, _: &[String]) -> Result<(), RuntimeError> {
            Ok(())
        }
        fn untag(&self, _: &str, _: &str) -> Result<(), RuntimeError> {
            Ok(())
        }
        fn images(&self) -> Result<Vec<(String, Vec<String>)>, RuntimeError> {
            Ok(vec![])
        }
    }

    impl Runtime for FakeRuntime {
        fn name(&self) -> &'static str {
            "podman"
        }
        fn rename(&self, _: &str, _: &str) -> Result<(), RuntimeError> {
            Ok(())
        }
        fn stats(&self, id: &str) -> Result<Stats, RuntimeError> {
            Err(RuntimeError::NoSuchContainer(id.into()))
        }
        fn logs_command(&self, _: &str, _: Option<u64>, _: bool) -> (String, Vec<String>) {
            ("true".into(), vec![])
        }
        fn list(&self) -> Result<Vec<berth_runtime::ContainerState>, RuntimeError> {
            Ok(vec![])
        }
        fn storage_only(&self) -> Result<Vec<berth_runtime::ContainerState>, RuntimeError> {
            Ok(vec![])
        }
        fn stats_many(&self, _: &[String]) -> Result<Vec<(String, Stats)>, RuntimeError> {
            Ok(vec![])
        }
        fn events_command(&self) -> (String, Vec<String>) {
            ("true".into(), vec![])
        }
        fn parse_exit_event(&self, _: &str) -> Option<(String, Option<i32>)> {
            None
        }
        fn create(&self, _: &str, _: &[String]) -> Result<(), RuntimeError> {
            Ok(())
        }
        fn start(&self, _: &str) -> Result<(), RuntimeError> {
            Ok(())
        }
        fn stop(&self, _: &str, _: std::time::Duration) -> Result<(), RuntimeError> {
            Ok(())
        }
        fn remove(&self, _: &str) -> Result<(), RuntimeError> {
            Ok(())
        }
        fn state(&self, id: &str) -> Result<berth_runtime::ContainerState, RuntimeError> {
            if id == "gone" {
                return Err(RuntimeError::NoSuchContainer(id.into()));
            }
            Ok(berth_runtime::ContainerState {
                id: id.into(),
                status: "running".into(),
                running: true,
                pid: Some(42),
                exit_code: None,
                started_at: None,
                image: None,
                ..Default::default()
            })
        }
    }

    fn daemon(dir: &Path) -> Daemon {
        let mut config = Config::default();
        config.service.working_path = dir.to_path_buf();
        Daemon::new(config, Arc::new(FakeRuntime), Arc::new(FakeRuntime))
    }

    fn body(r: Answer) -> (StatusCode, serde_json::Value) {
        let status = r.status();
        let bytes = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap()
            .block_on(r.into_body().collect())
            .unwrap()
            .to_bytes();
        (status, serde_json::from_slice(&bytes).unwrap())
    }

    #[test]
    fn status_asks_the_runtime_and_reports_a_container_removed_behind_its_back() {
        let dir = tempfile::tempdir().unwrap();
        let entry = |id: &str| {
            serde_json::json!({"id": id, "version": "1", "runtime": "podman", "autostart": true, "monitor": true,
                "restart": {"enabled": true, "max_retries": 1, "retry_delay": 0, "window": 1}})
        };
        let conf = serde_json::json!({"containers": [entry("web"), entry("gone")]});
        std::fs::write(dir.path().join("containers.conf"), conf.to_string()).unwrap();
        let d = daemon(dir.path());
        let s = container_status(&d, "web").unwrap();
        assert_eq!((s.status.as_str(), s.pid), ("running", Some(42)));
        assert_eq!(container_status(&d, "gone").unwrap().status, "missing");
        let (s, v) = body(op_error(&container_status(&d, "nope").unwrap_err()));
        assert_eq!(
            (s, v["code"].as_str()),
            (StatusCode::NOT_FOUND, Some(codes::NO_SUCH_CONTAINER))
        );
    }

    #[test]
    fn every_operation_error_has_its_stable_code() {
        let cases = [
            (
                OpError::Package("x".into()),
                StatusCode::BAD_REQUEST,
                codes::PACKAGE_INVALID,
            ),
            (
                OpError::AlreadyInstalled {
                    id: "a".into(),
                    version: "1".into(),
                },
                StatusCode::CONFLICT,
                codes::ALREADY_INSTALLED,
            ),
            (
                OpError::NoSpace("x".into()),
                StatusCode::INSUFFICIENT_STORAGE,
                codes::NO_SPACE,
            ),
            (
                OpError::BadRequest("x".into()),
                StatusCode::BAD_REQUEST,
                codes::BAD_REQUEST,
            ),
            (
                OpError::Runtime {
                    context: "c".into(),
                    source: RuntimeError::Command(CommandError::Timeout {
                        command: "podman".into(),
                        timeout: Duration::from_secs(1),
                    }),
                },
                StatusCode::GATEWAY_TIMEOUT,
                codes::RUNTIME_FAILED,
            ),
        ];
        for (e, status, code) in cases {
            let (s, v) = body(op_error(&e));
            assert_eq!((s, v["code"].as_str()), (status, Some(code)), "{e}");
        }
    }

    #[test]
    fn a_broken_containers_conf_is_reported_not_rewritten() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("containers.conf"), b"{\"containers\": 3}").unwrap();
        let d = daemon(dir.path());
        let (s, v) = body(op_error(&d.entry("web").unwrap_err()));
        assert_eq!(
            (s, v["code"].as_str()),
            (
                StatusCode::INTERNAL_SERVER_ERROR,
                Some(codes::STORE_INVALID)
            )
        );
        assert!(v["message"]
            .as_str()
            .unwrap()
            .contains("containers is required"));
        let err = d
            .config_set("web", "autostart", &serde_json::json!(false))
            .unwrap_err();
        assert!(err.to_string().contains("containers is required"), "{err}");
        assert_eq!(
            std::fs::read(dir.path().join("containers.conf")).unwrap(),
            b"{\"containers\": 3}"
        );
    }
}
