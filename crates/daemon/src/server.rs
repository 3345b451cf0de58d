//! The API server: HTTP/1.1 with JSON bodies on a unix socket. So far it answers
//! `GET /v1/info`, `GET /v1/containers` and `GET /v1/containers/{id}`; every error is
//! `{code, message}` with a stable code.

use crate::config::Config;
use crate::store::{ContainerEntry, ContainersConf};
use berth_api::{codes, Container, ErrorBody, Info, RestartPolicy, RuntimeInfo};
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

fn route(state: &ApiState, method: &Method, path: &str) -> Response<Full<Bytes>> {
    let parts: Vec<&str> = path.trim_end_matches('/').split('/').collect();
    let containers = || ContainersConf::load(&state.containers_path());
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
        ["", "v1", "containers"] => match containers() {
            Ok(c) => json(
                StatusCode::OK,
                &c.containers.iter().map(to_api).collect::<Vec<_>>(),
            ),
            Err(e) => error(
                StatusCode::INTERNAL_SERVER_ERROR,
                codes::STORE_INVALID,
                e.to_string(),
            ),
        },
        ["", "v1", "containers", id] => match containers() {
            Ok(c) => match c.containers.iter().find(|e| e.id == *id) {
                Some(e) => json(StatusCode::OK, &to_api(e)),
                None => error(
                    StatusCode::NOT_FOUND,
                    codes::NO_SUCH_CONTAINER,
                    format!("no container {id}"),
                ),
            },
            Err(e) => error(
                StatusCode::INTERNAL_SERVER_ERROR,
                codes::STORE_INVALID,
                e.to_string(),
            ),
        },
        _ => error(
            StatusCode::NOT_FOUND,
            codes::NOT_FOUND,
            format!("no such endpoint: {path}"),
        ),
    }
}

async fn handle(
    req: Request<Incoming>,
    state: Arc<ApiState>,
) -> Result<Response<Full<Bytes>>, Infallible> {
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

    fn state(dir: &Path) -> ApiState {
        let mut config = Config::default();
        config.service.working_path = dir.to_path_buf();
        ApiState { config }
    }

    fn body(r: Response<Full<Bytes>>) -> (StatusCode, serde_json::Value) {
        use http_body_util::BodyExt;
        let status = r.status();
        let bytes = block_on(r.into_body().collect()).unwrap().to_bytes();
        (status, serde_json::from_slice(&bytes).unwrap())
    }

    fn block_on<F: std::future::Future>(f: F) -> F::Output {
        tokio::runtime::Builder::new_current_thread()
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
