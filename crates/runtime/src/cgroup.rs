//! Resource use of a container read straight from its init process's cgroup and
//! network namespace (/proc and the cgroup filesystems): no process per container.
//! LXC's tools have no batched statistics command, and `lxc-info` per container per
//! tick would cost one process each. cgroup v1, v2 and hybrid hierarchies are read.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Cumulative counters and current levels of one container at one moment.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Sample {
    /// CPU time used since the cgroup was made, in nanoseconds.
    pub cpu_ns: u64,
    pub memory_bytes: u64,
    /// The cgroup's memory limit; the host's memory when it has none.
    pub memory_limit_bytes: u64,
    pub pids: u64,
    pub block_read_bytes: u64,
    pub block_write_bytes: u64,
    pub net_rx_bytes: u64,
    pub net_tx_bytes: u64,
}

/// Where the cgroup hierarchies are mounted: v1 per controller, and the v2 one.
#[derive(Debug, Clone, Default)]
pub struct Mounts {
    v1: HashMap<String, PathBuf>,
    v2: Option<PathBuf>,
}

impl Mounts {
    /// This host's, from /proc/self/mountinfo.
    pub fn of_host() -> Mounts {
        Mounts::parse(&std::fs::read_to_string("/proc/self/mountinfo").unwrap_or_default())
    }

    /// v1 controllers with a v2 hierarchy beside them (systemd's "hybrid" layout).
    pub fn is_hybrid(&self) -> bool {
        !self.v1.is_empty() && self.v2.is_some()
    }

    /// Parses mountinfo: `id parent dev root mountpoint opts [tags] - fstype source superopts`.
    pub fn parse(mountinfo: &str) -> Mounts {
        let mut mounts = Mounts::default();
        for line in mountinfo.lines() {
            let Some((left, right)) = line.split_once(" - ") else {
                continue;
            };
            let Some(point) = left.split_whitespace().nth(4) else {
                continue;
            };
            let mut right = right.split_whitespace();
            let (fstype, super_opts) = (right.next(), right.nth(1).unwrap_or_default());
            match fstype {
                Some("cgroup2") => mounts.v2 = Some(PathBuf::from(point)),
                Some("cgroup") => {
                    for controller in super_opts.split(',') {
                        mounts
                            .v1
                            .entry(controller.to_string())
                            .or_insert_with(|| PathBuf::from(point));
                    }
                }
                _ => {}
            }
        }
        mounts
    }
}

/// A process's start time (field 22 of /proc/PID/stat, in clock ticks since boot).
pub fn process_start(pid: u32) -> Option<u64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // pid (comm) state ppid ...: the fields after the last ')' start at field 3.
    stat.rsplit_once(')')?
        .1
        .split_whitespace()
        .nth(19)?
        .parse()
        .ok()
}

/// Statistics of many containers from their init pids, with CPU % as the difference
/// between two readings: each container's last reading is kept for the next call,
/// and one seen for the first time is read twice, a moment apart.
pub struct Sampler {
    mounts: Mounts,
    /// Each container's last CPU reading: when, and nanoseconds used.
    last_cpu: Mutex<HashMap<String, (Instant, u64)>>,
    /// The init pids (and their start times) of the running containers of the last
    /// listing `remember`ed: statistics right after a listing need no second one.
    listed: Mutex<HashMap<String, (u32, Option<u64>)>>,
}

impl Default for Sampler {
    fn default() -> Self {
        Sampler::new(Mounts::of_host())
    }
}

impl Sampler {
    pub fn new(mounts: Mounts) -> Self {
        Sampler {
            mounts,
            last_cpu: Mutex::new(HashMap::new()),
            listed: Mutex::new(HashMap::new()),
        }
    }

    /// Keeps the init pids of a listing's running containers for `stats_of_remembered`.
    pub fn remember(&self, listed: &[crate::ContainerState]) {
        let running = listed
            .iter()
            .filter(|c| c.running)
            .filter_map(|c| Some((c.id.clone(), (c.pid?, process_start(c.pid?)))))
            .collect();
        *self.listed.lock().unwrap_or_else(|p| p.into_inner()) = running;
    }

    /// The statistics of `ids` from the remembered listing, if it has each of them
    /// with the same init process still there; `None` means: list again.
    pub fn stats_of_remembered(&self, ids: &[String]) -> Option<Vec<(String, crate::Stats)>> {
        let listed = self
            .listed
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone();
        let wanted: Vec<(String, u32)> = ids
            .iter()
            .map(|id| {
                let (pid, started) = listed.get(id)?;
                (started.is_some() && process_start(*pid) == *started).then(|| (id.clone(), *pid))
            })
            .collect::<Option<_>>()?;
        Some(self.stats(&wanted, &|id| listed.contains_key(id)))
    }

