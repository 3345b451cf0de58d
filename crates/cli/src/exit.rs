//! Exit codes and the one way errors are printed.

use std::io::Write;
use std::process::ExitCode;

/// 0: success. 1: the operation failed (I/O, a tool). 2: bad input (an invalid
/// package, manifest or argument). clap's own usage errors also exit 2.
pub enum Failure {
    Failed(Vec<String>),
    BadInput(Vec<String>),
}

impl Failure {
    pub fn failed(line: impl Into<String>) -> Self {
        Failure::Failed(vec![line.into()])
    }

    pub fn bad_input(line: impl Into<String>) -> Self {
        Failure::BadInput(vec![line.into()])
    }

    /// Every line of a multi-line message (one problem per line).
    pub fn bad_input_lines(text: &str) -> Self {
        Failure::BadInput(text.lines().map(String::from).collect())
    }
}

/// An error with its causes, on one line: "cannot read x: permission denied".
pub fn chain(e: &dyn std::error::Error) -> String {
    let mut line = e.to_string();
    let mut cur = e.source();
    while let Some(cause) = cur {
        let text = cause.to_string();
        if !line.contains(&text) {
            line.push_str(": ");
            line.push_str(&text);
        }
        cur = cause.source();
    }
    line
}

pub fn finish(result: Result<(), Failure>) -> ExitCode {
    let (code, lines) = match result {
        Ok(()) => return ExitCode::SUCCESS,
        Err(Failure::Failed(lines)) => (1, lines),
        Err(Failure::BadInput(lines)) => (2, lines),
    };
    let mut err = std::io::stderr().lock();
    for line in lines {
        let _ = writeln!(err, "berth: error: {line}");
    }
    ExitCode::from(code)
}

/// Prints to stdout; a closed pipe (`berth inspect x | head`) is not an error.
pub fn print(text: &str) -> Result<(), Failure> {
    let mut out = std::io::stdout().lock();
    match out.write_all(text.as_bytes()).and_then(|_| out.flush()) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Ok(()),
        Err(e) => Err(Failure::failed(format!("cannot write to stdout: {e}"))),
    }
}

pub fn print_json<T: serde::Serialize>(value: &T) -> Result<(), Failure> {
    let mut text = serde_json::to_string_pretty(value).expect("report serialises");
    text.push('\n');
    print(&text)
}
