//! The API server: HTTP/1.1 with JSON bodies on a unix socket. So far it answers
//! `GET /v1/info`, `GET /v1/containers` and `GET /v1/containers/{id}`; every error is
//! `{code, message}` with a stable code.

use crate::config::Config;
use crate::store::{ContainerEntry, ContainersConf};
use berth_api::{codes, Container, ErrorBody, Info, RestartPolicy, RuntimeInfo, Status};
use berth_runtime::{CommandError, Runtime, RuntimeError};
use http_body_util::Full;
use hyper::body::{Bytes, Incoming};
use hyper::{Method, Request, Response, StatusCode};
use std::convert::Infallible;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use tokio::net::UnixListener;

/// What request handlers share.
pub struct ApiState {
    pub config: Config,
    pub podman: Arc<dyn Runtime>,
}

impl ApiState {
    fn containers_path(&self) -> PathBuf {
        self.config.service.working_path.join("containers.conf")
    }
}

fn json<T: serde::Serialize>(status: StatusCode, body: &T) -> Response<Full<Bytes>> {
    let bytes = serde_json::to_vec(body).expect("API types serialise");
    Response::builder()
        .status(status)
        .header("content-type", "application/json")
        .body(Full::new(Bytes::from(bytes)))
        .expect("valid response")
}

