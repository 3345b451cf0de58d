//! Helpers for the end-to-end tests: the berth binary, real tools (which must be
//! installed: a missing one fails the test with the command that installs it), and
//! images made by code from busybox-static.

pub mod build;
pub mod bundlegen;
pub mod cli;
pub mod daemon;
pub mod hostile;
/// The scripted registry lives beside the client it tests (berth-registry's testkit).
pub mod hostile_registry {
    pub use berth_registry::testkit::*;
}
pub mod images;
pub mod install;
pub mod lxc;
pub mod signing;
pub mod subjects;
pub mod tree;
pub mod units;
pub mod yocto;

pub use tree::{tree, tree_contents};

use std::borrow::BorrowMut;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

/// The `berth` binary built by `cargo build` (or `$BERTH_BIN`).
pub fn berth_bin() -> PathBuf {
    if let Ok(p) = std::env::var("BERTH_BIN") {
        return PathBuf::from(p);
    }
    bin("berth")
}

/// A binary of this workspace, built by `cargo build --workspace`.
/// Runs `bench/<script>` with the test build's binaries (`BIN_DIR`), its scratch
/// under `dir` (`BENCH_DIR`), its figures to `dir/<script>.json` (`RESULT`) and
/// `env`; returns whether it succeeded, what it printed, and its figures' path.
pub fn run_bench(script: &str, dir: &Path, env: &[(&str, &str)]) -> (bool, String, PathBuf) {
    let result = dir.join(format!("{script}.json"));
    let berthd = bin("berthd");
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../bench")
        .join(script);
    let out = run(cmd("bash", &[])
        .arg(&path)
        .envs(env.iter().copied())
        .env("BIN_DIR", berthd.parent().unwrap())
        .env("BENCH_DIR", dir)
        .env("RESULT", &result));
    let printed = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.success(), printed, result)
}

