//! A small synchronous HTTP/1.1 client for berthd's API over its unix socket: no
//! async runtime, no TLS, little to link. Requests and answers are the api crate's
//! types; paths come from `berth_api::paths`.

use crate::exit::Failure;
use berth_api::ErrorBody;
use serde::de::DeserializeOwned;
use std::io::{BufRead, BufReader, Read, Write};
use std::os::unix::net::UnixStream;
use std::path::PathBuf;

pub struct Client {
    socket: PathBuf,
}

/// A request body streamed from a reader (named in errors: a file's path), and what
/// to tell of the bytes sent.
pub type Upload<'a> = (&'a str, &'a mut dyn Read, &'a mut dyn FnMut(u64));

/// An answer: its status, and its body as it arrives.
pub struct Answer {
    pub status: u16,
    pub body: Box<dyn Read>,
    /// The request and the socket it went to, for errors: `POST /v1/packages at /run/berthd.sock`.
    request: String,
}

impl Answer {
    fn bytes(mut self) -> Result<(u16, Vec<u8>), Failure> {
        let mut body = Vec::new();
        self.body.read_to_end(&mut body).map_err(talk)?;
        Ok((self.status, body))
    }

    /// The answer as `T`, or the error it carries.
    pub fn decode<T: DeserializeOwned>(self) -> Result<T, Failure> {
        let request = self.request.clone();
        let (status, body) = self.bytes()?;
        if !(200..300).contains(&status) {
            return Err(failure(status, &body, &request));
        }
        serde_json::from_slice(&body).map_err(|e| {
            Failure::failed(format!(
                "berthd's answer to {request} is not what berthctl reads: {e}"
            ))
        })
    }

    /// The body to stream on success; the error it carries otherwise.
    pub fn streamed(self) -> Result<Box<dyn Read>, Failure> {
        if self.status == 200 {
            return Ok(self.body);
        }
        let request = self.request.clone();
        let (status, body) = self.bytes()?;
        Err(failure(status, &body, &request))
    }
}

fn talk(e: std::io::Error) -> Failure {
    Failure::failed(format!("talking to berthd: {e}"))
}

/// Turns an error answer into a failure: exit 2 for what the request got wrong.
fn failure(status: u16, body: &[u8], request: &str) -> Failure {
    match serde_json::from_slice::<ErrorBody>(body) {
        Ok(e) if status == 400 || status == 403 || status == 409 => {
            Failure::bad_input(format!("{} ({})", e.message, e.code))
        }
        Ok(e) => Failure::failed(format!("{} ({})", e.message, e.code)),
        Err(_) => Failure::failed(format!(
            "berthd answered {request} with HTTP {status} and no error document"
        )),
    }
}

impl Client {
    pub fn new(socket: PathBuf) -> Self {
        Client { socket }
    }

    fn connect(&self) -> Result<UnixStream, Failure> {
        UnixStream::connect(&self.socket).map_err(|e| {
            Failure::Unreachable(vec![format!(
                "cannot reach berthd at {}: {e} (start it with `systemctl start berthd` or `berthd`; --socket or BERTH_SOCKET point elsewhere)",
                self.socket.display()
            )])
        })
    }

    pub fn get<T: DeserializeOwned>(&self, path: &str) -> Result<T, Failure> {
        self.request("GET", path, None, None)?.decode()
    }

    /// A request with an optional JSON body, decoded as `T`.
    pub fn call<T: DeserializeOwned>(
        &self,
        method: &str,
        path: &str,
        json: Option<&serde_json::Value>,
    ) -> Result<T, Failure> {
        self.request(method, path, None, json)?.decode()
    }

    /// Sends a request; a `body` goes chunked, with `progress` told the bytes sent.
    pub fn request(
        &self,
        method: &str,
        path: &str,
        body: Option<Upload<'_>>,
        json: Option<&serde_json::Value>,
    ) -> Result<Answer, Failure> {
        let mut stream = self.connect()?;
        let mut head = format!("{method} {path} HTTP/1.1\r\nHost: berthd\r\nConnection: close\r\n");
        let json_bytes = json.map(|v| serde_json::to_vec(v).unwrap_or_default());
        match (&body, &json_bytes) {
            (Some(_), _) => head.push_str(
                "Transfer-Encoding: chunked\r\nContent-Type: application/octet-stream\r\n",
            ),
            (None, Some(b)) => head.push_str(&format!(
                "Content-Type: application/json\r\nContent-Length: {}\r\n",
                b.len()
            )),
            (None, None) => {}
        }
        head.push_str("\r\n");
        stream.write_all(head.as_bytes()).map_err(talk)?;
        if let Some(b) = &json_bytes {
            stream.write_all(b).map_err(talk)?;
        }
        if let Some((name, input, progress)) = body {
            upload(&mut stream, name, input, progress)?;
        }
        let mut answer = read_answer(BufReader::new(stream))?;
        answer.request = format!("{method} {path} at {}", self.socket.display());
        Ok(answer)
    }
}

