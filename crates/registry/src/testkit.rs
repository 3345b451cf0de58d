//! A registry that misbehaves on purpose: a small HTTP/1.1 server on a free loopback
//! port whose every answer a test decides (wrong digests, wrong sizes, endless
//! bodies, huge manifests, redirect loops, connections cut mid-blob, 429s, auth
//! challenges). It records the requests it saw.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

#[derive(Debug, Clone)]
pub struct Request {
    pub method: String,
    pub path: String,
    pub headers: Vec<(String, String)>,
}

impl Request {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

pub enum Reply {
    Full {
        status: u16,
        headers: Vec<(String, String)>,
        body: Vec<u8>,
    },
    /// Declares `declared` bytes, sends `body`, then closes the connection.
    Cut {
        headers: Vec<(String, String)>,
        body: Vec<u8>,
        declared: u64,
    },
    /// A chunked body that never ends.
    Endless { headers: Vec<(String, String)> },
    /// Declares `declared` bytes and sends one every `every`, for ever: never silent
    /// long enough for a read timeout, never done.
    Drip {
        headers: Vec<(String, String)>,
        declared: u64,
        every: Duration,
    },
}

impl Reply {
    pub fn ok(body: impl Into<Vec<u8>>, content_type: &str) -> Reply {
        Reply::Full {
            status: 200,
            headers: vec![("Content-Type".into(), content_type.into())],
            body: body.into(),
        }
    }

    pub fn status(status: u16, headers: &[(&str, &str)]) -> Reply {
        Reply::Full {
            status,
            headers: headers
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
            body: Vec::new(),
        }
    }
}

type Handler = dyn Fn(&Request) -> Reply + Send + Sync;

pub struct HostileRegistry {
    pub host: String,
    pub requests: Arc<Mutex<Vec<Request>>>,
    stop: Arc<AtomicBool>,
}

impl HostileRegistry {
    pub fn start(handler: impl Fn(&Request) -> Reply + Send + Sync + 'static) -> HostileRegistry {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        listener.set_nonblocking(true).unwrap();
        let host = listener.local_addr().unwrap().to_string();
        let requests = Arc::new(Mutex::new(Vec::new()));
        let stop = Arc::new(AtomicBool::new(false));
        let handler: Arc<Handler> = Arc::new(handler);
        let (seen, stopping) = (requests.clone(), stop.clone());
        std::thread::spawn(move || {
            while !stopping.load(Ordering::SeqCst) {
                match listener.accept() {
                    Ok((stream, _)) => {
                        let (handler, seen) = (handler.clone(), seen.clone());
                        std::thread::spawn(move || serve(stream, &*handler, &seen));
                    }
                    Err(_) => std::thread::sleep(Duration::from_millis(5)),
                }
            }
        });
        HostileRegistry {
            host,
            requests,
            stop,
        }
    }

    pub fn image(&self, repo: &str) -> String {
        format!("docker://{}/{repo}", self.host)
    }

    pub fn seen(&self) -> Vec<Request> {
        self.requests.lock().unwrap().clone()
    }
}

impl Drop for HostileRegistry {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
    }
}

