//! A throwaway registry on 127.0.0.1 that serves one image to one `podman pull`.
//!
//! Why: every other way into podman's storage spools the input first (`podman load`
//! from a pipe copies it to /var/tmp; an OCI layout or `dir:` source takes a blob's
//! size from the file, so a FIFO cannot stand in for it). The registry protocol takes
//! sizes from the manifest, so a layer can be answered straight from the package
//! stream while podman stores it: the only copy on disk is podman's own.
//!
//! It speaks just enough HTTP/1.1 for c/image (`GET /v2/`, manifests, blobs; one
//! request per connection) and is only ever bound to the loopback address, for the
//! length of one pull.

use std::collections::HashMap;
use std::fs::File;
use std::io::{self, BufRead, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use berth_format::media_type::{DOCKER_CONFIG, DOCKER_LAYER, DOCKER_MANIFEST};

/// Where a blob's bytes come from.
pub enum Blob<'a> {
    Bytes(Vec<u8>),
    File(PathBuf),
    /// Read once, straight through; `size` bytes exactly.
    Stream {
        reader: &'a mut dyn Read,
        size: u64,
    },
}

/// The one image a registry serves: its manifest and blobs by digest ("sha256:...").
pub struct Image<'a> {
    pub manifest: Vec<u8>,
    pub manifest_type: String,
    pub blobs: HashMap<String, Blob<'a>>,
}

/// What went wrong on the serving side.
#[derive(Debug, Default)]
pub struct ServeReport {
    /// Reading a streamed blob from its source failed: the package stream is bad.
    pub source_error: Option<io::Error>,
}

/// A manifest in the docker v2 schema 2 format (what c/image writes for
/// docker-archives): config and uncompressed layers by digest and size.
pub fn manifest(config: (&str, u64), layers: &[(String, u64)]) -> Vec<u8> {
    let layers: Vec<serde_json::Value> = layers
        .iter()
        .map(|(digest, size)| {
            serde_json::json!({"mediaType": DOCKER_LAYER, "size": size, "digest": digest})
        })
        .collect();
    serde_json::to_vec(&serde_json::json!({
        "schemaVersion": 2,
        "mediaType": DOCKER_MANIFEST,
        "config": {"mediaType": DOCKER_CONFIG, "size": config.1, "digest": config.0},
        "layers": layers,
    }))
    .expect("JSON of strings and numbers")
}

/// Binds a registry to a free port on the loopback address.
pub fn bind() -> io::Result<(TcpListener, u16)> {
    let listener = TcpListener::bind(("127.0.0.1", 0))?;
    let port = listener.local_addr()?.port();
    listener.set_nonblocking(true)?;
    Ok((listener, port))
}

/// Connections whose request is being read at once; more are dropped (c/image
/// opens a few).
const MAX_CONNECTIONS: usize = 16;

/// The longest request head read (request line and headers), and how long a client
/// may take to send it.
const MAX_HEAD: usize = 16 * 1024;
const HEAD_TIME: Duration = Duration::from_secs(10);

/// A connection whose request head is still coming.
struct Pending {
    conn: TcpStream,
    head: Vec<u8>,
    since: std::time::Instant,
}

/// What reading more of a pending head found.
enum Progress {
    Waiting,
    Complete,
    Dropped,
}