    /// The statistics of those of `ids` that run in `listed` (a runtime's listing,
    /// whose running containers have their init pids).
    pub fn stats_of_listed(
        &self,
        ids: &[String],
        listed: Vec<crate::ContainerState>,
    ) -> Vec<(String, crate::Stats)> {
        let running: HashMap<String, u32> = listed
            .into_iter()
            .filter(|c| c.running)
            .filter_map(|c| Some((c.id, c.pid?)))
            .collect();
        let wanted: Vec<(String, u32)> = ids
            .iter()
            .filter_map(|id| Some((id.clone(), *running.get(id)?)))
            .collect();
        self.stats(&wanted, &|id| running.contains_key(id))
    }

    /// The statistics of each `(id, init pid)` whose cgroup can be read, in order.
    /// Containers for which `still_running` is false lose their last reading.
    pub fn stats(
        &self,
        running: &[(String, u32)],
        still_running: &dyn Fn(&str) -> bool,
    ) -> Vec<(String, crate::Stats)> {
        let read = |(id, pid): &(String, u32)| {
            let sample = sample(Path::new("/proc"), &self.mounts, *pid).ok()?;
            Some((id.clone(), Instant::now(), sample))
        };
        let mut samples: Vec<_> = running.iter().filter_map(read).collect();
        let mut last = self.last_cpu.lock().unwrap_or_else(|p| p.into_inner());
        let unseen: Vec<&(String, u32)> = running
            .iter()
            .filter(|(id, _)| !last.contains_key(id))
            .collect();
        if !unseen.is_empty() {
            for (id, at, s) in &samples {
                last.insert(id.clone(), (*at, s.cpu_ns));
            }
            std::thread::sleep(Duration::from_millis(250));
            for fresh in unseen.into_iter().filter_map(read) {
                if let Some(old) = samples.iter_mut().find(|(id, ..)| *id == fresh.0) {
                    *old = fresh;
                }
            }
        }
        last.retain(|id, _| still_running(id));
        samples
            .into_iter()
            .map(|(id, at, s)| {
                let cpu_percent = match last.insert(id.clone(), (at, s.cpu_ns)) {
                    Some((then, used)) if at > then => {
                        s.cpu_ns.saturating_sub(used) as f64 * 100.0
                            / at.duration_since(then).as_nanos() as f64
                    }
                    _ => 0.0,
                };
                let stats = crate::Stats {
                    cpu_percent,
                    memory_bytes: s.memory_bytes,
                    memory_limit_bytes: s.memory_limit_bytes,
                    net_rx_bytes: s.net_rx_bytes,
                    net_tx_bytes: s.net_tx_bytes,
                    block_read_bytes: s.block_read_bytes,
                    block_write_bytes: s.block_write_bytes,
                    pids: s.pids,
                };
                (id, stats)
            })
            .collect()
    }
}

/// Reads the sample of the container whose init process is `pid`. `proc_root` is
/// /proc (a fixture in tests). Counters a hierarchy lacks read as 0.
pub fn sample(proc_root: &Path, mounts: &Mounts, pid: u32) -> std::io::Result<Sample> {
    let proc_pid = proc_root.join(pid.to_string());
    let groups = std::fs::read_to_string(proc_pid.join("cgroup"))?;
    // hierarchy-id:controllers:path; v2's line is `0::path`.
    let mut v1: HashMap<&str, PathBuf> = HashMap::new();
    let mut v2: Option<PathBuf> = None;
    for line in groups.lines() {
        let mut f = line.splitn(3, ':');
        let (Some(_), Some(controllers), Some(path)) = (f.next(), f.next(), f.next()) else {
            continue;
        };
        let relative = path.trim_start_matches('/');
        if controllers.is_empty() {
            v2 = mounts.v2.as_ref().map(|m| m.join(relative));
        }
        for c in controllers.split(',') {
            if let Some(m) = mounts.v1.get(c) {
                v1.insert(c, m.join(relative));
            }
        }
    }
    let read = |dir: Option<&PathBuf>, file: &str| -> Option<String> {
        std::fs::read_to_string(dir?.join(file)).ok()
    };
    let number = |text: Option<String>| -> Option<u64> { text?.trim().parse().ok() };
    let host_memory = host_memory(proc_root);

    let cpu_ns = number(read(v1.get("cpuacct"), "cpuacct.usage"))
        .or_else(|| keyed(&read(v2.as_ref(), "cpu.stat")?, "usage_usec").map(|us| us * 1000))
        .unwrap_or(0);
    let memory_bytes = number(read(v1.get("memory"), "memory.usage_in_bytes"))
        .or_else(|| number(read(v2.as_ref(), "memory.current")))
        .unwrap_or(0);
    // Unlimited reads as a huge number (v1) or "max" (v2): the host's memory then.
    let memory_limit_bytes = number(read(v1.get("memory"), "memory.limit_in_bytes"))
        .or_else(|| number(read(v2.as_ref(), "memory.max")))
        .map_or(host_memory, |l| l.min(host_memory));
    let pids = number(read(v1.get("pids"), "pids.current"))
        .or_else(|| number(read(v2.as_ref(), "pids.current")))
        .unwrap_or(0);
    let (block_read_bytes, block_write_bytes) =
        match read(v1.get("blkio"), "blkio.throttle.io_service_bytes") {
            Some(text) => blkio_v1(&text),
            None => read(v2.as_ref(), "io.stat").map_or((0, 0), |t| io_stat_v2(&t)),
        };
    let (net_rx_bytes, net_tx_bytes) =
        std::fs::read_to_string(proc_pid.join("net/dev")).map_or((0, 0), |t| net_dev(&t));
    Ok(Sample {
        cpu_ns,
        memory_bytes,
        memory_limit_bytes,
        pids,
        block_read_bytes,
        block_write_bytes,
        net_rx_bytes,
        net_tx_bytes,
    })
}