fn serve(stream: TcpStream, handler: &Handler, seen: &Mutex<Vec<Request>>) {
    stream.set_nonblocking(false).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    let mut reader = BufReader::new(stream.try_clone().unwrap());
    let mut out = stream;
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line).unwrap_or(0) == 0 {
            return;
        }
        let mut parts = line.split_whitespace();
        let (method, path) = (
            parts.next().unwrap_or("").to_string(),
            parts.next().unwrap_or("").to_string(),
        );
        let mut headers = Vec::new();
        loop {
            let mut h = String::new();
            if reader.read_line(&mut h).unwrap_or(0) == 0 {
                return;
            }
            let h = h.trim_end();
            if h.is_empty() {
                break;
            }
            if let Some((k, v)) = h.split_once(':') {
                headers.push((k.trim().to_string(), v.trim().to_string()));
            }
        }
        let request = Request {
            method,
            path,
            headers,
        };
        let length: u64 = request
            .header("Content-Length")
            .and_then(|l| l.parse().ok())
            .unwrap_or(0);
        let _ = std::io::copy(&mut (&mut reader).take(length), &mut std::io::sink());
        seen.lock().unwrap().push(request.clone());
        let reply = handler(&request);
        let head = |status: u16, headers: &[(String, String)], extra: &str| {
            let mut s = format!("HTTP/1.1 {status} X\r\n");
            for (k, v) in headers {
                s.push_str(&format!("{k}: {v}\r\n"));
            }
            s.push_str(extra);
            s.push_str("\r\n");
            s
        };
        let result = match reply {
            Reply::Full {
                status,
                headers,
                body,
            } => {
                let extra = format!("Content-Length: {}\r\n", body.len());
                let head_only = request.method == "HEAD";
                out.write_all(head(status, &headers, &extra).as_bytes())
                    .and_then(|_| {
                        if head_only {
                            Ok(())
                        } else {
                            out.write_all(&body)
                        }
                    })
            }
            Reply::Cut {
                headers,
                body,
                declared,
            } => {
                let extra = format!("Content-Length: {declared}\r\nConnection: close\r\n");
                let _ = out
                    .write_all(head(200, &headers, &extra).as_bytes())
                    .and_then(|_| out.write_all(&body));
                return; // the connection closes mid-body
            }
            Reply::Endless { headers } => {
                let _ =
                    out.write_all(head(200, &headers, "Transfer-Encoding: chunked\r\n").as_bytes());
                let chunk = vec![b'x'; 64 * 1024];
                let framed = [
                    format!("{:x}\r\n", chunk.len()).into_bytes(),
                    chunk,
                    b"\r\n".to_vec(),
                ]
                .concat();
                while out.write_all(&framed).is_ok() {}
                return;
            }
            Reply::Drip {
                headers,
                declared,
                every,
            } => {
                let extra = format!("Content-Length: {declared}\r\n");
                let _ = out.write_all(head(200, &headers, &extra).as_bytes());
                while out.write_all(b" ").and_then(|_| out.flush()).is_ok() {
                    std::thread::sleep(every);
                }
                return;
            }
        };
        if result.is_err() {
            return;
        }
    }
}

/// An honest registry's answer for `image` under repository `repo` (any tag): the
/// manifest, the config, and each layer blob as `layer_reply` answers it; 404 for
/// anything else. For handlers that misbehave in one way and answer the rest.
pub fn honest(
    image: &berth_image::copy::memory::MemorySource,
    repo: &str,
    r: &Request,
    layer_reply: &dyn Fn(&Request, &[u8]) -> Reply,
) -> Reply {
    if r.path.starts_with(&format!("/v2/{repo}/manifests/")) {
        return Reply::ok(image.top.clone(), &image.top_media_type);
    }
    let Some(digest) = r.path.strip_prefix(&format!("/v2/{repo}/blobs/")) else {
        return Reply::status(404, &[]);
    };
    let Some(blob) = image.blobs.get(digest) else {
        return Reply::status(404, &[]);
    };
    let manifest: serde_json::Value = serde_json::from_slice(&image.top).unwrap_or_default();
    let is_layer = manifest["layers"]
        .as_array()
        .is_some_and(|layers| layers.iter().any(|l| l["digest"] == digest));
    match is_layer {
        true => layer_reply(r, blob),
        false => Reply::ok(blob.clone(), "application/octet-stream"),
    }
}

/// A layer answered as it is.
pub fn whole(_: &Request, layer: &[u8]) -> Reply {
    Reply::ok(layer.to_vec(), "application/octet-stream")
}

/// A registry serving `image` as `repo`, each layer blob answered by `layer_reply`.
pub fn serve_image(
    image: berth_image::copy::memory::MemorySource,
    repo: &'static str,
    layer_reply: impl Fn(&Request, &[u8]) -> Reply + Send + Sync + 'static,
) -> HostileRegistry {
    HostileRegistry::start(move |r| honest(&image, repo, r, &layer_reply))
}