impl Pending {
    /// Reads what has arrived, without waiting.
    fn read(&mut self) -> Progress {
        let mut buf = [0u8; 4096];
        loop {
            match self.conn.read(&mut buf) {
                Ok(0) => return Progress::Dropped,
                Ok(n) => {
                    self.head.extend_from_slice(&buf[..n]);
                    // An HTTP request starts with its method; anything else (dockerd
                    // tries TLS first, 0x16) is closed at once, so the client falls
                    // back to plain HTTP without waiting for HEAD_TIME.
                    if !self.head[0].is_ascii_uppercase() {
                        return Progress::Dropped;
                    }
                    if self.head.windows(4).any(|w| w == b"\r\n\r\n") {
                        return Progress::Complete;
                    }
                    if self.head.len() > MAX_HEAD {
                        return Progress::Dropped;
                    }
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    return if self.since.elapsed() > HEAD_TIME {
                        Progress::Dropped
                    } else {
                        Progress::Waiting
                    };
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(_) => return Progress::Dropped,
            }
        }
    }
}

/// Serves `image` on `listener` while `pull` runs on another thread; returns what
/// `pull` returned once it has finished, with what the serving side saw. One thread
/// serves every connection (no thread per connection on a device): request heads are
/// read without waiting, bounded in size and time, so a client that connects and
/// sends nothing (any local process can) holds up nobody; complete requests are
/// answered one at a time (a streamed blob is read once).
pub fn serve_during<T: Send>(
    listener: &TcpListener,
    image: &mut Image<'_>,
    pull: impl FnOnce() -> T + Send,
) -> (T, ServeReport) {
    let done = AtomicBool::new(false);
    let mut report = ServeReport::default();
    let mut pending: Vec<Pending> = Vec::new();
    let result = std::thread::scope(|scope| {
        let puller = scope.spawn(|| {
            let r = pull();
            done.store(true, Ordering::SeqCst);
            r
        });
        while !done.load(Ordering::SeqCst) {
            let mut idle = true;
            if let Ok((conn, _)) = listener.accept() {
                idle = false;
                if pending.len() < MAX_CONNECTIONS && conn.set_nonblocking(true).is_ok() {
                    pending.push(Pending {
                        conn,
                        head: Vec::new(),
                        since: std::time::Instant::now(),
                    });
                }
            }
            let mut i = 0;
            while i < pending.len() {
                match pending[i].read() {
                    Progress::Waiting => i += 1,
                    Progress::Dropped => drop(pending.swap_remove(i)),
                    Progress::Complete => {
                        idle = false;
                        let p = pending.swap_remove(i);
                        if let Some((method, path)) = read_request(&mut &p.head[..]) {
                            answer(p.conn, &method, &path, image, &mut report);
                        }
                    }
                }
            }
            if idle {
                std::thread::sleep(Duration::from_millis(5));
            }
        }
        puller.join().expect("the pull thread does not panic")
    });
    (result, report)
}

fn answer(
    conn: TcpStream,
    method: &str,
    path: &str,
    image: &mut Image<'_>,
    report: &mut ServeReport,
) {
    let _ = conn.set_nonblocking(false);
    let _ = conn.set_read_timeout(Some(Duration::from_secs(30)));
    let _ = conn.set_write_timeout(Some(Duration::from_secs(300)));
    let head = method == "HEAD";
    let mut out = &conn;
    let result = route(path, image).and_then(|answer| match answer {
        Answer::Missing => respond(&mut out, "404 Not Found", "application/json", None, 0),
        Answer::Bytes(kind, digest, bytes) => {
            respond(
                &mut out,
                "200 OK",
                &kind,
                digest.as_deref(),
                bytes.len() as u64,
            )?;
            if !head {
                out.write_all(&bytes)?;
            }
            Ok(())
        }
        Answer::Blob(digest) => send_blob(&mut out, &digest, head, image, report),
    });
    let _ = result.and_then(|_| out.flush());
}

enum Answer {
    Missing,
    Bytes(String, Option<String>, Vec<u8>),
    Blob(String),
}

fn route(path: &str, image: &Image<'_>) -> io::Result<Answer> {
    if path == "/v2/" || path == "/v2" {
        return Ok(Answer::Bytes(
            "application/json".into(),
            None,
            b"{}".to_vec(),
        ));
    }
    let Some(rest) = path.strip_prefix("/v2/") else {
        return Ok(Answer::Missing);
    };
    if rest.contains("/manifests/") {
        let digest = sha256_digest(&image.manifest);
        return Ok(Answer::Bytes(
            image.manifest_type.clone(),
            Some(digest),
            image.manifest.clone(),
        ));
    }
    if let Some((_, digest)) = rest.split_once("/blobs/") {
        if image.blobs.contains_key(digest) {
            return Ok(Answer::Blob(digest.to_string()));
        }
    }
    Ok(Answer::Missing)
}

fn send_blob(
    out: &mut &TcpStream,
    digest: &str,
    head: bool,
    image: &mut Image<'_>,
    report: &mut ServeReport,
) -> io::Result<()> {
    let octets = "application/octet-stream";
    match image.blobs.get_mut(digest) {
        None => respond(out, "404 Not Found", octets, None, 0),
        Some(Blob::Bytes(bytes)) => {
            respond(out, "200 OK", octets, Some(digest), bytes.len() as u64)?;
            if !head {
                out.write_all(bytes)?;
            }
            Ok(())
        }
        Some(Blob::File(path)) => {
            let mut file = File::open(&*path)?;
            let len = file.metadata()?.len();
            respond(out, "200 OK", octets, Some(digest), len)?;
            if !head {
                io::copy(&mut file, out)?;
            }
            Ok(())
        }
        Some(Blob::Stream { size, .. }) if head => {
            respond(out, "200 OK", octets, Some(digest), *size)
        }
        Some(blob @ Blob::Stream { .. }) => {
            let Blob::Stream { reader, size } = std::mem::replace(blob, Blob::Bytes(Vec::new()))
            else {
                unreachable!()
            };
            // Served once: a second request for it is refused (and reported).
            image.blobs.remove(digest);
            respond(out, "200 OK", octets, Some(digest), size)?;
            copy_exact(reader, out, size, report)
        }
    }
}

/// Copies exactly `size` bytes; a short or failing source is the source's error
/// (recorded), a failing socket is the puller's.
fn copy_exact(
    reader: &mut dyn Read,
    out: &mut &TcpStream,
    size: u64,
    report: &mut ServeReport,
) -> io::Result<()> {
    let mut buf = vec![0u8; 256 * 1024];
    let mut left = size;
    while left > 0 {
        let want = buf.len().min(left as usize);
        let n = match reader.read(&mut buf[..want]) {
            Ok(0) => {
                report.source_error = Some(io::Error::new(
                    io::ErrorKind::UnexpectedEof,
                    format!("the layer ended {left} bytes early"),
                ));
                return Ok(());
            }
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => {
                report.source_error = Some(e);
                return Ok(());
            }
        };
        out.write_all(&buf[..n])?;
        left -= n as u64;
    }
    Ok(())
}

fn respond(
    out: &mut &TcpStream,
    status: &str,
    kind: &str,
    digest: Option<&str>,
    len: u64,
) -> io::Result<()> {
    let mut head = format!(
        "HTTP/1.1 {status}\r\nContent-Type: {kind}\r\nContent-Length: {len}\r\nDocker-Distribution-API-Version: registry/2.0\r\nConnection: close\r\n"
    );
    if let Some(d) = digest {
        head.push_str(&format!("Docker-Content-Digest: {d}\r\n"));
    }
    head.push_str("\r\n");
    out.write_all(head.as_bytes())
}

/// The request line's method and path; the headers are read and ignored.
fn read_request(reader: &mut impl BufRead) -> Option<(String, String)> {
    let mut line = String::new();
    let mut total = 0;
    reader.read_line(&mut line).ok()?;
    let mut parts = line.split_ascii_whitespace();
    let method = parts.next()?.to_string();
    let path = parts.next()?.to_string();
    if !parts.next()?.starts_with("HTTP/1.") {
        return None;
    }
    loop {
        let mut header = String::new();
        let n = reader.read_line(&mut header).ok()?;
        total += n;
        if n == 0 || total > MAX_HEAD {
            return None;
        }
        if header == "\r\n" || header == "\n" {
            break;
        }
    }
    let path = path.split('?').next().unwrap_or_default().to_string();
    Some((method, path))
}

pub fn sha256_digest(bytes: &[u8]) -> String {
    berth_format::Digest::of(bytes).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn get(port: u16, path: &str) -> (String, Vec<u8>) {
        let mut conn = TcpStream::connect(("127.0.0.1", port)).unwrap();
        write!(conn, "GET {path} HTTP/1.1\r\nHost: x\r\n\r\n").unwrap();
        let mut all = Vec::new();
        conn.read_to_end(&mut all).unwrap();
        let split = all.windows(4).position(|w| w == b"\r\n\r\n").unwrap();
        (
            String::from_utf8_lossy(&all[..split]).into_owned(),
            all[split + 4..].to_vec(),
        )
    }

    #[test]
    fn serves_manifest_and_blobs_and_streams_a_blob_once() {
        let (listener, port) = bind().unwrap();
        let layer = b"layer bytes".to_vec();
        let mut src: &[u8] = &layer;
        let layer_digest = sha256_digest(&layer);
        let mut image = Image {
            manifest: manifest(("sha256:c", 2), &[(layer_digest.clone(), 11)]),
            manifest_type: DOCKER_MANIFEST.into(),
            blobs: HashMap::from([
                ("sha256:c".to_string(), Blob::Bytes(b"{}".to_vec())),
                (
                    layer_digest.clone(),
                    Blob::Stream {
                        reader: &mut src,
                        size: 11,
                    },
                ),
            ]),
        };
        let (seen, report) = serve_during(&listener, &mut image, || {
            let ping = get(port, "/v2/");
            let man = get(port, "/v2/berth/x/manifests/1");
            let blob = get(port, &format!("/v2/berth/x/blobs/{layer_digest}"));
            let again = get(port, &format!("/v2/berth/x/blobs/{layer_digest}"));
            (ping, man, blob, again)
        });
        assert!(seen.0 .0.starts_with("HTTP/1.1 200"), "{}", seen.0 .0);
        assert!(seen.1 .0.contains(DOCKER_MANIFEST));
        assert!(serde_json::from_slice::<serde_json::Value>(&seen.1 .1).is_ok());
        assert_eq!(seen.2 .1, layer);
        assert!(seen.3 .0.starts_with("HTTP/1.1 404"), "{}", seen.3 .0);
        assert!(report.source_error.is_none());
    }

    #[test]
    fn a_short_stream_is_the_sources_error() {
        let (listener, port) = bind().unwrap();
        let mut src: &[u8] = b"short";
        let mut image = Image {
            manifest: Vec::new(),
            manifest_type: DOCKER_MANIFEST.into(),
            blobs: HashMap::from([(
                "sha256:l".to_string(),
                Blob::Stream {
                    reader: &mut src,
                    size: 100,
                },
            )]),
        };
        let (_, report) = serve_during(&listener, &mut image, || {
            get(port, "/v2/x/blobs/sha256:l");
        });
        assert!(report.source_error.is_some());
    }

    #[test]
    fn garbage_requests_are_dropped() {
        let (listener, port) = bind().unwrap();
        let mut image = Image {
            manifest: Vec::new(),
            manifest_type: DOCKER_MANIFEST.into(),
            blobs: HashMap::new(),
        };
        let (answer, _) = serve_during(&listener, &mut image, || {
            let mut conn = TcpStream::connect(("127.0.0.1", port)).unwrap();
            conn.write_all(b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03\r\n\r\n")
                .unwrap();
            let mut all = Vec::new();
            let _ = conn.read_to_end(&mut all);
            all
        });
        assert!(answer.is_empty());
    }

    #[test]
    fn a_tls_handshake_is_closed_at_once_so_the_client_falls_back_to_http() {
        let (listener, port) = bind().unwrap();
        let mut image = Image {
            manifest: Vec::new(),
            manifest_type: DOCKER_MANIFEST.into(),
            blobs: HashMap::new(),
        };
        let (waited, _) = serve_during(&listener, &mut image, || {
            let started = std::time::Instant::now();
            let mut conn = TcpStream::connect(("127.0.0.1", port)).unwrap();
            // A ClientHello's start: no end of an HTTP head ever comes.
            conn.write_all(b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03")
                .unwrap();
            let mut all = Vec::new();
            let _ = conn.read_to_end(&mut all);
            assert!(all.is_empty());
            started.elapsed()
        });
        assert!(waited < HEAD_TIME / 2, "closed only after {waited:?}");
    }
}

#[cfg(test)]
mod stall_tests {
    use super::*;

    /// Regression: the registry served one connection at a time and read request
    /// lines without a bound, so a local process that connected and sent nothing
    /// (or an endless header) stalled the pull.
    #[test]
    fn a_client_that_stalls_or_floods_does_not_hold_up_the_pull() {
        let (listener, port) = bind().unwrap();
        let mut image = Image {
            manifest: b"{}".to_vec(),
            manifest_type: DOCKER_MANIFEST.into(),
            blobs: HashMap::new(),
        };
        let started = std::time::Instant::now();
        let ((answer, _silent), _) = serve_during(&listener, &mut image, || {
            let silent = TcpStream::connect(("127.0.0.1", port)).unwrap();
            let mut flood = TcpStream::connect(("127.0.0.1", port)).unwrap();
            flood.write_all(b"GET /v2/ HTTP/1.1\r\n").unwrap();
            let _ = flood.write_all(&vec![b'x'; 100_000]);
            std::thread::sleep(Duration::from_millis(100));
            let mut conn = TcpStream::connect(("127.0.0.1", port)).unwrap();
            write!(conn, "GET /v2/x/manifests/1 HTTP/1.1\r\nHost: x\r\n\r\n").unwrap();
            let mut all = Vec::new();
            conn.read_to_end(&mut all).unwrap();
            (String::from_utf8_lossy(&all).into_owned(), silent)
        });
        assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
        assert!(
            started.elapsed() < Duration::from_secs(5),
            "served while other clients stalled, not after them: {:?}",
            started.elapsed()
        );
    }
}
