//! bench/fleet.sh with 5 instances: berthds in network namespaces of their own
//! follow one tag of one registry — install, upgrade by their own checks, a staged
//! rollout that takes exactly the devices the draw picks (the script checks), a
//! version rolled back and refused everywhere, idle checks of one HEAD each — and
//! nothing of the network set-up is left afterwards.

use berth_e2e::*;
use serde_json::Value;
use std::path::Path;

fn fleet_leftovers() -> (usize, usize) {
    let netns = ok(cmd("ip", &["netns", "list"]));
    let links = ok(cmd("ip", &["-o", "link", "show"]));
    (
        netns.lines().filter(|l| l.contains("berth-fleet-")).count(),
        links.lines().filter(|l| l.contains(": bf")).count(),
    )
}

#[test]
fn five_berthds_in_network_namespaces_follow_one_tag_of_one_registry() {
    require(&["ip", "nsenter", "runc", "docker-registry"]);
    let dir = tempfile::tempdir().unwrap();
    let result = dir.path().join("fleet.json");
    let berthd = bin("berthd");
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../bench/fleet.sh");
    let out = run(cmd("bash", &[])
        .arg(&script)
        .env("N", "5")
        .env("BIN_DIR", berthd.parent().unwrap())
        .env("BENCH_DIR", dir.path())
        .env("RESULT", &result));
    let printed = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.status.success(), "{printed}");
    assert!(
        printed.contains("clean-up: 0 namespaces and 0 veth left"),
        "{printed}"
    );
    assert_eq!(fleet_leftovers(), (0, 0), "{printed}");
    let figures: Value = serde_json::from_slice(&std::fs::read(&result).unwrap()).unwrap();
    assert_eq!(figures["instances"], 5);
    // Every device fetched the whole package from the registry, once per roll-out.
    let package = figures["package_bytes"].as_u64().unwrap();
    for key in ["install_registry_bytes", "upgrade_registry_bytes"] {
        let sent = figures[key].as_u64().unwrap();
        assert!(
            sent >= 5 * package && sent < 5 * package * 2,
            "{key} {sent} for {package}: {printed}"
        );
    }
    // Idle, a device asks one HEAD per check and nothing else.
    assert_eq!(figures["idle_requests"], figures["idle_heads"], "{printed}");
    let per_check = figures["requests_per_device_interval"].as_f64().unwrap();
    assert!((0.5..=1.5).contains(&per_check), "{printed}");
    assert!(printed.contains("tried once per device"), "{printed}");
}
