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

/// One hostile package and the words its rejection must contain.
pub struct Case {
    pub name: &'static str,
    pub bytes: Vec<u8>,
    /// A public key file to pass as trusted, if the case is about trust.
    pub trust: Option<String>,
    pub expect: &'static str,
}

fn replace(entries: &mut [RawEntry], name: &str, data: Vec<u8>) {
    let e = entries
        .iter_mut()
        .find(|e| e.name == name.as_bytes())
        .expect("entry exists");
    e.data = data;
}

fn without(entries: Vec<RawEntry>, prefix: &str) -> Vec<RawEntry> {
    entries
        .into_iter()
        .filter(|e| !e.name.starts_with(prefix.as_bytes()))
        .collect()
}

fn with_manifest(edit: impl FnOnce(&mut Value)) -> Vec<u8> {
    let parts = Parts::podman();
    let mut m = parts.packaged_manifest();
    edit(&mut m);
    gzip(&tar_bytes(
        &parts.entries_with(&parts.sums(), &pretty(&m), None),
        true,
    ))
}

fn inserted_before_payload(extra: RawEntry) -> Vec<u8> {
    let mut e = Parts::podman().entries();
    let at = e.len() - 1;
    e.insert(at, extra);
    gzip(&tar_bytes(&e, true))
}

/// A package whose payload entry claims over 10 GiB of zeros and whose compressed
/// size is about 11 MB: the deflate encoding of 1 MiB of zeros (self-contained, ends
/// on a sync flush) repeated, after a valid head.
pub fn gzip_bomb() -> Vec<u8> {
    const MIB: u64 = 1024 * 1024;
    let repeats = 10 * 1024 + 256; // > 10 GiB
    let size = repeats * MIB;
    let parts = Parts::podman();
    let mut m = parts.packaged_manifest();
    m["size_bytes"] = json!(size);
    let mut head = parts.entries_with(&parts.sums(), &pretty(&m), None);
    head.pop();
    let mut out = gzip(&tar_bytes(&head, false));

    let payload_header = RawEntry {
        claimed_size: Some(size),
        ..RawEntry::file("payload/image.tar", Vec::new())
    }
    .header();
    let mut z = flate2::Compress::new(flate2::Compression::best(), false);
    let mut zeros_block = Vec::with_capacity(64 * 1024);
    z.compress_vec(
        &vec![0u8; MIB as usize],
        &mut zeros_block,
        flate2::FlushCompress::Sync,
    )
    .expect("deflate");
    out.extend_from_slice(&[0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 3]);
    // The tar header as a stored, non-final block.
    out.push(0);
    out.extend_from_slice(&512u16.to_le_bytes());
    out.extend_from_slice(&(!512u16).to_le_bytes());
    out.extend_from_slice(payload_header.as_bytes());
    for _ in 0..repeats {
        out.extend_from_slice(&zeros_block);
    }
    out.extend_from_slice(&[0x03, 0x00]); // final empty block
    out.extend_from_slice(&[0u8; 8]); // trailer, never reached
    out
}