/// `key value` lines (cpu.stat): the value of `key`.
fn keyed(text: &str, key: &str) -> Option<u64> {
    text.lines().find_map(|l| {
        let (k, v) = l.split_once(' ')?;
        (k == key).then(|| v.trim().parse().ok()).flatten()
    })
}

/// MemTotal of /proc/meminfo in bytes (u64::MAX when unreadable).
fn host_memory(proc_root: &Path) -> u64 {
    std::fs::read_to_string(proc_root.join("meminfo"))
        .ok()
        .and_then(|t| {
            t.lines()
                .find_map(|l| l.strip_prefix("MemTotal:"))
                .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
        })
        .map_or(u64::MAX, |kb| kb * 1024)
}

/// v1 `blkio.throttle.io_service_bytes`: `8:0 Read 4096` lines, summed over devices.
fn blkio_v1(text: &str) -> (u64, u64) {
    let (mut read, mut write) = (0, 0);
    for line in text.lines() {
        let mut f = line.split_whitespace();
        let (Some(_device), Some(op), Some(n)) = (f.next(), f.next(), f.next()) else {
            continue;
        };
        let n: u64 = n.parse().unwrap_or(0);
        match op {
            "Read" => read += n,
            "Write" => write += n,
            _ => {}
        }
    }
    (read, write)
}

/// v2 `io.stat`: `8:0 rbytes=4096 wbytes=0 ...` lines, summed over devices.
fn io_stat_v2(text: &str) -> (u64, u64) {
    let (mut read, mut write) = (0, 0);
    for field in text.split_whitespace() {
        if let Some(n) = field.strip_prefix("rbytes=") {
            read += n.parse::<u64>().unwrap_or(0);
        } else if let Some(n) = field.strip_prefix("wbytes=") {
            write += n.parse::<u64>().unwrap_or(0);
        }
    }
    (read, write)
}

/// /proc/PID/net/dev (the container's network namespace): received and sent bytes
/// over every interface but loopback.
fn net_dev(text: &str) -> (u64, u64) {
    let (mut rx, mut tx) = (0, 0);
    for line in text.lines().skip(2) {
        let Some((name, counters)) = line.split_once(':') else {
            continue;
        };
        if name.trim() == "lo" {
            continue;
        }
        let c: Vec<u64> = counters
            .split_whitespace()
            .map(|n| n.parse().unwrap_or(0))
            .collect();
        // 8 receive counters (bytes first), then 8 transmit counters (bytes first).
        rx += c.first().copied().unwrap_or(0);
        tx += c.get(8).copied().unwrap_or(0);
    }
    (rx, tx)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write(path: &Path, text: &str) {
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, text).unwrap();
    }

    const NET_DEV: &str = "Inter-|   Receive                                                |  Transmit
 face |bytes    packets errs drop fifo frame compressed multicast|bytes    packets errs drop fifo colls carrier compressed
    lo:  5000      10    0    0    0     0          0         0     5000      10    0    0    0     0       0          0
  eth0:  1200       3    0    0    0     0          0         0      800       2    0    0    0     0       0          0
