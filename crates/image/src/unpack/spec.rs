//! The runtime spec (`config.json`) `umoci unpack` writes for an image: the runtime
//! spec's default template with umoci's choices (hostname, capabilities, one rlimit),
//! then the image config applied — user (names looked up in the rootfs's own
//! /etc/passwd and /etc/group), entrypoint + cmd, env over umoci's defaults, working
//! directory, labels and image facts as annotations. `rootless` is umoci's rootless
//! variant: a user namespace mapping the caller, `/sys` and resolv.conf bound.

use serde_json::{json, Value};
use std::path::Path;

#[derive(serde::Deserialize, Default)]
struct ImageConfig {
    #[serde(default)]
    created: Option<String>,
    #[serde(default)]
    author: Option<String>,
    #[serde(default)]
    architecture: String,
    #[serde(default)]
    os: String,
    #[serde(default)]
    config: Option<RunConfig>,
}

#[derive(serde::Deserialize, Default)]
#[serde(rename_all = "PascalCase")]
struct RunConfig {
    user: Option<String>,
    env: Option<Vec<String>>,
    entrypoint: Option<Vec<String>>,
    cmd: Option<Vec<String>>,
    working_dir: Option<String>,
    labels: Option<std::collections::BTreeMap<String, String>>,
    exposed_ports: Option<std::collections::BTreeMap<String, Value>>,
    stop_signal: Option<String>,
}

const CAPS: [&str; 3] = ["CAP_AUDIT_WRITE", "CAP_KILL", "CAP_NET_BIND_SERVICE"];

/// The runtime spec for image config `config` unpacked into `rootfs`.
pub fn runtime_spec(config: &[u8], rootfs: &Path, rootless: bool) -> Result<Value, String> {
    let image: ImageConfig =
        serde_json::from_slice(config).map_err(|e| format!("not an image config: {e}"))?;
    let run = image.config.unwrap_or_default();
    let (uid, gid, extra_gids, home) = user(run.user.as_deref().unwrap_or(""), rootfs)?;
    let mut args: Vec<String> = run.entrypoint.unwrap_or_default();
    args.extend(run.cmd.unwrap_or_default());
    if args.is_empty() {
        args.push("sh".into()); // the runtime spec template's default, which umoci keeps
    }
    let mut env = vec![
        "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin".to_string(),
        "TERM=xterm".to_string(),
    ];
    for var in run.env.unwrap_or_default() {
        let key = var.split('=').next().unwrap_or("").to_string();
        match env.iter_mut().find(|e| e.split('=').next() == Some(&key)) {
            Some(slot) => *slot = var,
            None => env.push(var),
        }
    }
    // The user's home from the image's /etc/passwd, unless the image sets HOME.
    if let Some(home) = home.filter(|_| !env.iter().any(|e| e.starts_with("HOME="))) {
        env.push(format!("HOME={home}"));
    }
    let mut annotations = serde_json::Map::new();
    for (k, v) in run.labels.unwrap_or_default() {
        annotations.insert(k, v.into());
    }
    let ports: Vec<String> = run.exposed_ports.unwrap_or_default().into_keys().collect();
    let facts = [
        ("architecture", image.architecture),
        ("author", image.author.unwrap_or_default()),
        // No date is Go's zero time, as umoci prints it.
        (
            "created",
            image
                .created
                .unwrap_or_else(|| "0001-01-01T00:00:00Z".into()),
        ),
        ("exposedPorts", ports.join(",")),
        ("os", image.os),
        ("stopSignal", run.stop_signal.unwrap_or_default()),
    ];
    for (k, v) in facts {
        annotations.insert(format!("org.opencontainers.image.{k}"), v.into());
    }
    let mut user = json!({"uid": uid, "gid": gid});
    if !extra_gids.is_empty() {
        user["additionalGids"] = json!(extra_gids);
    }
    let caps = json!(CAPS);
    let mut spec = json!({
        "ociVersion": "1.0.0",
        "process": {
            "terminal": true,
            "user": user,
            "args": args,
            "env": env,
            "cwd": run.working_dir.filter(|w| !w.is_empty()).unwrap_or_else(|| "/".into()),
            "capabilities": {"bounding": caps, "effective": caps, "inheritable": caps, "permitted": caps, "ambient": caps},
            "rlimits": [{"type": "RLIMIT_NOFILE", "hard": 1024, "soft": 1024}],
            "noNewPrivileges": true
        },
        "root": {"path": "rootfs"},
        "hostname": "umoci-default",
        "mounts": mounts(rootless),
        "annotations": annotations,
        "linux": {
            "resources": {"devices": [{"allow": false, "access": "rwm"}]},
            "namespaces": [{"type": "pid"}, {"type": "network"}, {"type": "ipc"}, {"type": "uts"}, {"type": "mount"}],
            "maskedPaths": ["/proc/kcore", "/proc/latency_stats", "/proc/timer_list", "/proc/timer_stats", "/proc/sched_debug", "/sys/firmware", "/proc/scsi"],
            "readonlyPaths": ["/proc/asound", "/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys", "/proc/sysrq-trigger"]
        }
    });
    if rootless {
        // umoci's rootless section, keys in its order (BundleGen keeps them so).
        let me = |id: u32| json!([{"containerID": 0, "hostID": id, "size": 1}]);
        let linux = &mut spec["linux"];
        *linux = json!({
            "uidMappings": me(rustix::process::geteuid().as_raw()),
            "gidMappings": me(rustix::process::getegid().as_raw()),
            "namespaces": [{"type": "pid"}, {"type": "ipc"}, {"type": "uts"}, {"type": "mount"}, {"type": "user"}],
            "maskedPaths": linux["maskedPaths"].take(),
            "readonlyPaths": linux["readonlyPaths"].take(),
        });
    }
    Ok(spec)
}

