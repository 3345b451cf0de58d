//! Containers that follow a registry tag (docs/fleet-updates.md), on podman, Docker,
//! LXC and runc: `install --follow` installs and keeps following; a new package the
//! tag names is installed by berthd's own check; one that fails its probation is
//! rolled back, refused and not tried again until `updates --retry`. A staged
//! rollout takes exactly the devices its draw picks, and `berth rollout` adds the
//! rest without uploading the package again.

use berth_e2e::cli::berth_ok;
use berth_e2e::daemon::{ctl, start_with, Daemon};
use berth_e2e::images::Registry;
use berth_e2e::install::{ctl_ok, status, wait_for};
use berth_e2e::subjects::Subject;
use berth_e2e::*;
use serde_json::{json, Value};
use std::path::Path;

/// Version 1 serves; version 2 exits 2 s after it starts.
const SERVES_THEN_EXITS: [&str; 2] = [
    "echo version {v}; sleep 1000 & wait",
    "echo version {v}; sleep 2; exit 3",
];

fn short_probation(m: &mut Value) {
    m["registration_defaults"]["probation"] = 5.into();
}

/// Checks every second, without jitter.
fn quick_checks(extra: Value) -> Value {
    let mut config = json!({"updates": {"interval": 1, "jitter": 0, "retry": 1}});
    for (k, v) in extra.as_object().unwrap() {
        config[k] = v.clone();
    }
    config
}

/// Uninstalls `id` through whichever berthd listens on `d`'s socket then.
fn uninstall_on_drop<'a>(d: &Daemon, id: &'a str) -> OnDrop<impl FnMut() + 'a> {
    let socket = d.socket.clone();
    OnDrop(move || {
        let _ = ctl(&socket, &["uninstall", id]);
    })
}

fn updates(d: &Daemon) -> Vec<Value> {
    serde_json::from_str(&ctl_ok(d, &["updates", "--json"])).unwrap()
}

fn push(package: &Path, tag: &str, extra: &[&str]) -> Value {
    let mut args = vec!["push", package.to_str().unwrap(), tag, "--json"];
    args.extend_from_slice(extra);
    serde_json::from_str(&berth_ok(&args)).unwrap()
}

/// How many times berthd started installing `version` from its followed tag.
fn installs_of(dir: &Path, version: &str) -> usize {
    std::fs::read_to_string(dir.join("berthd.log"))
        .unwrap_or_default()
        .matches(&format!("names {version} ("))
        .count()
}

fn rolled_back_by_the_check_and_refused(dir: &Path, subject: &Subject) {
    let id = subject.id;
    let registry = Registry::start();
    let tag = format!("{}:stable", registry.image("fleet/app"));
    push(&subject.packages[0], &tag, &[]);
    let mut d = start_with(dir, quick_checks(json!({})));
    let _cleanup = uninstall_on_drop(&d, id);
    assert_eq!(
        ctl_ok(&d, &["install", &tag, "--follow"]),
        format!("installed {id} 1, running\n")
    );
    let listed = &updates(&d)[0];
    assert_eq!(
        (&listed["id"], &listed["follow"]),
        (&json!(id), &json!(tag))
    );
    assert_eq!(listed["result"], "installed 1 by hand", "{listed}");
    let containers: Value = serde_json::from_str(&ctl_ok(&d, &["list", "--json"])).unwrap();
    assert_eq!(containers[0]["follow"], json!(tag));

    // Version 2 on the tag: berthd's check installs it, its probation fails.
    let pushed = push(&subject.packages[1], &tag, &[]);
    let log = || std::fs::read_to_string(dir.join("berthd.log")).unwrap_or_default();
    wait_for("the rollback of version 2", || {
        status(&d, id)["rolled_back"]["from"] == "2"
    });
    let st = status(&d, id);
    assert_eq!(
        (&st["version"], &st["running"]),
        (&json!("1"), &json!(true)),
        "{st}"
    );
    let listed = &updates(&d)[0];
    let refused = listed["refused"].as_array().unwrap();
    assert_eq!(refused.len(), 1, "{listed}");
    assert_eq!(refused[0]["version"], "2");
    assert_eq!(refused[0]["digest"], pushed["package_digest"]);
    assert!(
        listed["result"]
            .as_str()
            .unwrap()
            .starts_with("rolled back 2: exited with code"),
        "{listed}"
    );
    // Checked again and again, never installed again.
    let seen_at = listed["last_check"].clone();
    wait_for("two more checks", || {
        let u = &updates(&d)[0];
        u["last_check"] != seen_at && u["failures"] == 0
    });
    std::thread::sleep(std::time::Duration::from_secs(2));
    assert_eq!(installs_of(dir, "2"), 1, "{}", log());
    assert_eq!(status(&d, id)["version"], "1");
    let text = ctl_ok(&d, &["updates"]);
    assert!(text.contains(&format!("{id} 1 follows {tag}")), "{text}");
    assert!(text.contains("refused 2 (sha256:"), "{text}");

    // berthd killed and started again: still following, still refusing.
    let _ = std::process::Command::new("kill")
        .args(["-KILL", "--", &format!("-{}", d.child.id())])
        .status();
    let _ = d.child.wait();
    d = start_with(dir, quick_checks(json!({})));
    let checked = updates(&d)[0]["last_check"].clone();
    wait_for("a check after the restart", || {
        updates(&d)[0]["last_check"] != checked
    });
    let listed = &updates(&d)[0];
    assert_eq!(listed["follow"], json!(tag), "{listed}");
    assert_eq!(listed["refused"][0]["version"], "2", "{listed}");
    assert_eq!(installs_of(dir, "2"), 1, "{}", log());
    assert_eq!(status(&d, id)["version"], "1");

    // Asked to, berthd tries it again (and rolls it back again).
    let retried: Value =
        serde_json::from_str(&ctl_ok(&d, &["updates", "--retry", id, "--json"])).unwrap();
    assert_eq!(retried[0]["refused"], json!([]), "{retried}");
    let first = status(&d, id)["rolled_back"]["at"].clone();
    wait_for("the second rollback of version 2", || {
        installs_of(dir, "2") == 2 && updates(&d)[0]["refused"].as_array().unwrap().len() == 1
    });
    assert_eq!(status(&d, id)["version"], "1", "{first}");

    // Not following any more: nothing is checked, nothing is listed.
    assert_eq!(
        ctl_ok(&d, &["follow", id, "--off"]),
        format!("{id} follows no tag\n")
    );
    assert_eq!(updates(&d), Vec::<Value>::new());
    ctl_ok(&d, &["uninstall", id]);
    subject.check_runtime("uninstalled", dir, None);
}

