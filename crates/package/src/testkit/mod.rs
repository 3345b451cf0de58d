//! Fixtures made by code for the tests of this crate and the CLI: small image
//! archives, LXC bundles, packages assembled entry by entry (so that tests can break
//! any rule), and the hostile package corpus.

use crate::sign::{public_key_text, sign};
use ed25519_dalek::SigningKey;
use flate2::write::GzEncoder;
use serde_json::{json, Value};
use sha2::{Digest, Sha256};
use std::io::Write;

/// One raw tar entry, with everything a hostile package may set.
#[derive(Clone)]
pub struct RawEntry {
    pub name: Vec<u8>,
    pub kind: tar::EntryType,
    pub data: Vec<u8>,
    pub link: Option<Vec<u8>>,
    /// Header size when it must differ from `data.len()` (a lying header).
    pub claimed_size: Option<u64>,
}

impl RawEntry {
    pub fn file(name: &str, data: impl Into<Vec<u8>>) -> Self {
        RawEntry {
            name: name.as_bytes().to_vec(),
            kind: tar::EntryType::Regular,
            data: data.into(),
            link: None,
            claimed_size: None,
        }
    }

    pub fn dir(name: &str) -> Self {
        RawEntry {
            kind: tar::EntryType::Directory,
            ..Self::file(name, Vec::new())
        }
    }

    pub fn special(name: &str, kind: tar::EntryType, link: Option<&str>) -> Self {
        RawEntry {
            kind,
            link: link.map(|l| l.as_bytes().to_vec()),
            ..Self::file(name, Vec::new())
        }
    }

    fn header(&self) -> tar::Header {
        let mut h = tar::Header::new_ustar();
        let name = &mut h.as_old_mut().name;
        let n = self.name.len().min(name.len());
        name[..n].copy_from_slice(&self.name[..n]);
        if let Some(link) = &self.link {
            let field = &mut h.as_old_mut().linkname;
            let n = link.len().min(field.len());
            field[..n].copy_from_slice(&link[..n]);
        }
        h.set_size(self.claimed_size.unwrap_or(self.data.len() as u64));
        h.set_mode(0o644);
        h.set_mtime(1_700_000_000);
        h.set_entry_type(self.kind);
        h.set_cksum();
        h
    }
}

/// A tar stream of the entries, with or without the end-of-archive marker.
pub fn tar_bytes(entries: &[RawEntry], end_marker: bool) -> Vec<u8> {
    let mut out = Vec::new();
    for e in entries {
        out.extend_from_slice(e.header().as_bytes());
        out.extend_from_slice(&e.data);
        out.resize(out.len().next_multiple_of(512), 0);
    }
    if end_marker {
        out.extend_from_slice(&[0u8; 1024]);
    }
    out
}

pub fn gzip(data: &[u8]) -> Vec<u8> {
    let mut enc = GzEncoder::new(Vec::new(), flate2::Compression::fast());
    enc.write_all(data).expect("in memory");
    enc.finish().expect("in memory")
}

/// A minimal docker-archive: one layer holding `files`, tagged `tag`.
pub fn docker_archive(tag: &str, files: &[(&str, &[u8])]) -> Vec<u8> {
    let layer = tar_bytes(
        &files
            .iter()
            .map(|(n, d)| RawEntry::file(n, d.to_vec()))
            .collect::<Vec<_>>(),
        true,
    );
    let layer_id = hex::encode(Sha256::digest(&layer));
    let config = json!({"architecture": "amd64", "os": "linux", "rootfs": {"type": "layers", "diff_ids": [format!("sha256:{layer_id}")]}});
    let config = serde_json::to_vec(&config).expect("json");
    let config_name = format!("{}.json", hex::encode(Sha256::digest(&config)));
    let manifest =
        json!([{"Config": config_name, "RepoTags": [tag], "Layers": [format!("{layer_id}.tar")]}]);
    tar_bytes(
        &[
            RawEntry::file(&format!("{layer_id}.tar"), layer),
            RawEntry::file(&config_name, config),
            RawEntry::file(
                "manifest.json",
                serde_json::to_vec(&manifest).expect("json"),
            ),
        ],
        true,
    )
}

/// An LXC bundle `.tar.gz`, with `config` and `rootfs/` under `dir` (or at the top).
pub fn lxc_bundle(dir: Option<&str>) -> Vec<u8> {
    let p = |s: &str| match dir {
        Some(d) => format!("{d}/{s}"),
        None => s.to_string(),
    };
    let mut entries = Vec::new();
    if let Some(d) = dir {
        entries.push(RawEntry::dir(&format!("{d}/")));
    }
    entries.extend([
        RawEntry::file(
            &p("config"),
            b"lxc.uts.name = demo\nlxc.net.0.type = none\n".to_vec(),
        ),
        RawEntry::dir(&p("rootfs/")),
        RawEntry::dir(&p("rootfs/bin/")),
        RawEntry::file(&p("rootfs/bin/hello"), b"#!/bin/sh\necho hello\n".to_vec()),
    ]);
    gzip(&tar_bytes(&entries, true))
}

/// A minimal OCI runtime spec running `args`, its root filesystem at `root`.
pub fn oci_config(root: &str, args: &[&str]) -> Vec<u8> {
    pretty(&json!({
        "ociVersion": "1.0.2",
        "root": {"path": root, "readonly": false},
        "process": {"terminal": false, "cwd": "/", "args": args,
                    "env": ["PATH=/bin:/usr/bin"], "user": {"uid": 0, "gid": 0}},
        "linux": {"namespaces": [{"type": "pid"}, {"type": "mount"}]}
    }))
}

