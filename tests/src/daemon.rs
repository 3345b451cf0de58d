//! berthd and berthctl as processes: a daemon per test, its config, berthctl calls.

use crate::*;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

pub struct Daemon {
    pub child: Child,
    pub socket: PathBuf,
}

impl Drop for Daemon {
    fn drop(&mut self) {
        // berthd leads its process group: killing the group ends its event streams
        // too, which a test's end would otherwise leave running (containers are not
        // in the group).
        let _ = Command::new("kill")
            .args(["-KILL", "--", &format!("-{}", self.child.id())])
            .stderr(Stdio::null())
            .status();
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

pub fn write_config(dir: &Path) -> PathBuf {
    write_config_with(dir, serde_json::json!({}))
}

/// berthd's config for a test under `dir`, with `extra` sections added.
pub fn write_config_with(dir: &Path, extra: serde_json::Value) -> PathBuf {
    let config = dir.join("berthd.conf");
    let mut text = serde_json::json!({
        "version": 1,
        "service": {"working_path": dir.join("work"), "monitor_interval": 5},
        "api": {"socket": dir.join("run/berthd.sock"), "socket_mode": "0660"}
    });
    for (k, v) in extra.as_object().unwrap() {
        text[k] = v.clone();
    }
    std::fs::write(&config, text.to_string()).unwrap();
    config
}

pub fn start(dir: &Path) -> Daemon {
    start_with(dir, serde_json::json!({}))
}

/// Starts berthd with its log in `<dir>/berthd.log`; returns once it listens.
pub fn start_with(dir: &Path, extra: serde_json::Value) -> Daemon {
    start_with_env(dir, extra, &[])
}

/// `start_with`, with variables set in berthd's environment.
pub fn start_with_env(dir: &Path, extra: serde_json::Value, env: &[(&str, &str)]) -> Daemon {
    let mut berthd = Command::new(bin("berthd"));
    berthd.envs(env.iter().copied());
    start_command(dir, extra, berthd)
}

/// `start_with`, berthd being `berthd` (another build of it, or it under qemu-user).
pub fn start_command(dir: &Path, extra: serde_json::Value, mut berthd: Command) -> Daemon {
    let log = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(dir.join("berthd.log"))
        .unwrap();
    let child = berthd
        .arg("--config")
        .arg(write_config_with(dir, extra))
        .stdin(Stdio::null())
        .stderr(log)
        .spawn()
        .unwrap();
    let socket = dir.join("run/berthd.sock");
    let deadline = Instant::now() + Duration::from_secs(20);
    while std::os::unix::net::UnixStream::connect(&socket).is_err() {
        assert!(
            Instant::now() < deadline,
            "berthd did not open {}",
            socket.display()
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    Daemon { child, socket }
}

pub fn ctl(socket: &Path, args: &[&str]) -> std::process::Output {
    run(Command::new(bin("berthctl"))
        .arg("--socket")
        .arg(socket)
        .args(args))
}