#[test]
fn podman_a_followed_tag_is_installed_rolled_back_and_refused() {
    require(&["podman"]);
    let dir = tempfile::tempdir().unwrap();
    let s = Subject::podman_running(
        dir.path(),
        "berth-e2e-follow",
        short_probation,
        &SERVES_THEN_EXITS,
    );
    rolled_back_by_the_check_and_refused(dir.path(), &s);
}

#[test]
fn docker_a_followed_tag_is_installed_rolled_back_and_refused() {
    let dir = tempfile::tempdir().unwrap();
    let s = Subject::docker_running(
        dir.path(),
        "berth-e2e-follow-docker",
        short_probation,
        &SERVES_THEN_EXITS,
    );
    rolled_back_by_the_check_and_refused(dir.path(), &s);
}

#[test]
fn lxc_a_followed_tag_is_installed_rolled_back_and_refused() {
    require(&["lxc-start"]);
    let dir = tempfile::tempdir().unwrap();
    let s = Subject::lxc_running(
        dir.path(),
        "berth-e2e-follow-lxc",
        short_probation,
        &SERVES_THEN_EXITS,
    );
    rolled_back_by_the_check_and_refused(dir.path(), &s);
}

#[test]
fn runc_a_followed_tag_is_installed_rolled_back_and_refused() {
    let dir = tempfile::tempdir().unwrap();
    let s = Subject::runc_running(
        dir.path(),
        "berth-e2e-follow-runc",
        short_probation,
        &SERVES_THEN_EXITS,
    );
    rolled_back_by_the_check_and_refused(dir.path(), &s);
}

/// The first 8 bytes of sha256("<device id>\n<package digest>") modulo 100: the
/// draw docs/fleet-updates.md documents, computed here apart from berthd.
fn draw(device: &str, package_digest: &str) -> u64 {
    use sha2::Digest as _;
    let hash = sha2::Sha256::digest(format!("{device}\n{package_digest}").as_bytes());
    u64::from_be_bytes(hash[..8].try_into().unwrap()) % 100
}