pub fn bin(name: &str) -> PathBuf {
    let target = std::env::var("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|_| Path::new(env!("CARGO_MANIFEST_DIR")).join("../target"));
    let bin = target.join("debug").join(name);
    assert!(
        bin.exists(),
        "{} is missing: run `cargo build --workspace` first (scripts/test.sh does)",
        bin.display()
    );
    bin
}

/// Fails loudly when a tool the test needs is missing: CI installs them all.
pub fn require(tools: &[&str]) {
    for tool in tools {
        let found = std::env::var_os("PATH")
            .map(|paths| std::env::split_paths(&paths).any(|d| d.join(tool).is_file()))
            .unwrap_or(false);
        assert!(
            found,
            "{tool} is not installed: run `sudo scripts/setup.sh` (this test needs real {tool})"
        );
    }
    if tools.contains(&"podman") {
        assert!(
            is_root(),
            "podman tests run as root (CI does): run the suite with sudo"
        );
    }
}

fn is_root() -> bool {
    std::fs::read_to_string("/proc/self/status")
        .map(|s| {
            s.lines()
                .any(|l| l.starts_with("Uid:") && l.split_whitespace().nth(1) == Some("0"))
        })
        .unwrap_or(false)
}

/// Runs a command (argv, never a shell) and returns its output.
pub fn run(mut cmd: impl BorrowMut<Command>) -> Output {
    let cmd = cmd.borrow_mut();
    cmd.stdin(Stdio::null())
        .output()
        .unwrap_or_else(|e| panic!("cannot run {cmd:?}: {e}"))
}

/// Runs a command that must succeed; returns its stdout.
pub fn ok(mut cmd: impl BorrowMut<Command>) -> String {
    let cmd = cmd.borrow_mut();
    let out = run(&mut *cmd);
    assert!(
        out.status.success(),
        "{cmd:?} failed ({}):\n{}{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

pub fn cmd(program: &str, args: &[&str]) -> Command {
    let mut c = Command::new(program);
    c.args(args);
    c
}

/// `n` bytes no compressor shrinks (xorshift from `seed`).
pub fn noise(seed: u64, n: usize) -> Vec<u8> {
    let mut x = seed | 1;
    (0..n)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x as u8
        })
        .collect()
}

/// A root filesystem of busybox-static and its applet links, under `dir/rootfs`.
/// A container's command that serves until it is stopped, and ends at once on SIGTERM
/// (and SIGPWR, LXC's halt signal) as a service does. A shell or `sleep` as a
/// container's first process has no handler for SIGTERM and the kernel does not apply
/// the default action to a namespace's init, so it ignores the signal: every stop
/// would wait out its grace period (10 s) and end in SIGKILL. Tests of that path use
/// a plain `sleep` on purpose.
pub const SERVE: &str = "trap 'exit 0' PWR TERM; sleep 1000 & wait";

pub fn busybox_rootfs(dir: &Path) -> PathBuf {
    let rootfs = dir.join("rootfs");
    let bin = rootfs.join("bin");
    std::fs::create_dir_all(&bin).unwrap();
    let busybox = ["/bin/busybox", "/usr/bin/busybox"]
        .into_iter()
        .find(|p| Path::new(p).exists())
        .expect("busybox-static is not installed: run scripts/setup.sh");
    std::fs::copy(busybox, bin.join("busybox")).unwrap();
    // Ask the installed busybox, not the fresh copy: a copy just written can be
    // "text file busy" while another test thread forks.
    let applets = ok(&mut cmd(busybox, &["--list"]));
    for applet in applets.lines().filter(|a| *a != "busybox") {
        let _ = std::os::unix::fs::symlink("busybox", bin.join(applet));
    }
    rootfs
}

/// `rootfs` as a plain tar (`tar -C rootfs -cf dir/rootfs.tar .`); its path.
pub fn rootfs_tar(dir: &Path, rootfs: &Path) -> PathBuf {
    let tarball = dir.join("rootfs.tar");
    ok(cmd(
        "tar",
        &[
            "-C",
            rootfs.to_str().unwrap(),
            "-cf",
            tarball.to_str().unwrap(),
            ".",
        ],
    ));
    tarball
}

/// A podman image `tag` made from busybox-static, whose default command is `cmd`.
/// Removed again when the guard drops.
pub struct TestImage {
    pub tag: String,
}

impl TestImage {
    pub fn build(dir: &Path, tag: &str, command: &str) -> TestImage {
        // In a directory of its own: a caller's `dir` may hold a `rootfs` of its own
        // (rootfs_install's device rootfs, where a running berthd writes; seen in CI:
        // tar failed on a file berthd renamed while it was read).
        let dir = &dir.join(format!("image-{}", tag.replace(['/', ':'], "-")));
        let rootfs = busybox_rootfs(dir);
        // A file unique to the image gives it a layer of its own: tests run in
        // parallel, and removing one image must not remove a layer another is loading.
        std::fs::create_dir_all(rootfs.join("etc")).unwrap();
        std::fs::write(rootfs.join("etc/berth-test-image"), tag).unwrap();
        let tarball = rootfs_tar(dir, &rootfs);
        let _ = run(&mut cmd("podman", &["rmi", "-f", tag]));
        let change = format!(
            "CMD [\"/bin/sh\", \"-c\", {}]",
            serde_json::Value::String(command.into())
        );
        ok(&mut cmd(
            "podman",
            &[
                "import",
                "-q",
                "--change",
                &change,
                tarball.to_str().unwrap(),
                tag,
            ],
        ));
        TestImage { tag: tag.into() }
    }

    /// Adds a layer holding `/etc/<file>` = `content` on top of the image (same tag).
    pub fn add_layer(&self, dir: &Path, file: &str, content: &[u8]) {
        let ctx = dir.join(format!("ctx-{file}"));
        std::fs::create_dir_all(&ctx).unwrap();
        std::fs::write(ctx.join(file), content).unwrap();
        std::fs::write(
            ctx.join("Containerfile"),
            format!("FROM {}\nCOPY {file} /etc/{file}\n", self.tag),
        )
        .unwrap();
        ok(&mut cmd(
            "podman",
            // No cache lookup: it walks every image's layers and fails with "layer
            // not known" when another test removes an image meanwhile (seen in CI).
            &[
                "build",
                "-q",
                "--no-cache",
                "-t",
                &self.tag,
                ctx.to_str().unwrap(),
            ],
        ));
    }

    /// The image's id (full hex).
    pub fn id(&self) -> String {
        ok(&mut cmd(
            "podman",
            &["image", "inspect", "--format", "{{.Id}}", &self.tag],
        ))
        .trim()
        .to_string()
    }

    /// `podman save` in the given format ("docker-archive" or "oci-archive").
    pub fn save(&self, format: &str, to: &Path) {
        ok(&mut cmd(
            "podman",
            &[
                "save",
                "-q",
                "--format",
                format,
                "-o",
                to.to_str().unwrap(),
                &self.tag,
            ],
        ));
    }

    pub fn remove(&self) {
        let _ = run(&mut cmd("podman", &["rmi", "-f", &self.tag]));
    }
}

impl Drop for TestImage {
    fn drop(&mut self) {
        self.remove();
    }
}

/// A manifest for `runtime`, written to `path`.
pub fn write_manifest(path: &Path, value: &serde_json::Value) {
    std::fs::write(path, serde_json::to_vec_pretty(value).unwrap()).unwrap();
}

pub fn sha256_hex(path: &Path) -> String {
    use sha2::Digest;
    let mut f = std::fs::File::open(path).unwrap();
    let mut h = sha2::Sha256::new();
    std::io::copy(&mut f, &mut h).unwrap();
    hex::encode(h.finalize())
}

/// Docker Engine for a test. Fails loudly when docker is not installed; starts dockerd
/// (scripts/dockerd.sh) when none answers, once per test process, and stops the one it
/// started when every test process that used it has ended: a watcher process waits
/// for the pids in `/run/berth-dockerd-<pid>.users` (a test process that finds a
/// dockerd some earlier test process started adds itself there, so the earlier one's
/// watcher does not stop it under the later one).
pub fn require_docker() {
    require(&["docker", "dockerd"]);
    static STARTED: std::sync::OnceLock<()> = std::sync::OnceLock::new();
    STARTED.get_or_init(|| {
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../scripts/dockerd.sh");
        let started = ok(cmd("bash", &[script.to_str().unwrap(), "start"]));
        let me = std::process::id().to_string();
        let users = |pid: &str| std::path::PathBuf::from(format!("/run/berth-dockerd-{pid}.users"));
        let pid = started.trim();
        if pid.is_empty() {
            // One answers already: a test's (then this process uses it too) or the
            // host's (not ours to stop).
            let running = run(&mut cmd("pidof", &["dockerd"]));
            for p in String::from_utf8_lossy(&running.stdout).split_whitespace() {
                if let Ok(mut f) = std::fs::OpenOptions::new().append(true).open(users(p)) {
                    use std::io::Write;
                    let _ = writeln!(f, "{me}");
                }
            }
            return;
        }
        std::fs::write(users(pid), format!("{me}\n")).expect("writing the dockerd users file");
        // The launcher returns at once; the watcher it leaves outlives this process.
        let launched = Command::new("sh")
            .args([
                "-c",
                "(while (for p in $(cat \"$1\" 2>/dev/null); do kill -0 \"$p\" 2>/dev/null && exit 0; done; exit 1); do sleep 1; done; rm -f \"$1\"; exec bash \"$2\" stop \"$3\") &",
                "sh",
                users(pid).to_str().unwrap(),
                script.to_str().unwrap(),
                pid,
            ])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .expect("cannot start the dockerd watcher");
        assert!(launched.success(), "the dockerd watcher did not start");
    });
}

/// `docker ARGS` succeeded.
pub fn docker_ok(args: &[&str]) -> bool {
    run(&mut cmd("docker", args)).status.success()
}

/// Runs its closure when dropped: a test's cleanup that runs when it panics too.
pub struct OnDrop<F: FnMut()>(pub F);

impl<F: FnMut()> Drop for OnDrop<F> {
    fn drop(&mut self) {
        (self.0)()
    }
}
