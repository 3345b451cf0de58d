//! User and group: the platform's `usersAndGroups.user` replaces the image's (BundleGen
//! skips a uid or gid of 0 as if unset: berth sets it), and the id mappings: none
//! with `disableUserNamespacing` (the user namespace goes too), else the platform's
//! (or, without `usersAndGroups`, left for Dobby to set at run time).

use super::{truthy, Processor};
use crate::error::BundleError;
use serde_json::{json, Value};

pub fn users_and_groups(p: &mut Processor) -> Result<(), BundleError> {
    let users = p.pf("usersAndGroups").clone();
    if truthy(&users) {
        let user = &users["user"];
        for (key, field) in [
            ("uid", "uid"),
            ("gid", "gid"),
            ("additionalGids", "additionalGids"),
        ] {
            let v = &user[key];
            let set = match v {
                Value::Null => false,
                // An empty list of additional gids is left unset, as BundleGen does.
                Value::Array(a) => !a.is_empty(),
                _ => true,
            };
            if set {
                p.config_object(&["process", "user"])
                    .insert(field.into(), v.clone());
            }
        }
    }
    if p.platform_flag(&["disableUserNamespacing"]) {
        if let Some(namespaces) = p.config["linux"]["namespaces"].as_array_mut() {
            namespaces.retain(|n| n["type"] != "user");
        }
        // shift_remove: the other keys keep their order, as in a Python dict.
        let linux = p.config_object(&["linux"]);
        linux.shift_remove("uidMappings");
        linux.shift_remove("gidMappings");
        check_mappings(p);
        return Ok(());
    }
    let linux = p.config_object(&["linux"]);
    linux.insert("uidMappings".into(), json!([]));
    linux.insert("gidMappings".into(), json!([]));
    if !truthy(&users) {
        return Ok(()); // Dobby sets them at run time
    }
    let uid_map: Vec<Value> = users["uidMap"].as_array().cloned().unwrap_or_default();
    let gid_map: Vec<Value> = users["gidMap"].as_array().cloned().unwrap_or_default();
    p.config_array(&["linux", "uidMappings"]).extend(uid_map);
    p.config_array(&["linux", "gidMappings"]).extend(gid_map);
    check_mappings(p);
    Ok(())
}

fn mapped(id: &Value, mappings: &Value) -> bool {
    let Some(id) = id.as_u64() else {
        return true; // no id: nothing to map
    };
    mappings.as_array().is_some_and(|maps| {
        maps.iter().any(|m| {
            let (start, size) = (m["containerID"].as_u64(), m["size"].as_u64());
            matches!((start, size), (Some(s), Some(n)) if id >= s && id < s.saturating_add(n))
        })
    })
}

/// Warnings for a uid or gid no mapping covers.
fn check_mappings(p: &mut Processor) {
    let user = p.config["process"]["user"].clone();
    let (uids, gids) = (
        p.config["linux"]["uidMappings"].clone(),
        p.config["linux"]["gidMappings"].clone(),
    );
    if !mapped(&user["uid"], &uids) {
        p.warnings
            .push(format!("no mapping covers uid {}", user["uid"]));
    }
    if !mapped(&user["gid"], &gids) {
        p.warnings
            .push(format!("no mapping covers gid {}", user["gid"]));
    }
    for g in user["additionalGids"]
        .as_array()
        .cloned()
        .unwrap_or_default()
    {
        if !mapped(&g, &gids) {
            p.warnings
                .push(format!("no mapping covers additional gid {g}"));
        }
    }
}

/// The owner the bundle's files get with `tarball.fileOwnershipSameAsUser`: the
/// process's uid and gid, mapped to the host's when user namespaces are on.
pub fn real_uid_gid(p: &Processor) -> (Option<u64>, Option<u64>) {
    let user = &p.config["process"]["user"];
    let (uid, gid) = (user["uid"].as_u64(), user["gid"].as_u64());
    if p.platform_flag(&["disableUserNamespacing"]) {
        return (uid, gid);
    }
    // BundleGen fails here on a platform without usersAndGroups.
    let host = |id: Option<u64>, maps: &Value| {
        maps.as_array().and_then(|maps| {
            maps.iter()
                .find(|m| m["containerID"].as_u64() == id && id.is_some())
                .and_then(|m| m["hostID"].as_u64())
        })
    };
    let users = p.pf("usersAndGroups");
    match (host(uid, &users["uidMap"]), host(gid, &users["gidMap"])) {
        (Some(u), Some(g)) => (Some(u), Some(g)),
        _ => (uid, gid),
    }
}