fn upload(
    stream: &mut UnixStream,
    name: &str,
    input: &mut dyn Read,
    progress: &mut dyn FnMut(u64),
) -> Result<(), Failure> {
    let mut buf = vec![0u8; 256 * 1024];
    let mut sent = 0u64;
    loop {
        let n = input
            .read(&mut buf)
            .map_err(|e| Failure::failed(format!("{name}: cannot read: {e}")))?;
        let chunk = if n == 0 {
            Vec::from(&b"0\r\n\r\n"[..])
        } else {
            let mut c = format!("{n:x}\r\n").into_bytes();
            c.extend_from_slice(&buf[..n]);
            c.extend_from_slice(b"\r\n");
            c
        };
        // berthd may answer before it has read everything (a package refused at its
        // manifest): stop sending and read what it says.
        if stream.write_all(&chunk).is_err() || n == 0 {
            return Ok(());
        }
        sent += n as u64;
        progress(sent);
    }
}

fn read_answer(mut reader: BufReader<UnixStream>) -> Result<Answer, Failure> {
    let mut status_line = String::new();
    reader.read_line(&mut status_line).map_err(talk)?;
    let status = status_line
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| Failure::failed("berthd sent a malformed status line"))?;
    let mut chunked = false;
    let mut length = None;
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line).map_err(talk)? == 0 || line == "\r\n" {
            break;
        }
        let lower = line.to_ascii_lowercase();
        if lower.starts_with("transfer-encoding:") && lower.contains("chunked") {
            chunked = true;
        }
        if let Some(v) = lower.strip_prefix("content-length:") {
            length = v.trim().parse::<u64>().ok();
        }
    }
    let body: Box<dyn Read> = match (chunked, length) {
        (true, _) => Box::new(Chunked {
            inner: reader,
            left: 0,
            done: false,
        }),
        (false, Some(n)) => Box::new(reader.take(n)),
        (false, None) => Box::new(reader),
    };
    Ok(Answer {
        status,
        body,
        request: String::new(),
    })
}

/// A chunked body, decoded as it is read (so followed logs print as they come). A
/// body cut off before its last chunk is an error, never an end.
struct Chunked<R> {
    inner: R,
    left: usize,
    done: bool,
}

fn cut(what: &str) -> std::io::Error {
    std::io::Error::new(
        std::io::ErrorKind::UnexpectedEof,
        format!("berthd's answer ended {what} (cut off)"),
    )
}

impl<R: BufRead> Read for Chunked<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let bad = || std::io::Error::new(std::io::ErrorKind::InvalidData, "malformed chunked body");
        while self.left == 0 {
            if self.done {
                return Ok(0);
            }
            let mut line = String::new();
            if self.inner.read_line(&mut line)? == 0 {
                return Err(cut("before its last chunk"));
            }
            let line = line.trim();
            if line.is_empty() {
                continue; // the CRLF after a chunk
            }
            let size = line.split(';').next().unwrap_or_default();
            self.left = usize::from_str_radix(size, 16).map_err(|_| bad())?;
            if self.left == 0 {
                self.done = true;
                return Ok(0);
            }
        }
        let want = buf.len().min(self.left);
        let n = self.inner.read(&mut buf[..want])?;
        if n == 0 {
            return Err(cut("inside a chunk"));
        }
        self.left -= n;
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Regression: a chunked answer cut off was read as a normal end, so truncated
    /// logs exited 0.
    #[test]
    fn a_chunked_body_cut_off_is_an_error_not_an_end() {
        let whole = b"5\r\nhello\r\n0\r\n\r\n";
        let mut out = Vec::new();
        let mut c = Chunked {
            inner: &whole[..],
            left: 0,
            done: false,
        };
        c.read_to_end(&mut out).unwrap();
        assert_eq!(out, b"hello");
        for cut in [&b"5\r\nhello\r\n"[..], &b"5\r\nhel"[..]] {
            let mut c = Chunked {
                inner: cut,
                left: 0,
                done: false,
            };
            let err = c.read_to_end(&mut Vec::new()).unwrap_err();
            assert_eq!(err.kind(), std::io::ErrorKind::UnexpectedEof, "{err}");
        }
    }
}
