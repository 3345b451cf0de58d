//! HTTP plumbing for the API: JSON answers, query parameters, the request body as a
//! blocking reader, and a streamed response body.

use berth_api::{codes, ErrorBody};
use bytes::Bytes;
use http_body_util::combinators::BoxBody;
use http_body_util::{BodyExt, Full};
use hyper::body::{Frame, Incoming};
use hyper::{Request, Response, StatusCode};
use std::convert::Infallible;
use std::io::{self, Read};
use std::pin::Pin;
use std::task::{Context, Poll};
use tokio::sync::mpsc;

pub type Body = BoxBody<Bytes, io::Error>;
pub type Answer = Response<Body>;

fn full(bytes: impl Into<Bytes>) -> Body {
    Full::new(bytes.into())
        .map_err(|never: Infallible| match never {})
        .boxed()
}

pub fn json<T: serde::Serialize>(status: StatusCode, body: &T) -> Answer {
    let bytes = serde_json::to_vec(body).expect("API types serialise");
    Response::builder()
        .status(status)
        .header("content-type", "application/json")
        .body(full(bytes))
        .expect("valid response")
}

pub fn error(status: StatusCode, code: &str, message: impl Into<String>) -> Answer {
    json(
        status,
        &ErrorBody {
            code: code.into(),
            message: message.into(),
        },
    )
}

pub fn bad_request(message: String) -> Answer {
    error(StatusCode::BAD_REQUEST, codes::BAD_REQUEST, message)
}

/// A query parameter, percent-decoded; `Err` names it when its encoding is broken.
pub fn query(req: &Request<Incoming>, key: &str) -> Result<Option<String>, String> {
    let Some(raw) = req.uri().query().and_then(|q| {
        q.split('&')
            .filter_map(|kv| kv.split_once('=').or(Some((kv, ""))))
            .find(|(k, _)| *k == key)
            .map(|(_, v)| v)
    }) else {
        return Ok(None);
    };
    berth_api::paths::decode(raw)
        .map(Some)
        .ok_or_else(|| format!("query parameter {key} is not percent-encoded UTF-8"))
}

pub fn flag(req: &Request<Incoming>, key: &str) -> Result<bool, String> {
    match query(req, key)?.as_deref() {
        None | Some("0" | "false") => Ok(false),
        Some("" | "1" | "true") => Ok(true),
        Some(v) => Err(format!(
            "query parameter {key} must be true or false, got {v:?}"
        )),
    }
}

/// A whole number from the query string, at most `max`, or why it is not one.
pub fn number(req: &Request<Incoming>, key: &str, max: u64) -> Result<Option<u64>, String> {
    match query(req, key)? {
        None => Ok(None),
        Some(v) => match v.parse::<u64>() {
            Ok(n) if n <= max => Ok(Some(n)),
            Ok(_) => Err(format!(
                "query parameter {key} must be at most {max}, got {v}"
            )),
            Err(_) => Err(format!(
                "query parameter {key} must be a whole number, got {v:?}"
            )),
        },
    }
}

/// Reads a small JSON request body.
pub async fn json_body(body: Incoming) -> Result<serde_json::Value, String> {
    let limited = http_body_util::Limited::new(body, 64 * 1024);
    let bytes = limited
        .collect()
        .await
        .map_err(|e| format!("request body: {e}"))?;
    serde_json::from_slice(&bytes.to_bytes())
        .map_err(|e| format!("request body must be a JSON value: {e}"))
}

/// The request body as a blocking reader, fed by a task as the bytes arrive.
pub struct BodyReader {
    rx: mpsc::Receiver<io::Result<Bytes>>,
    chunk: Bytes,
}

impl BodyReader {
    pub fn new(mut body: Incoming) -> Self {
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

/// A streamed text answer: what is sent into the returned channel.
pub fn text_stream() -> (mpsc::Sender<Bytes>, Answer) {
    let (tx, rx) = mpsc::channel(16);
    let answer = Response::builder()
        .status(StatusCode::OK)
        .header("content-type", "text/plain; charset=utf-8")
        .body(ChannelBody(rx).boxed())
        .expect("valid response");
    (tx, answer)
}
