//! `berthd`: the device daemon. Loads its configuration, checks the files it owns,
//! and serves the API on a unix socket.

use berth_daemon::config::{self, ConfigError};
use berth_daemon::daemon_log as log;
use berth_daemon::server::serve;
use berth_daemon::store::{ContainersConf, StoreError};
use berth_daemon::{error_chain, Daemon};
use berth_exit::{self as exit, Failure};
use clap::Parser;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;

/// The berth device daemon: installs packages and runs their containers.
///
/// Without --config it reads /etc/berth/berthd.conf, else Digi's
/// /etc/cc-container-mng.conf, else runs with the built-in defaults (working path
/// /var/lib/berth, socket /run/berth/berthd.sock); --check-config names the file read.
/// In the working path it keeps containers.conf, or Digi's cc-containers.conf when
/// only that one exists. Exit codes: 0 ok, 1 failure, 2 bad configuration.
#[derive(Parser)]
#[command(name = "berthd", version, max_term_width = 100)]
struct Args {
    /// The configuration file (cc-container-mng.conf schema plus berth's keys).
    #[arg(long, value_name = "PATH")]
    config: Option<PathBuf>,
    /// Validate the configuration, print the effective settings as JSON, and exit.
    #[arg(long)]
    check_config: bool,
    /// Stop every managed container and exit (for shutdown; see berthd-shutdown.service).
    #[arg(long, conflicts_with = "check_config")]
    stop_managed_containers: bool,
}

/// Tells systemd (Type=notify) that the API is up, when started by it.
fn notify_ready() {
    let Some(path) = std::env::var_os("NOTIFY_SOCKET") else {
        return;
    };
    if let Ok(sock) = std::os::unix::net::UnixDatagram::unbound() {
        let _ = sock.send_to(b"READY=1", PathBuf::from(path));
    }
}

/// Binds the socket: its directory created, a stale socket from a killed daemon
/// replaced, a live daemon's socket left alone.
fn bind(path: &Path, mode: u32) -> Result<tokio::net::UnixListener, String> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)
            .map_err(|e| format!("{}: cannot create: {e}", dir.display()))?;
    }
    if path.exists() {
        if std::os::unix::net::UnixStream::connect(path).is_ok() {
            return Err(format!(
                "{}: another berthd is already serving here",
                path.display()
            ));
        }
        std::fs::remove_file(path)
            .map_err(|e| format!("{}: cannot remove stale socket: {e}", path.display()))?;
    }
    let listener = tokio::net::UnixListener::bind(path)
        .map_err(|e| format!("{}: cannot listen: {e}", path.display()))?;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode))
        .map_err(|e| format!("{}: cannot set mode: {e}", path.display()))?;
    Ok(listener)
}

fn main() -> ExitCode {
    // Before any thread exists (issue 29: what berthd keeps while it idles).
    berth_daemon::memory::tune_allocator();
    exit::finish("berthd", run(Args::parse()))
}