";

    fn proc_fixture(root: &Path, pid: u32, cgroup: &str) {
        write(&root.join(format!("{pid}/cgroup")), cgroup);
        write(&root.join(format!("{pid}/net/dev")), NET_DEV);
        write(
            &root.join("meminfo"),
            "MemTotal:        2048 kB\nMemFree: 1 kB\n",
        );
    }

    #[test]
    fn v1_hierarchies_are_read_per_controller() {
        let t = tempfile::tempdir().unwrap();
        let sys = t.path().join("sys");
        let mountinfo = format!(
            "30 25 0:27 / {s}/memory rw,nosuid - cgroup cgroup rw,memory\n\
             31 25 0:28 / {s}/cpu,cpuacct rw - cgroup cgroup rw,cpu,cpuacct\n\
             32 25 0:29 / {s}/pids rw - cgroup cgroup rw,pids\n\
             33 25 0:30 / {s}/blkio rw - cgroup cgroup rw,blkio\n\
             34 25 0:31 / {s}/unified rw - cgroup2 cgroup2 rw\n\
             35 25 0:32 / /proc rw - proc proc rw\n",
            s = sys.display()
        );
        let mounts = Mounts::parse(&mountinfo);
        proc_fixture(
            &t.path().join("proc"),
            42,
            "5:memory:/lxc.payload.web\n4:cpu,cpuacct:/lxc.payload.web\n3:pids:/lxc.payload.web\n2:blkio:/lxc.payload.web\n0::/lxc.payload.web\n",
        );
        let g = |c: &str, f: &str| sys.join(c).join("lxc.payload.web").join(f);
        write(&g("memory", "memory.usage_in_bytes"), "1000\n");
        write(
            &g("memory", "memory.limit_in_bytes"),
            "9223372036854771712\n",
        );
        write(&g("cpu,cpuacct", "cpuacct.usage"), "123456789\n");
        write(&g("pids", "pids.current"), "3\n");
        write(
            &g("blkio", "blkio.throttle.io_service_bytes"),
            "8:0 Read 4096\n8:0 Write 512\n8:0 Sync 0\n8:16 Read 4\nTotal 4612\n",
        );
        let s = sample(&t.path().join("proc"), &mounts, 42).unwrap();
        assert_eq!(
            s,
            Sample {
                cpu_ns: 123456789,
                memory_bytes: 1000,
                memory_limit_bytes: 2048 * 1024, // unlimited: the host's
                pids: 3,
                block_read_bytes: 4100,
                block_write_bytes: 512,
                net_rx_bytes: 1200, // lo left out
                net_tx_bytes: 800,
            }
        );
    }

    #[test]
    fn a_v2_hierarchy_is_read_from_the_unified_files() {
        let t = tempfile::tempdir().unwrap();
        let sys = t.path().join("sys");
        let mounts = Mounts::parse(&format!(
            "30 25 0:27 / {} rw - cgroup2 cgroup2 rw\n",
            sys.display()
        ));
        proc_fixture(&t.path().join("proc"), 7, "0::/lxc.payload.db\n");
        let g = |f: &str| sys.join("lxc.payload.db").join(f);
        write(
            &g("cpu.stat"),
            "usage_usec 2500\nuser_usec 2000\nsystem_usec 500\n",
        );
        write(&g("memory.current"), "4096\n");
        write(&g("memory.max"), "8192\n");
        write(&g("pids.current"), "2\n");
        write(
            &g("io.stat"),
            "8:0 rbytes=100 wbytes=20 rios=1 wios=1\n8:16 rbytes=1 wbytes=2\n",
        );
        let s = sample(&t.path().join("proc"), &mounts, 7).unwrap();
        assert_eq!(
            (s.cpu_ns, s.memory_bytes, s.memory_limit_bytes, s.pids),
            (2_500_000, 4096, 8192, 2)
        );
        assert_eq!((s.block_read_bytes, s.block_write_bytes), (101, 22));
        assert_eq!((s.net_rx_bytes, s.net_tx_bytes), (1200, 800));
    }

    #[test]
    fn a_gone_process_is_an_error_not_zeros() {
        let t = tempfile::tempdir().unwrap();
        assert!(sample(t.path(), &Mounts::default(), 1).is_err());
    }

    #[test]
    fn statistics_after_a_listing_reuse_its_pids_while_the_processes_are_the_same() {
        let sampler = Sampler::default();
        let me = std::process::id();
        let state = |id: &str, pid: u32| crate::ContainerState {
            id: id.into(),
            running: true,
            pid: Some(pid),
            ..Default::default()
        };
        let mut child = std::process::Command::new("sleep")
            .arg("30")
            .spawn()
            .unwrap();
        sampler.remember(&[state("a", me), state("b", child.id())]);
        let stats = sampler
            .stats_of_remembered(&["a".into(), "b".into()])
            .unwrap();
        assert_eq!(stats.len(), 2);
        // One it did not list, or whose process is gone, means: list again.
        assert!(sampler.stats_of_remembered(&["c".into()]).is_none());
        child.kill().unwrap();
        child.wait().unwrap();
        assert!(sampler.stats_of_remembered(&["b".into()]).is_none());
        assert!(sampler.stats_of_remembered(&["a".into()]).is_some());
    }
}