fn mounts(rootless: bool) -> Value {
    let mut mounts = json!([
        {"destination": "/proc", "type": "proc", "source": "proc"},
        {"destination": "/dev", "type": "tmpfs", "source": "tmpfs", "options": ["nosuid", "strictatime", "mode=755", "size=65536k"]},
        {"destination": "/dev/pts", "type": "devpts", "source": "devpts", "options": ["nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620", "gid=5"]},
        {"destination": "/dev/shm", "type": "tmpfs", "source": "shm", "options": ["nosuid", "noexec", "nodev", "mode=1777", "size=65536k"]},
        {"destination": "/dev/mqueue", "type": "mqueue", "source": "mqueue", "options": ["nosuid", "noexec", "nodev"]},
        {"destination": "/sys", "type": "sysfs", "source": "sysfs", "options": ["nosuid", "noexec", "nodev", "ro"]},
        {"destination": "/sys/fs/cgroup", "type": "cgroup", "source": "cgroup", "options": ["nosuid", "noexec", "nodev", "relatime", "ro"]}
    ]);
    if rootless {
        let list = mounts.as_array_mut().expect("an array");
        list[2]["options"] = json!([
            "nosuid",
            "noexec",
            "newinstance",
            "ptmxmode=0666",
            "mode=0620"
        ]);
        list[5] = json!({"destination": "/sys", "type": "bind", "source": "/sys", "options": ["rbind", "nosuid", "noexec", "nodev", "ro"]});
        list[6] = json!({"destination": "/etc/resolv.conf", "type": "bind", "source": "/etc/resolv.conf", "options": ["rbind", "ro"]});
    }
    mounts
}

type User = (u32, u32, Vec<u32>, Option<String>);

/// `User` (`name|uid[:group|gid]`, empty for root) as numbers, names looked up in the
/// rootfs, with the additional groups and the home directory its /etc/passwd gives.
fn user(spec: &str, rootfs: &Path) -> Result<User, String> {
    let spec = if spec.is_empty() { "0" } else { spec };
    let (u, g) = match spec.split_once(':') {
        Some((u, g)) => (u, Some(g)),
        None => (spec, None),
    };
    let passwd = read_db(rootfs, "etc/passwd");
    let group = read_db(rootfs, "etc/group");
    let row = match u.parse::<u32>() {
        Ok(uid) => passwd
            .iter()
            .find(|r| r.get(2).and_then(|v| v.parse().ok()) == Some(uid)),
        Err(_) => Some(
            passwd
                .iter()
                .find(|r| r[0] == u)
                .ok_or_else(|| format!("config.User: no user {u:?} in the image's /etc/passwd"))?,
        ),
    };
    let num = |i: usize| row.and_then(|r| r.get(i)?.parse::<u32>().ok());
    let uid = u.parse::<u32>().ok().or(num(2)).unwrap_or(0);
    let primary = num(3).unwrap_or(0);
    let name = row.map(|r| r[0].clone());
    let home = row.and_then(|r| r.get(5).cloned());
    let gid = match g {
        None => primary,
        Some(g) => match g.parse::<u32>() {
            Ok(gid) => gid,
            Err(_) => group
                .iter()
                .find(|r| r[0] == g)
                .and_then(|r| r.get(2)?.parse().ok())
                .ok_or_else(|| format!("config.User: no group {g:?} in the image's /etc/group"))?,
        },
    };
    // A user given alone gets the groups /etc/group lists it in (as umoci does).
    let mut extra = Vec::new();
    if g.is_none() {
        if let Some(name) = name {
            for r in &group {
                let member = r.get(3).is_some_and(|m| m.split(',').any(|m| m == name));
                if let (true, Some(id)) = (member, r.get(2).and_then(|v| v.parse::<u32>().ok())) {
                    if id != gid && !extra.contains(&id) {
                        extra.push(id);
                    }
                }
            }
        }
    }
    Ok((uid, gid, extra, home))
}

/// A colon-separated database of the rootfs, read without following it out: only a
/// regular file at exactly that path is read.
fn read_db(rootfs: &Path, rel: &str) -> Vec<Vec<String>> {
    let Ok(rel) = super::inside::resolve(rootfs, Path::new(rel), true) else {
        return Vec::new();
    };
    let path = rootfs.join(rel);
    let regular =
        std::fs::symlink_metadata(&path).is_ok_and(|m| m.is_file() && m.len() < (16 << 20));
    let text = if regular {
        std::fs::read_to_string(&path).unwrap_or_default()
    } else {
        String::new()
    };
    text.lines()
        .filter(|l| !l.starts_with('#') && !l.trim().is_empty())
        .map(|l| l.split(':').map(str::to_string).collect())
        .collect()
}
