//! The hostile package corpus: every way a package can break a rule, each with the
//! reason a reader must give.

use super::*;
use serde_json::json;

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