/// The hostile corpus: every package here must be refused with `expect` in the
/// reason, without a panic and without writing anything.
pub fn hostile_corpus() -> Vec<Case> {
    let podman = Parts::podman;
    let good = podman().package();
    let case = |name, bytes, expect| Case {
        name,
        bytes,
        trust: None,
        expect,
    };
    vec![
        case("empty-file", Vec::new(), "empty file"),
        case(
            "not-a-package",
            b"this is not a package at all".to_vec(),
            "neither a gzip nor a zstd",
        ),
        case(
            "truncated-gzip",
            good[..good.len() / 2].to_vec(),
            "corrupt or truncated",
        ),
        case(
            "trailing-garbage",
            [good.clone(), b"garbage after the package".to_vec()].concat(),
            "corrupt or truncated",
        ),
        case(
            "trailing-data-inside-tar",
            gzip(
                &[
                    tar_bytes(&podman().entries(), true),
                    b"hidden data".to_vec(),
                ]
                .concat(),
            ),
            "data after the end of the tar archive",
        ),
        {
            let p = podman();
            let mut e = p.entries();
            replace(
                &mut e,
                "checksums/sha256sums.txt",
                format!("{}  payload/image.tar\n", "0".repeat(64)).into_bytes(),
            );
            case(
                "bad-checksum",
                gzip(&tar_bytes(&e, true)),
                "checksum mismatch for payload/image.tar",
            )
        },
        case(
            "size-mismatch",
            with_manifest(|m| m["size_bytes"] = json!(m["size_bytes"].as_u64().unwrap() + 1)),
            "size mismatch",
        ),
        case(
            "digest-mismatch",
            with_manifest(|m| m["digest"] = json!(format!("sha256:{}", "1".repeat(64)))),
            "digest mismatch",
        ),
        case(
            "missing-manifest",
            gzip(&tar_bytes(
                &without(podman().entries(), "manifest.json"),
                true,
            )),
            "manifest.json is missing",
        ),
        case(
            "missing-checksums",
            gzip(&tar_bytes(&without(podman().entries(), "checksums/"), true)),
            "sha256sums.txt is missing",
        ),
        case(
            "missing-payload",
            gzip(&tar_bytes(
                &without(podman().entries(), "payload/image.tar"),
                true,
            )),
            "no payload file",
        ),
        {
            let p = podman();
            case(
                "manifest-not-object",
                gzip(&tar_bytes(
                    &p.entries_with(&p.sums(), b"[1, 2, 3]", None),
                    true,
                )),
                "must be a JSON object",
            )
        },
        {
            let p = podman();
            case(
                "manifest-not-json",
                gzip(&tar_bytes(
                    &p.entries_with(&p.sums(), b"{\"package_id\": ", None),
                    true,
                )),
                "not valid JSON",
            )
        },
        case(
            "boolean-as-integer",
            with_manifest(|m| m["registration_defaults"]["restart"]["max_retries"] = json!(true)),
            "max_retries must be an integer >= 0, got boolean true",
        ),
        case(
            "integer-as-boolean",
            with_manifest(|m| m["registration_defaults"]["autostart"] = json!(1)),
            "autostart must be a boolean, got number 1",
        ),
        case(
            "unknown-runtime",
            with_manifest(|m| m["runtime"] = json!("rkt")),
            "runtime must be one of podman, docker, lxc, runc",
        ),
        {
            let mut p = Parts::lxc();
            p.manifest["create_args"] = json!("--privileged");
            case(
                "create-args-for-lxc",
                p.package(),
                "create_args is not allowed for runtime lxc",
            )
        },
        case(
            "empty-device-types",
            with_manifest(|m| m["device_types"] = json!([])),
            "device_types must be a non-empty list",
        ),
        case(
            "dotdot-path",
            inserted_before_payload(RawEntry::file(
                "metadata/../../../etc/cron.d/x",
                b"* * * * * root reboot".to_vec(),
            )),
            "'..' in paths is not allowed",
        ),
        case(
            "absolute-path",
            inserted_before_payload(RawEntry::file(
                "/etc/passwd",
                b"root::0:0::/:/bin/sh".to_vec(),
            )),
            "absolute paths are not allowed",
        ),
        case(
            "symlink-outside",
            inserted_before_payload(RawEntry::special(
                "metadata/escape",
                tar::EntryType::Symlink,
                Some("../../../../etc/shadow"),
            )),
            "symbolic links are not allowed",
        ),
        case(
            "hardlink-outside",
            inserted_before_payload(RawEntry::special(
                "metadata/passwd",
                tar::EntryType::Link,
                Some("/etc/passwd"),
            )),
            "hard links are not allowed",
        ),
        case(
            "device-node",
            inserted_before_payload(RawEntry::special(
                "metadata/sda",
                tar::EntryType::Block,
                None,
            )),
            "device nodes are not allowed",
        ),
        case(
            "fifo",
            inserted_before_payload(RawEntry::special(
                "metadata/pipe",
                tar::EntryType::Fifo,
                None,
            )),
            "FIFOs are not allowed",
        ),
        {
            let mut e = podman().entries();
            let dup = e
                .iter()
                .find(|e| e.name == b"manifest.json")
                .unwrap()
                .clone();
            e.insert(3, dup);
            case(
                "duplicate-entries",
                gzip(&tar_bytes(&e, true)),
                "entry manifest.json appears twice",
            )
        },
        {
            let mut e = podman().entries();
            e.push(RawEntry::file("payload/second.tar", b"x".to_vec()));
            case("two-payloads", gzip(&tar_bytes(&e, true)), "two payloads")
        },
        {
            let p = podman();
            let mut big = p.packaged_manifest();
            big["labels"] = json!({"padding": "x".repeat(1024 * 1024)});
            case(
                "manifest-over-1mib",
                gzip(&tar_bytes(
                    &p.entries_with(&p.sums(), &pretty(&big), None),
                    true,
                )),
                "more than the limit",
            )
        },
        {
            let mut e = podman().entries();
            let last = e.last_mut().unwrap();
            last.claimed_size = Some(100 << 30);
            last.data.truncate(512);
            let mut m = podman().packaged_manifest();
            m["size_bytes"] = json!(100u64 << 30);
            let p = podman();
            let mut e2 = p.entries_with(&p.sums(), &pretty(&m), None);
            *e2.last_mut().unwrap() = e.last().unwrap().clone();
            // claims 100 GiB, holds 512 bytes: refused at the header or as truncated
            case(
                "header-claims-100gib",
                gzip(&tar_bytes(&e2, false)),
                "decompression bomb",
            )
        },
        case("gzip-bomb", gzip_bomb(), "decompression bomb"),
        case(
            "non-utf8-name",
            inserted_before_payload(RawEntry {
                name: b"metadata/\xff\xfe.txt".to_vec(),
                ..RawEntry::file("x", b"x".to_vec())
            }),
            "name is not UTF-8",
        ),
        {
            let p = podman();
            case(
                "payload-not-an-image",
                Parts {
                    payload: b"not a tar archive, just bytes".repeat(40),
                    ..p
                }
                .package(),
                "not a readable tar archive",
            )
        },
        {
            let p = Parts::lxc();
            let bad = gzip(&tar_bytes(
                &[RawEntry::file("README", b"no bundle here".to_vec())],
                true,
            ));
            case(
                "lxc-without-config-and-rootfs",
                Parts { payload: bad, ..p }.package(),
                "must hold config and rootfs/",
            )
        },
        {
            let mut e = podman().entries();
            e.push(RawEntry::file("extra.sh", b"#!/bin/sh\nreboot\n".to_vec()));
            case(
                "unexpected-entry",
                gzip(&tar_bytes(&e, true)),
                "unexpected entry extra.sh",
            )
        },
        case(
            "zstd-declared-but-gzip",
            with_manifest(|m| m["package_compression"] = json!("zstd")),
            "declares package_compression zstd",
        ),
        {
            let mut e = podman().signed_entries(&test_key(1));
            let sig = e.iter_mut().find(|e| e.name.ends_with(b".sig")).unwrap();
            let mut text = String::from_utf8(sig.data.clone()).unwrap();
            let at = text.find("signature ").unwrap() + "signature ".len() + 5;
            let flipped = if &text[at..at + 1] == "A" { "B" } else { "A" };
            text.replace_range(at..at + 1, flipped);
            sig.data = text.into_bytes();
            case(
                "tampered-signature",
                gzip(&tar_bytes(&e, true)),
                "signature does not match",
            )
        },
        {
            // Signed, then the manifest was edited (restart policy) without re-signing.
            let p = podman();
            let mut e = p.signed_entries(&test_key(1));
            let mut m = p.packaged_manifest();
            m["registration_defaults"]["restart"]["max_retries"] = json!(1000);
            replace(&mut e, "manifest.json", pretty(&m));
            case(
                "manifest-edited-after-signing",
                gzip(&tar_bytes(&e, true)),
                "signature does not match",
            )
        },
        Case {
            name: "signature-by-untrusted-key",
            bytes: gzip(&tar_bytes(&podman().signed_entries(&test_key(1)), true)),
            trust: Some(public_key_text(&test_key(2).verifying_key())),
            expect: "not among the trusted keys",
        },
        Case {
            name: "unsigned-but-signature-required",
            bytes: good.clone(),
            trust: Some(public_key_text(&test_key(2).verifying_key())),
            expect: "unsigned package",
        },
    ]
}