fn error(status: StatusCode, code: &str, message: impl Into<String>) -> Response<Full<Bytes>> {
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

fn free_bytes(path: &Path) -> u64 {
    rustix::fs::statvfs(path)
        .map(|s| s.f_bavail.saturating_mul(s.f_frsize))
        .unwrap_or(0)
}

fn info(state: &ApiState) -> Info {
    let wp = &state.config.service.working_path;
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
        free_bytes: free_bytes(wp),
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

/// An error answer not yet rendered: status, stable code, message.
struct ApiError(StatusCode, &'static str, String);

impl From<ApiError> for Response<Full<Bytes>> {
    fn from(ApiError(status, code, message): ApiError) -> Self {
        error(status, code, message)
    }
}

/// containers.conf, or why it cannot be read.
fn load_containers(state: &ApiState) -> Result<ContainersConf, ApiError> {
    ContainersConf::load(&state.containers_path()).map_err(|e| {
        ApiError(
            StatusCode::INTERNAL_SERVER_ERROR,
            codes::STORE_INVALID,
            e.to_string(),
        )
    })
}

/// The registered container `id`, or why there is none.
fn find(state: &ApiState, id: &str) -> Result<ContainerEntry, ApiError> {
    load_containers(state)?
        .containers
        .into_iter()
        .find(|e| e.id == id)
        .ok_or_else(|| {
            ApiError(
                StatusCode::NOT_FOUND,
                codes::NO_SUCH_CONTAINER,
                format!("no container {id}"),
            )
        })
}

fn route(state: &ApiState, method: &Method, path: &str) -> Response<Full<Bytes>> {
    let parts: Vec<&str> = path.trim_end_matches('/').split('/').collect();
    match parts.as_slice() {
        ["", "v1", "info"] | ["", "v1", "containers"] | ["", "v1", "containers", _]
            if method != Method::GET =>
        {
            error(
                StatusCode::METHOD_NOT_ALLOWED,
                codes::METHOD_NOT_ALLOWED,
                format!("{method} {path} is not supported"),
            )
        }
        ["", "v1", "info"] => json(StatusCode::OK, &info(state)),
        ["", "v1", "containers"] => match load_containers(state) {
            Ok(c) => json(
                StatusCode::OK,
                &c.containers.iter().map(to_api).collect::<Vec<_>>(),
            ),
            Err(e) => e.into(),
        },
        ["", "v1", "containers", id] => match find(state, id) {
            Ok(e) => json(StatusCode::OK, &to_api(&e)),
            Err(e) => e.into(),
        },
        _ => error(
            StatusCode::NOT_FOUND,
            codes::NOT_FOUND,
            format!("no such endpoint: {path}"),
        ),
    }
}

/// `GET /v1/containers/{id}/status`: asks the runtime, off the async threads.
async fn status(state: Arc<ApiState>, id: String) -> Response<Full<Bytes>> {
    let entry = match find(&state, &id) {
        Ok(e) => e,
        Err(e) => return e.into(),
    };
    if entry.runtime != "podman" {
        return error(
            StatusCode::NOT_IMPLEMENTED,
            codes::RUNTIME_UNAVAILABLE,
            format!("{id}: the {} runtime is not supported yet", entry.runtime),
        );
    }
    let runtime = Arc::clone(&state.podman);
    let lookup = id.clone();
    let answer = tokio::task::spawn_blocking(move || runtime.state(&lookup)).await;
    let status = |s: berth_runtime::ContainerState| Status {
        id: id.clone(),
        runtime: entry.runtime.clone(),
        status: s.status,
        running: s.running,
        pid: s.pid,
        exit_code: s.exit_code,
        started_at: s.started_at,
    };
    match answer {
        Ok(Ok(s)) => json(StatusCode::OK, &status(s)),
        // Removed behind berthd's back: reported, not an error of the request.
        Ok(Err(RuntimeError::NoSuchContainer(_))) => json(
            StatusCode::OK,
            &status(berth_runtime::ContainerState {
                id: id.clone(),
                status: "missing".into(),
                running: false,
                pid: None,
                exit_code: None,
                started_at: None,
            }),
        ),
        Ok(Err(e @ RuntimeError::Command(CommandError::Timeout { .. }))) => error(
            StatusCode::GATEWAY_TIMEOUT,
            codes::RUNTIME_FAILED,
            e.to_string(),
        ),
        Ok(Err(e)) => error(
            StatusCode::BAD_GATEWAY,
            codes::RUNTIME_FAILED,
            e.to_string(),
        ),
        Err(e) => error(
            StatusCode::INTERNAL_SERVER_ERROR,
            codes::INTERNAL,
            e.to_string(),
        ),
    }
}

async fn handle(
    req: Request<Incoming>,
    state: Arc<ApiState>,
) -> Result<Response<Full<Bytes>>, Infallible> {
    let path = req.uri().path().trim_end_matches('/').to_string();
    let parts: Vec<&str> = path.split('/').collect();
    if let (&Method::GET, ["", "v1", "containers", id, "status"]) = (req.method(), parts.as_slice())
    {
        return Ok(status(Arc::clone(&state), id.to_string()).await);
    }
    Ok(route(&state, req.method(), req.uri().path()))
}

/// Serves connections until the future is dropped; each connection on a task of
/// its own, so one slow client does not hold up another.
pub async fn serve(listener: UnixListener, state: Arc<ApiState>) -> std::io::Result<()> {
    loop {
        let (stream, _) = listener.accept().await?;
        let state = Arc::clone(&state);
        tokio::spawn(async move {
            let service = hyper::service::service_fn(move |req| handle(req, Arc::clone(&state)));
            let _ = hyper::server::conn::http1::Builder::new()
                .serve_connection(hyper_util::rt::TokioIo::new(stream), service)
                .await;
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A runtime that has every container running, except "gone".
    struct FakeRuntime;

    impl Runtime for FakeRuntime {
        fn name(&self) -> &'static str {
            "podman"
        }
        fn load_image(&self, _: &Path) -> Result<Vec<String>, RuntimeError> {
            Ok(vec![])
        }
        fn remove_image(&self, _: &str) -> Result<(), RuntimeError> {
            Ok(())
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
            })
        }
    }

    fn state(dir: &Path) -> ApiState {
        let mut config = Config::default();
        config.service.working_path = dir.to_path_buf();
        ApiState {
            config,
            podman: Arc::new(FakeRuntime),
        }
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
        let st = Arc::new(state(dir.path()));
        let (s, v) = body(block_on(status(Arc::clone(&st), "web".into())));
        assert_eq!(
            (s, v["status"].as_str(), v["pid"].as_u64()),
            (StatusCode::OK, Some("running"), Some(42))
        );
        let (_, v) = body(block_on(status(Arc::clone(&st), "gone".into())));
        assert_eq!(v["status"], "missing");
        let (s, v) = body(block_on(status(st, "nope".into())));
        assert_eq!(
            (s, v["code"].as_str()),
            (StatusCode::NOT_FOUND, Some(codes::NO_SUCH_CONTAINER))
        );
    }

    fn body(r: Response<Full<Bytes>>) -> (StatusCode, serde_json::Value) {
        use http_body_util::BodyExt;
        let status = r.status();
        let bytes = block_on(r.into_body().collect()).unwrap().to_bytes();
        (status, serde_json::from_slice(&bytes).unwrap())
    }

    fn block_on<F: std::future::Future>(f: F) -> F::Output {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap()
            .block_on(f)
    }

    #[test]
    fn routes_and_stable_error_codes() {
        let dir = tempfile::tempdir().unwrap();
        let st = state(dir.path());
        let (s, v) = body(route(&st, &Method::GET, "/v1/info"));
        assert_eq!(s, StatusCode::OK);
        assert_eq!(v["working_path"], dir.path().display().to_string());
        let (s, v) = body(route(&st, &Method::GET, "/v1/containers"));
        assert_eq!((s, v), (StatusCode::OK, serde_json::json!([])));
        let (s, v) = body(route(&st, &Method::GET, "/v1/containers/web"));
        assert_eq!(
            (s, v["code"].as_str()),
            (StatusCode::NOT_FOUND, Some(codes::NO_SUCH_CONTAINER))
        );
        let (s, v) = body(route(&st, &Method::DELETE, "/v1/info"));
        assert_eq!(
            (s, v["code"].as_str()),
            (
                StatusCode::METHOD_NOT_ALLOWED,
                Some(codes::METHOD_NOT_ALLOWED)
            )
        );
        let (s, v) = body(route(&st, &Method::GET, "/v2/anything"));
        assert_eq!(
            (s, v["code"].as_str()),
            (StatusCode::NOT_FOUND, Some(codes::NOT_FOUND))
        );
    }

    #[test]
    fn a_broken_containers_conf_is_reported_not_rewritten() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("containers.conf"), b"{\"containers\": 3}").unwrap();
        let (s, v) = body(route(&state(dir.path()), &Method::GET, "/v1/containers"));
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
        assert_eq!(
            std::fs::read(dir.path().join("containers.conf")).unwrap(),
            b"{\"containers\": 3}"
        );
    }
}