/// An OCI runtime bundle .tar.gz: `config.json` + `rootfs/`, at the top or in `dir`.
pub fn oci_bundle(dir: Option<&str>) -> Vec<u8> {
    let p = |s: &str| match dir {
        Some(d) => format!("{d}/{s}"),
        None => s.to_string(),
    };
    let mut entries = Vec::new();
    if let Some(d) = dir {
        entries.push(RawEntry::dir(&format!("{d}/")));
    }
    entries.extend([
        RawEntry::file(&p("config.json"), oci_config("rootfs", &["/bin/hello"])),
        RawEntry::dir(&p("rootfs/")),
        RawEntry::dir(&p("rootfs/bin/")),
        RawEntry::file(&p("rootfs/bin/hello"), b"#!/bin/sh\necho hello\n".to_vec()),
    ]);
    gzip(&tar_bytes(&entries, true))
}

/// A valid source manifest for `runtime` (old generation: with package_id).
pub fn source_manifest(runtime: &str) -> Value {
    let mut m = json!({
        "package_id": "demo",
        "version": "1.0.0",
        "runtime": runtime,
        "registration_defaults": {
            "autostart": true,
            "monitor": true,
            "restart": {"enabled": true, "max_retries": 3, "window": 60, "retry_delay": 1}
        },
        "device_types": ["ccmp25-dvk"],
        "description": "test package"
    });
    if runtime == "podman" || runtime == "docker" {
        m["create_args"] = json!("--name demo localhost/demo:1");
    }
    m
}

/// The parts of a package, assembled by hand so any of them can be broken.
#[derive(Clone)]
pub struct Parts {
    pub manifest: Value,
    pub payload_name: String,
    pub payload: Vec<u8>,
}

impl Parts {
    pub fn podman() -> Self {
        Parts {
            manifest: source_manifest("podman"),
            payload_name: "image.tar".into(),
            payload: docker_archive("localhost/demo:1", &[("bin/hello", b"hello")]),
        }
    }

    pub fn lxc() -> Self {
        Parts {
            manifest: source_manifest("lxc"),
            payload_name: "demo.tar.gz".into(),
            payload: lxc_bundle(Some("demo")),
        }
    }

    pub fn runc() -> Self {
        Parts {
            manifest: source_manifest("runc"),
            payload_name: "demo.tar.gz".into(),
            payload: oci_bundle(Some("demo")),
        }
    }

    pub fn digest_hex(&self) -> String {
        hex::encode(Sha256::digest(&self.payload))
    }

    /// The manifest as a writer completes it.
    pub fn packaged_manifest(&self) -> Value {
        let mut m = self.manifest.clone();
        let runtime: crate::manifest::RuntimeKind = m["runtime"]
            .as_str()
            .unwrap_or_default()
            .parse()
            .expect("a runtime");
        m["artifact_type"] = json!(runtime.artifact_type());
        m["created_at"] = json!("2023-11-14T22:13:20.000Z");
        m["digest"] = json!(format!("sha256:{}", self.digest_hex()));
        m["size_bytes"] = json!(self.payload.len());
        m
    }

    pub fn sums(&self) -> Vec<u8> {
        format!("{}  payload/{}\n", self.digest_hex(), self.payload_name).into_bytes()
    }

    /// The entries of a valid package, in DCP order.
    pub fn entries(&self) -> Vec<RawEntry> {
        self.entries_with(&self.sums(), &pretty(&self.packaged_manifest()), None)
    }

    pub fn entries_with(
        &self,
        sums: &[u8],
        manifest: &[u8],
        sig: Option<Vec<u8>>,
    ) -> Vec<RawEntry> {
        let mut e = vec![
            RawEntry::dir("checksums/"),
            RawEntry::file("checksums/sha256sums.txt", sums.to_vec()),
        ];
        if let Some(sig) = sig {
            e.push(RawEntry::file("checksums/sha256sums.txt.sig", sig));
        }
        e.extend([
            RawEntry::file("manifest.json", manifest.to_vec()),
            RawEntry::dir("metadata/"),
            RawEntry::file("metadata/README.txt", b"demo\n".to_vec()),
            RawEntry::dir("payload/"),
            RawEntry::file(
                &format!("payload/{}", self.payload_name),
                self.payload.clone(),
            ),
        ]);
        e
    }

    /// The entries of a package signed by `key`.
    pub fn signed_entries(&self, key: &SigningKey) -> Vec<RawEntry> {
        let (sums, manifest) = (self.sums(), pretty(&self.packaged_manifest()));
        let sig = sign(key, &sums, &manifest);
        self.entries_with(&sums, &manifest, Some(sig))
    }

    pub fn package(&self) -> Vec<u8> {
        gzip(&tar_bytes(&self.entries(), true))
    }
}

pub fn pretty(v: &Value) -> Vec<u8> {
    let mut b = serde_json::to_vec_pretty(v).expect("json");
    b.push(b'\n');
    b
}

pub fn test_key(n: u8) -> SigningKey {
    SigningKey::from_bytes(&[n; 32])
}

mod hostile;
pub use hostile::{gzip_bomb, hostile_corpus, Case};
