//! bench/fleet.sh with 5 instances: berthds in network namespaces of their own
//! follow one tag of one registry — install, upgrade by their own checks fetching
//! only what changed, a staged rollout that takes exactly the devices the draw picks
//! (the script checks), a
//! version rolled back and refused everywhere, idle checks of one HEAD each — and
//! nothing of the network set-up is left afterwards.

use berth_e2e::*;
use serde_json::Value;

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
    let (ok, printed, result) = run_bench("fleet.sh", dir.path(), &[("N", "5")]);
    assert!(ok, "{printed}");
    assert!(
        printed.contains("clean-up: 0 namespaces and 0 veth left"),
        "{printed}"
    );
    assert_eq!(fleet_leftovers(), (0, 0), "{printed}");
    let figures: Value = serde_json::from_slice(&std::fs::read(&result).unwrap()).unwrap();
    assert_eq!(figures["instances"], 5);
    // A first install fetches the whole package; an upgrade only what changed (the
    // registry's parts): for 2.0.0, the same files, next to nothing; for 2.1.0, one
    // changed 1 MiB file plus the package's head (issue 24's target: 1.1 times that).
    let package = figures["package_bytes"].as_u64().unwrap();
    let install = figures["install_registry_bytes"].as_u64().unwrap();
    assert!(
        install >= 5 * package && install < 5 * package * 2,
        "install {install} for {package}: {printed}"
    );
    let upgrade = figures["upgrade_registry_bytes"].as_u64().unwrap();
    assert!(upgrade < 5 * package / 10, "upgrade {upgrade}: {printed}");
    let change = figures["change_bytes_per_device"].as_f64().unwrap();
    let head = figures["parts_head_bytes_max"].as_f64().unwrap();
    assert!(
        change > 1048576.0 && change <= 1.1 * 1048576.0 + head,
        "{change} per device for a 1 MiB change, head {head}: {printed}"
    );
    // No device fetched a blob twice (the registry's access log).
    assert_eq!(figures["change_blob_repeats"], 0, "{printed}");
    // Idle, a device asks one HEAD per check and nothing else.
    assert_eq!(figures["idle_requests"], figures["idle_heads"], "{printed}");
    let per_check = figures["requests_per_device_interval"].as_f64().unwrap();
    assert!((0.5..=1.5).contains(&per_check), "{printed}");
    assert!(printed.contains("tried once per device"), "{printed}");
}