fn run(args: Args) -> Result<(), Failure> {
    let loaded = match config::load(args.config.as_deref()) {
        Ok(l) => l,
        Err(ConfigError::Invalid(issues)) => {
            return Err(Failure::bad_input_lines(&issues.to_string()))
        }
        // A file named on the command line that cannot be read is bad input.
        Err(e @ ConfigError::Read { .. }) if args.config.is_some() => {
            return Err(Failure::bad_input(error_chain(&e)))
        }
        Err(e @ ConfigError::Read { .. }) => return Err(Failure::failed(error_chain(&e))),
    };
    for w in &loaded.warnings {
        eprintln!("berthd: warning: {w}");
    }
    if args.check_config {
        let source = match &loaded.path {
            Some(p) => p.display().to_string(),
            None => "built-in defaults".into(),
        };
        eprintln!("berthd: configuration ok ({source})");
        let device = &loaded.config.device;
        if device.device_type.is_none() {
            eprintln!("berthd: device.type is not set: packages for any device type are accepted");
        }
        if device.firmware_version.is_none() {
            eprintln!(
                "berthd: device.firmware_version is not set: packages for any firmware are accepted"
            );
        }
        println!(
            "{}",
            serde_json::to_string_pretty(&loaded.config).expect("serialisable")
        );
        return Ok(());
    }

    let cfg = loaded.config;
    log::init(&cfg.logging);
    let wp = &cfg.service.working_path;
    if let Err(e) = std::fs::create_dir_all(wp) {
        return Err(Failure::failed(format!(
            "{}: cannot create the working path: {e}",
            wp.display()
        )));
    }
    // A containers.conf with an error is reported and left for a person to fix.
    let conf = match ContainersConf::load(&berth_daemon::store::containers_path(wp)) {
        Ok(conf) => conf,
        Err(StoreError::Invalid(issues)) => {
            return Err(Failure::bad_input_lines(&issues.to_string()))
        }
        Err(e) => return Err(Failure::failed(error_chain(&e))),
    };
    drop(conf);
    if args.stop_managed_containers {
        return stop_managed(&Daemon::with_system_runtimes(cfg));
    }
    let mut trusted_keys = Vec::new();
    for path in &cfg.trust.keys {
        match berth_package::sign::read_verifying_key(path) {
            Ok(key) => trusted_keys.push(key),
            Err(e) => {
                return Err(Failure::bad_input(format!(
                    "trust.keys: {}",
                    error_chain(&e)
                )))
            }
        }
    }
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_io()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            return Err(Failure::failed(format!(
                "cannot start the async runtime: {e}"
            )))
        }
    };
    let socket = cfg.api.socket.clone();
    let mode = cfg.api.socket_mode;
    let mut daemon = Daemon::with_system_runtimes(cfg);
    daemon.trusted_keys = trusted_keys;
    let state = Arc::new(daemon);
    // Whatever a crash interrupted is finished or undone before the API opens.
    state.recover().iter().for_each(|l| log_line(l));
    state.restore_supervision();
    state.resume_probations();
    let result = runtime.block_on(async move {
        let listener = bind(&socket, mode)?;
        log::info(format!("serving the API on {}", socket.display()));
        notify_ready();
        // Pre-installed packages, autostart and reconcile off the async thread: the
        // API answers meanwhile.
        let starting = Arc::clone(&state);
        tokio::task::spawn_blocking(move || {
            starting
                .install_preinstalled()
                .iter()
                .for_each(|l| log_line(l));
            starting.reconcile().iter().for_each(|l| log_line(l));
        });
        berth_daemon::supervise::threads::start(&state);
        let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
            .map_err(|e| e.to_string())?;
        let outcome = tokio::select! {
            r = serve(listener, state) => r.map_err(|e| format!("API server: {e}")),
            _ = term.recv() => Ok(()),
            _ = tokio::signal::ctrl_c() => Ok(()),
        };
        let _ = std::fs::remove_file(&socket);
        outcome
    });
    // The event streams' commands end with berthd (their threads are not unwound).
    berth_runtime::command::stop_followers();
    result.map_err(Failure::failed)
}

/// Stops every registered container that runs; one line per container.
fn stop_managed(daemon: &Daemon) -> Result<(), Failure> {
    let lines = daemon
        .stop_managed()
        .map_err(|e| Failure::failed(error_chain(&e)))?;
    let mut failed = false;
    for line in lines {
        match line {
            Ok(l) => match l.strip_prefix("warning: ") {
                Some(w) => eprintln!("berthd: warning: {w}"),
                None => eprintln!("berthd: {l}"),
            },
            Err(e) => {
                eprintln!("berthd: error: {e}");
                failed = true;
            }
        }
    }
    if failed {
        Err(Failure::Failed(Vec::new()))
    } else {
        Ok(())
    }
}

/// A line of recover/reconcile's report, by its prefix.
fn log_line(line: &str) {
    match (line.strip_prefix("warning: "), line.strip_prefix("error: ")) {
        (Some(w), _) => log::warn(w),
        (_, Some(e)) => log::error(e),
        _ => log::info(line),
    }
}
