//! Exit codes and the one way errors are printed, shared by berth, berthd and
//! berthctl.

use std::io::Write;
use std::process::ExitCode;

/// 0: success. 1: the operation failed (I/O, a tool). 2: bad input (an invalid
/// package, manifest, configuration or argument; clap's usage errors too).
/// 3: berthd could not be reached (berthctl).
#[derive(Debug)]
pub enum Failure {
    Failed(Vec<String>),
    BadInput(Vec<String>),
    Unreachable(Vec<String>),
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

    /// Every line of a multi-line message, as a failure.
    pub fn failed_lines(text: &str) -> Self {
        Failure::Failed(text.lines().map(String::from).collect())
    }

    /// Its lines.
    pub fn into_lines(self) -> Vec<String> {
        let (Failure::Failed(lines) | Failure::BadInput(lines) | Failure::Unreachable(lines)) =
            self;
        lines
    }

    /// Several failures as one: every line, and the worst code (bad input over a
    /// failure, as a refused package makes the whole run's input bad).
    pub fn all(failures: Vec<Failure>) -> Option<Failure> {
        let code = failures.iter().map(Failure::code).max()?;
        let lines = failures.into_iter().flat_map(Failure::into_lines).collect();
        Some(match code {
            2 => Failure::BadInput(lines),
            3 => Failure::Unreachable(lines),
            _ => Failure::Failed(lines),
        })
    }

    pub fn code(&self) -> u8 {
        match self {
            Failure::Failed(_) => 1,
            Failure::BadInput(_) => 2,
            Failure::Unreachable(_) => 3,
        }
    }
}

/// An error with its causes, on one line: "cannot read x: permission denied" (a
/// cause its parent already ends with is not repeated). berthd's API answers use
/// it too: one way for all.
pub fn chain(e: &dyn std::error::Error) -> String {
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

/// Prints a failure as `PROGRAM: error: LINE` lines on stderr and returns its exit code.
pub fn finish(program: &str, result: Result<(), Failure>) -> ExitCode {
    let failure = match result {
        Ok(()) => return ExitCode::SUCCESS,
        Err(f) => f,
    };
    let code = failure.code();
    let (Failure::Failed(lines) | Failure::BadInput(lines) | Failure::Unreachable(lines)) = failure;
    let mut err = std::io::stderr().lock();
    for line in lines {
        let _ = writeln!(err, "{program}: error: {line}");
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
