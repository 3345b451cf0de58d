//! The API server: HTTP/1.1 with JSON bodies on a unix socket (docs/api.md). Routing
//! is here; the plumbing in `http.rs`, the error answers in `errors.rs`; the work in
//! the daemon's operations, on blocking threads, so the async thread only moves
//! bytes.

mod errors;
mod http;

use crate::daemon::Daemon;
use crate::error::OpError;
use crate::ops::logs::LogRequest;
use crate::ops::DEFAULT_STOP_GRACE;
use crate::store::ContainerEntry;
use berth_api::{codes, Container, Info, RestartPolicy};
use bytes::Bytes;
pub use errors::op_error;
use http::{bad_request, error, flag, json, json_body, number, query, Answer, BodyReader};
use hyper::body::Incoming;
use hyper::{Method, Request, StatusCode};
use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;
use tokio::net::UnixListener;

fn info(daemon: &Daemon) -> Info {
    let wp = daemon.home.working_path();
    Info {
        version: env!("CARGO_PKG_VERSION").into(),
        working_path: wp.display().to_string(),
        runtimes: daemon.runtimes(),
        free_bytes: crate::driver::disk::free_bytes(wp),
        previous: daemon.previous_versions(),
    }
}

fn to_api(daemon: &Daemon, e: &ContainerEntry) -> Container {
    Container {
        health_check: e.health.as_ref().map(crate::health::check_to_api),
        health: daemon.health_of(e).map(|h| h.status.as_str().to_string()),
        follow: e.follow.clone(),
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

fn not_allowed(method: &Method, path: &str) -> Answer {
    error(
        StatusCode::METHOD_NOT_ALLOWED,
        codes::METHOD_NOT_ALLOWED,
        format!("{method} {path} is not supported"),
    )
}

fn is_id(id: &str) -> bool {
    berth_package::manifest::check_identifier(id).is_ok()
}

/// The query of a logs request, checked.
fn log_request(req: &Request<Incoming>) -> Result<LogRequest, String> {
    let since = match query(req, "since")? {
        None => None,
        Some(v) => Some(crate::container_log::parse_since(&v)?),
    };
    Ok(LogRequest {
        tail: number(req, "tail", u64::MAX)?,
        follow: flag(req, "follow")?,
        since,
    })
}

/// `GET .../logs`: the log streamed as the operation sends it.
fn logs(daemon: Arc<Daemon>, id: String, request: LogRequest) -> Answer {
    // The entry is checked first, so an unknown id is a 404, not an empty 200.
    if let Err(e) = daemon.entry(&id) {
        return op_error(&e);
    }
    let (tx, answer) = http::text_stream();
    std::thread::spawn(move || {
        let sent = daemon.logs(&id, &request, |bytes| {
            if bytes.is_empty() {
                !tx.is_closed()
            } else {
                tx.blocking_send(Bytes::from(bytes)).is_ok()
            }
        });
        if let Err(e) = sent {
            crate::daemon_log::warn(format!("logs of {id}: {}", crate::error::error_chain(&e)));
        }
    });
    answer
}

async fn handle(req: Request<Incoming>, daemon: Arc<Daemon>) -> Answer {
    let path = req.uri().path().trim_end_matches('/').to_string();
    let parts: Vec<&str> = path.split('/').collect();
    let method = req.method().clone();
    let d = Arc::clone(&daemon);
    match (parts.as_slice(), &method) {
        (["", "v1", "info"], &Method::GET) => {
            blocking(move || Ok::<_, OpError>(info(&d)), StatusCode::OK).await
        }
        (["", "v1", "containers"], &Method::GET) => match daemon.home.containers() {
            Ok(c) => json(
                StatusCode::OK,
                &c.containers
                    .iter()
                    .map(|e| to_api(&daemon, e))
                    .collect::<Vec<_>>(),
            ),
            Err(e) => op_error(&e.into()),
        },
        (["", "v1", "packages"], &Method::POST) => {
            let (force, follow) = match (flag(&req, "force"), flag(&req, "follow")) {
                (Ok(force), Ok(follow)) => (force, follow),
                (Err(m), _) | (_, Err(m)) => return bad_request(m),
            };
            match query(&req, "from") {
                Err(m) => bad_request(m),
                Ok(Some(reference)) => {
                    blocking(
                        move || d.install_from(&reference, force, follow),
                        StatusCode::CREATED,
                    )
                    .await
                }
                Ok(None) if follow => bad_request(
                    "follow needs a registry reference (from=docker://HOST/REPO:TAG)".into(),
                ),
                Ok(None) => {
                    let body = BodyReader::new(req.into_body());
                    blocking(move || d.install(body, force), StatusCode::CREATED).await
                }
            }
        }
        (["", "v1", "containers", id, ..], _) if !is_id(id) => error(
            StatusCode::NOT_FOUND,
            codes::NO_SUCH_CONTAINER,
            format!("{id:?} is not a container id"),
        ),
        (["", "v1", "containers", id], &Method::GET) => match daemon.entry(id) {
            Ok(e) => json(StatusCode::OK, &to_api(&daemon, &e)),
            Err(e) => op_error(&e),
        },
        (["", "v1", "containers", id], &Method::DELETE) => {
            let id = id.to_string();
            blocking(
                move || d.uninstall(&id).map(|_| berth_api::Removed { removed: id }),
                StatusCode::OK,
            )
            .await
        }
        (["", "v1", "containers", id, "status"], &Method::GET) => {
            let id = id.to_string();
            blocking(move || d.status(&id), StatusCode::OK).await
        }
        (["", "v1", "containers", id, "stats"], &Method::GET) => {
            let id = id.to_string();
            blocking(move || d.stats(&id), StatusCode::OK).await
        }
        (["", "v1", "containers", id, "logs"], &Method::GET) => match log_request(&req) {
            Ok(request) => logs(d, id.to_string(), request),
            Err(m) => bad_request(m),
        },
        (["", "v1", "containers", id, "follow"], &Method::POST) => {
            let id = id.to_string();
            match json_body(req.into_body()).await.and_then(|v| {
                serde_json::from_value::<berth_api::FollowRequest>(v)
                    .map_err(|e| format!("body: {e} (write {{\"reference\": \"docker://HOST/REPO:TAG\"}} or {{\"reference\": null}})"))
            }) {
                Ok(r) => {
                    blocking(
                        move || d.follow(&id, r.reference.as_deref()).map(|e| to_api(&d, &e)),
                        StatusCode::OK,
                    )
                    .await
                }
                Err(m) => bad_request(m),
            }
        }
        (["", "v1", "updates"], &Method::GET) => {
            blocking(move || d.updates(), StatusCode::OK).await
        }
        (["", "v1", "updates", id, "retry"], &Method::POST) => {
            let id = id.to_string();
            blocking(move || d.retry_updates(&id), StatusCode::OK).await
        }
        (["", "v1", "containers", id, "rollback"], &Method::POST) => {
            let id = id.to_string();
            blocking(
                move || d.rollback(&id, "rolled back by hand"),
                StatusCode::OK,
            )
            .await
        }
        (["", "v1", "containers", id, action @ ("start" | "stop" | "restart")], &Method::POST) => {
            // Checked before anything is done: a bad value changes nothing.
            let grace = match number(&req, "time", berth_api::MAX_STOP_SECONDS) {
                Ok(t) => t.map(Duration::from_secs).unwrap_or(DEFAULT_STOP_GRACE),
                Err(m) => return bad_request(m),
            };
            let (id, action) = (id.to_string(), action.to_string());
            blocking(
                move || {
                    match action.as_str() {
                        "start" => d.start(&id),
                        "stop" => d.stop(&id, grace),
                        _ => d.restart(&id, grace),
                    }?;
                    d.status(&id)
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
                        move || d.config_set(&id, &key, &value).map(|e| to_api(&d, &e)),
                        StatusCode::OK,
                    )
                    .await
                }
                Err(m) => bad_request(m),
            }
        }
        (
            ["", "v1", "info"]
            | ["", "v1", "containers"]
            | ["", "v1", "packages"]
            | ["", "v1", "updates"],
            _,
        )
        | (["", "v1", "containers", _], _)
        | (["", "v1", "updates", _, "retry"], _)
        | (
            ["", "v1", "containers", _, "status" | "stats" | "logs" | "start" | "stop" | "restart" | "rollback" | "follow"],
            _,
        )
        | (["", "v1", "containers", _, "config", _], _) => not_allowed(&method, &path),
        _ => error(
            StatusCode::NOT_FOUND,
            codes::NOT_FOUND,
            format!("no such endpoint: {path}"),
        ),
    }
}

/// Serves connections until the future is dropped; each connection on a task of
/// its own, so one slow client does not hold up another.
pub async fn serve(listener: UnixListener, daemon: Arc<Daemon>) -> std::io::Result<()> {
    loop {
        let (stream, _) = listener.accept().await?;
        let daemon = Arc::clone(&daemon);
        tokio::spawn(async move {
            let service = hyper::service::service_fn(move |req| {
                let daemon = Arc::clone(&daemon);
                async move { Ok::<_, Infallible>(handle(req, daemon).await) }
            });
            let _ = hyper::server::conn::http1::Builder::new()
                .serve_connection(hyper_util::rt::TokioIo::new(stream), service)
                .await;
        });
    }
}

#[cfg(test)]
mod tests;