#[test]
fn a_staged_rollout_takes_the_devices_its_draw_picks_then_the_rest() {
    require(&["runc", "tar"]);
    let dir = tempfile::tempdir().unwrap();
    let (secret, public) = berth_e2e::signing::keygen(dir.path(), "release");
    let id = "berth-e2e-rollout";
    // Each version packed twice, reproducibly: unsigned (pushed) and signed (its
    // signature pushed beside it, as a referrer the rollout must carry along).
    let versions: Vec<(std::path::PathBuf, std::path::PathBuf)> = ["1", "2"]
        .iter()
        .map(|v| {
            let bundle = berth_e2e::subjects::oci_bundle(
                &dir.path().join(v),
                id,
                "trap 'exit 0' TERM; sleep 1000 & wait",
            );
            let mut m = berth_e2e::lxc::lxc_manifest(id);
            m["runtime"] = "runc".into();
            m["version"] = (*v).into();
            m["registration_defaults"]["probation"] = 0.into();
            let manifest = dir.path().join(format!("m{v}.json"));
            write_manifest(&manifest, &m);
            let pack = |out: &str, sign: bool| {
                let mut c = cmd(berth_bin().to_str().unwrap(), &["pack", "--manifest"]);
                c.arg(&manifest)
                    .arg("--payload")
                    .arg(&bundle)
                    .arg("--output-dir")
                    .arg(dir.path().join(format!("{out}{v}")))
                    .env("SOURCE_DATE_EPOCH", "1700000000");
                if sign {
                    c.arg("--sign").arg(&secret);
                }
                std::path::PathBuf::from(ok(c).trim())
            };
            let (unsigned, signed) = (pack("unsigned", false), pack("signed", true));
            let sig_dir = dir.path().join(format!("sig{v}"));
            std::fs::create_dir_all(&sig_dir).unwrap();
            ok(cmd("tar", &["-xzf"])
                .arg(&signed)
                .arg("-C")
                .arg(&sig_dir)
                .arg("checksums/sha256sums.txt.sig"));
            (unsigned, sig_dir.join("checksums/sha256sums.txt.sig"))
        })
        .collect();
    let registry = Registry::start();
    let tag = format!("{}:stable", registry.image("fleet/rollout"));
    let sign = |i: usize| vec!["--signature", versions[i].1.to_str().unwrap()];
    push(&versions[0].0, &tag, &sign(0));

    // Two devices whose draws for version 2 differ; the rollout between them.
    let v2_digest = format!("sha256:{}", sha256_hex(&versions[1].0));
    let mut devices: Vec<(u64, String)> = (0..20)
        .map(|i| format!("gw-{i}"))
        .map(|d| (draw(&d, &v2_digest), d))
        .collect();
    devices.sort();
    let (early, late) = (devices[0].clone(), devices[19].clone());
    assert!(early.0 < late.0, "{devices:?}");
    let percent = late.0; // early's draw is below it, late's is not
    let config = |device: &str| {
        quick_checks(json!({
            "device": {"id": device},
            "trust": {"keys": [public], "require_signature": true},
        }))
    };
    let (dir_early, dir_late) = (dir.path().join("early"), dir.path().join("late"));
    std::fs::create_dir_all(&dir_early).unwrap();
    std::fs::create_dir_all(&dir_late).unwrap();
    let d_early = start_with(&dir_early, config(&early.1));
    let _c1 = uninstall_on_drop(&d_early, id);
    let d_late = start_with(&dir_late, config(&late.1));
    let _c2 = uninstall_on_drop(&d_late, id);
    for d in [&d_early, &d_late] {
        ctl_ok(d, &["install", &tag, "--follow"]);
    }

    let mut args = sign(1);
    let rollout = percent.to_string();
    args.extend(["--rollout", &rollout]);
    let pushed = push(&versions[1].0, &tag, &args);
    assert_eq!(pushed["package_digest"], json!(v2_digest));
    wait_for("the early device on version 2", || {
        status(&d_early, id)["version"] == "2"
    });
    wait_for("two checks of the late device", || {
        updates(&d_late)[0]["result"] == json!(format!("held back by rollout ({percent}%): 2"))
    });
    std::thread::sleep(std::time::Duration::from_secs(2));
    assert_eq!(status(&d_late, id)["version"], "1");

    // Raised to every device: the manifest changes, the package does not, and the
    // signature still counts (the device requires one; the package holds none).
    let raised: Value =
        serde_json::from_str(&berth_ok(&["rollout", &tag, "100", "--json"])).unwrap();
    assert_eq!(
        (&raised["was"], &raised["signatures"]),
        (&json!(percent), &json!(1)),
        "{raised}"
    );
    wait_for("the late device on version 2", || {
        status(&d_late, id)["version"] == "2"
    });
    assert_eq!(status(&d_early, id)["version"], "2");
    assert_eq!(
        installs_of(&dir_early, "2"),
        1,
        "the early device took it once"
    );

    // Hostile or mistaken input: one line, exit 2.
    for (args, why) in [
        (
            vec!["rollout", tag.as_str(), "101"],
            "not a whole number from 0 to 100",
        ),
        (
            vec![
                "push",
                versions[1].0.to_str().unwrap(),
                tag.as_str(),
                "--rollout=-5",
            ],
            "not a whole number",
        ),
    ] {
        let out = berth_e2e::cli::berth(&args);
        assert_eq!(out.status.code(), Some(2), "{args:?}");
        assert!(
            String::from_utf8_lossy(&out.stderr).contains(why),
            "{args:?}"
        );
    }
    let by_digest = format!(
        "{}@{}",
        registry.image("fleet/rollout"),
        raised["digest"].as_str().unwrap()
    );
    let out = berth_e2e::cli::berth(&["rollout", &by_digest, "50"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("changes what a tag names"));
    for d in [&d_early, &d_late] {
        ctl_ok(d, &["uninstall", id]);
    }
}

#[test]
fn a_registry_that_fails_backs_off_without_holding_up_other_containers() {
    let dir = tempfile::tempdir().unwrap();
    let (gone, live) = ("berth-e2e-follow-gone", "berth-e2e-follow-live");
    let services = ["echo version {v}; sleep 1000 & wait"; 2];
    let no_probation = |m: &mut Value| m["registration_defaults"]["probation"] = 0.into();
    let a = Subject::runc_running(&dir.path().join("a"), gone, no_probation, &services);
    let b = Subject::runc_running(&dir.path().join("b"), live, no_probation, &services);
    let (dying, registry) = (Registry::start(), Registry::start());
    let tag_a = format!("{}:stable", dying.image("fleet/a"));
    let tag_b = format!("{}:stable", registry.image("fleet/b"));
    push(&a.packages[0], &tag_a, &[]);
    push(&b.packages[0], &tag_b, &[]);
    // Errors retried after 1 s, 2 s, 4 s... up to the interval (60 s); a silent
    // registry waited for 120 s.
    let mut config = quick_checks(json!({"registry": {"stall_timeout": 120}}));
    config["updates"]["interval"] = 60.into();
    let d = start_with(dir.path(), config);
    let _ca = uninstall_on_drop(&d, gone);
    let _cb = uninstall_on_drop(&d, live);
    ctl_ok(&d, &["install", &tag_a, "--follow"]);
    ctl_ok(&d, &["install", &tag_b, "--follow"]);
    drop(dying);
    // Follow again: checked at once (and then every 60 s).
    ctl_ok(&d, &["follow", gone, &tag_a]);
    push(&b.packages[1], &tag_b, &[]);
    ctl_ok(&d, &["follow", live, &tag_b]);
    wait_for("the live registry's update", || {
        status(&d, live)["version"] == "2"
    });
    std::thread::sleep(std::time::Duration::from_secs(8));
    let listed = updates(&d);
    let failing = listed.iter().find(|u| u["id"] == gone).unwrap();
    let failures = failing["failures"].as_u64().unwrap();
    // 1 + 2 + 4 s of waiting fit in 8 s, 1 + 2 + 4 + 8 do not: three or four
    // errors, where checks without back-off would have made eight.
    assert!((2..=5).contains(&failures), "{failing}");
    assert!(
        failing["result"]
            .as_str()
            .unwrap()
            .starts_with("registry error: "),
        "{failing}"
    );
    assert_eq!(status(&d, gone)["version"], "1");
    let text = ctl_ok(&d, &["updates"]);
    assert!(text.contains("registry errors in a row"), "{text}");

    // A registry that takes the connection and never answers (the kernel accepts
    // it; nobody reads): the check of `gone` hangs, and `live` still takes what its
    // tag names next (version 1 again) well before that check could give up.
    let silent = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let silent_tag = format!("docker://{}/fleet/a:stable", silent.local_addr().unwrap());
    ctl_ok(&d, &["follow", gone, &silent_tag]);
    std::thread::sleep(std::time::Duration::from_secs(2));
    push(&b.packages[0], &tag_b, &[]);
    let pushed = std::time::Instant::now();
    ctl_ok(&d, &["follow", live, &tag_b]); // checked now, not in 60 s
    wait_for("the live registry's next update", || {
        status(&d, live)["version"] == "1"
    });
    assert!(
        pushed.elapsed() < std::time::Duration::from_secs(30),
        "took {:?}: the silent registry held up the other container",
        pushed.elapsed()
    );
    let hanging = updates(&d).into_iter().find(|u| u["id"] == gone).unwrap();
    assert_eq!(hanging["follow"], json!(silent_tag));
    assert_eq!(hanging["failures"], 0, "still waiting: {hanging}");
    drop(silent);
    for id in [gone, live] {
        ctl_ok(&d, &["uninstall", id]);
    }
}
