//! Capabilities: the platform's list (or BundleGen's nine defaults), plus the app's
//! `add`, minus its `drop`, the same list in all five sets. BundleGen builds them from
//! a Python set, so their order changes from run to run and names are not checked;
//! berth sorts them and refuses a name the kernel does not have.

use super::{Processor, APP, PLATFORM};
use crate::error::BundleError;
use serde_json::{json, Value};
use std::collections::BTreeSet;

/// BundleGen's defaults (Docker's set minus a few), when the platform names none.
pub const DEFAULT_CAPABILITIES: [&str; 9] = [
    "CAP_CHOWN",
    "CAP_FSETID",
    "CAP_NET_RAW",
    "CAP_SETGID",
    "CAP_SETUID",
    "CAP_SETPCAP",
    "CAP_NET_BIND_SERVICE",
    "CAP_KILL",
    "CAP_AUDIT_WRITE",
];

/// Every capability Linux defines (capability.h, 6.x).
const KNOWN: [&str; 41] = [
    "CAP_CHOWN",
    "CAP_DAC_OVERRIDE",
    "CAP_DAC_READ_SEARCH",
    "CAP_FOWNER",
    "CAP_FSETID",
    "CAP_KILL",
    "CAP_SETGID",
    "CAP_SETUID",
    "CAP_SETPCAP",
    "CAP_LINUX_IMMUTABLE",
    "CAP_NET_BIND_SERVICE",
    "CAP_NET_BROADCAST",
    "CAP_NET_ADMIN",
    "CAP_NET_RAW",
    "CAP_IPC_LOCK",
    "CAP_IPC_OWNER",
    "CAP_SYS_MODULE",
    "CAP_SYS_RAWIO",
    "CAP_SYS_CHROOT",
    "CAP_SYS_PTRACE",
    "CAP_SYS_PACCT",
    "CAP_SYS_ADMIN",
    "CAP_SYS_BOOT",
    "CAP_SYS_NICE",
    "CAP_SYS_RESOURCE",
    "CAP_SYS_TIME",
    "CAP_SYS_TTY_CONFIG",
    "CAP_MKNOD",
    "CAP_LEASE",
    "CAP_AUDIT_WRITE",
    "CAP_AUDIT_CONTROL",
    "CAP_SETFCAP",
    "CAP_MAC_OVERRIDE",
    "CAP_MAC_ADMIN",
    "CAP_SYSLOG",
    "CAP_WAKE_ALARM",
    "CAP_BLOCK_SUSPEND",
    "CAP_AUDIT_READ",
    "CAP_PERFMON",
    "CAP_BPF",
    "CAP_CHECKPOINT_RESTORE",
];

pub fn known_capability(name: &str) -> bool {
    KNOWN.contains(&name)
}

fn names(v: &Value, field: &str, from: &str) -> Result<Vec<String>, BundleError> {
    let Some(list) = v.as_array() else {
        return Ok(Vec::new());
    };
    list.iter()
        .map(|c| match c.as_str() {
            Some(name) if known_capability(name) => Ok(name.to_string()),
            _ => Err(BundleError::invalid(
                from,
                format!("{field}: {c} is not a Linux capability (CAP_CHOWN, CAP_NET_ADMIN, ...)"),
            )),
        })
        .collect()
}

pub fn capabilities(p: &mut Processor) -> Result<(), BundleError> {
    let mut caps: BTreeSet<String> = if p.pf("capabilities").is_null() {
        DEFAULT_CAPABILITIES.iter().map(|c| c.to_string()).collect()
    } else {
        names(p.pf("capabilities"), "capabilities", PLATFORM)?
            .into_iter()
            .collect()
    };
    let app = p.app["capabilities"].clone();
    caps.extend(names(&app["add"], "capabilities.add", APP)?);
    for c in names(&app["drop"], "capabilities.drop", APP)? {
        caps.remove(&c);
    }
    let list = json!(caps.into_iter().collect::<Vec<_>>());
    let sets = p.config_object(&["process", "capabilities"]);
    for set in [
        "bounding",
        "permitted",
        "effective",
        "inheritable",
        "ambient",
    ] {
        sets.insert(set.into(), list.clone());
    }
    Ok(())
}
