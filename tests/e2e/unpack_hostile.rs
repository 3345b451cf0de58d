//! `berth image unpack` against hostile layers (issue 21): a corpus that tries every
//! way out of the extraction directory, with a sentinel beside it whose contents,
//! modes, owners and times must not change; bombs (extension headers, sparse entries,
//! expansion) refused in bounded memory and disk; symlink chains; xattrs an image
//! must not set.

use berth_e2e::cli::berth;
use berth_e2e::hostile::*;
use berth_e2e::images::*;
use berth_e2e::*;
use berth_image::Layout;
use serde_json::json;
use std::path::Path;
use tar::EntryType;

/// One hostile layer on top of a small base; returns berth's output.
fn unpack_hostile(
    work: &Path,
    name: &str,
    layer: Vec<u8>,
    rootless: bool,
) -> (std::process::Output, std::path::PathBuf) {
    let layout_dir = work.join(format!("layout-{name}"));
    let layout = Layout::create(&layout_dir).unwrap();
    let base = LayerTar::new()
        .dir("etc", 0o755)
        .file("etc/hostname", b"box\n", 0o644)
        .finish();
    let (digest, size) = put_image(&layout, &[base, layer], false, "amd64", None, json!({}));
    tag_manifest(&layout, "v1", &digest, size);
    let bundle = work.join(format!("bundle-{name}"));
    let source = format!("oci:{}:v1", layout_dir.display());
    let dest = bundle.display().to_string();
    let mut args = vec!["image", "unpack", "--quiet", &source, &dest];
    if rootless {
        args.push("--rootless");
    }
    let out = berth(&args);
    (out, bundle)
}

#[test]
fn hostile_layers_never_reach_outside_the_directory() {
    hostile_corpus(false);
}

#[test]
fn hostile_layers_never_reach_outside_the_directory_rootless() {
    hostile_corpus(true);
}

fn hostile_corpus(rootless: bool) {
    let dir = tempfile::tempdir().unwrap();
    let work = dir.path();
    let outside = make_sentinel(work);
    let before = sentinel(&outside);
    let o = outside.display().to_string();
    let cases = hostile_layers(&o);
    for (name, layer) in cases {
        let (out, bundle) = unpack_hostile(work, name, layer, rootless);
        let stderr = String::from_utf8_lossy(&out.stderr);
        // Refused (exit 2, one line naming the layer and the rule) or unpacked inside,
        // as REFUSED says for this case.
        match refusal(name) {
            None => {
                assert_eq!(
                    out.status.code(),
                    Some(0),
                    "{name}: applied inside: {stderr}"
                );
                assert!(bundle.join("rootfs").is_dir(), "{name}");
            }
            Some(rule) => {
                assert_eq!(out.status.code(), Some(2), "{name}: refused: {stderr}");
                assert_eq!(stderr.lines().count(), 1, "{name}: one line: {stderr}");
                assert!(
                    stderr.contains("layer sha256:") && stderr.contains(rule),
                    "{name}: names the layer and {rule:?}: {stderr}"
                );
                assert!(!bundle.exists(), "{name}: a refused unpack leaves nothing");
            }
        }
        assert_eq!(
            std::fs::read_to_string(outside.join("secret")).unwrap(),
            "untouched",
            "{name}"
        );
        assert_eq!(
            sentinel(&outside),
            before,
            "{name}: nothing outside changed (contents, modes, owners, times)"
        );
        let leftovers: Vec<_> = std::fs::read_dir(work)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .filter(|n| n.starts_with(".berth-unpack-"))
            .collect();
        assert!(
            leftovers.is_empty(),
            "{name}: no work directory left: {leftovers:?}"
        );
    }
    // Where a name was cleaned, the file landed inside.
    let inside = work
        .join("bundle-dotdot-name/rootfs")
        .join(outside.strip_prefix("/").unwrap())
        .join("pwned");
    assert!(inside.is_file(), "../ names land inside the rootfs");
}

/// Issue 21, finding 10: a layer set overlayfs's own marks (`trusted.overlay.*`) and
/// security labels on its files; only user xattrs and file capabilities are taken.
#[test]
fn a_layer_sets_no_overlay_marks_and_no_security_labels() {
    let dir = tempfile::tempdir().unwrap();
    let layer = LayerTar::new()
        .file_with_xattr("redirected", b"x", "trusted.overlay.redirect", "/etc")
        .file_with_xattr("opaque", b"x", "trusted.overlay.opaque", "y")
        .file_with_xattr(
            "labelled",
            b"x",
            "security.selinux",
            "system_u:object_r:shadow_t:s0",
        )
        .file_with_xattr("kept", b"x", "user.berth", "yes")
        .finish();
    let (out, bundle) = unpack_hostile(dir.path(), "xattrs", layer, false);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let rootfs = bundle.join("rootfs");
    let get = |file: &str, name: &str| {
        let mut value = vec![0u8; 256];
        rustix::fs::lgetxattr(rootfs.join(file), name, &mut value)
            .map(|n| String::from_utf8_lossy(&value[..n]).into_owned())
            .ok()
    };
    assert_eq!(get("redirected", "trusted.overlay.redirect"), None);
    assert_eq!(get("opaque", "trusted.overlay.opaque"), None);
    assert_eq!(get("labelled", "security.selinux"), None);
    assert_eq!(get("kept", "user.berth").as_deref(), Some("yes"));
}

/// `berth image unpack` of base + `layer` (stored uncompressed when `plain`, else
/// gzip), with `extra` arguments, under GNU time; (output, bundle, peak RSS in KiB).
fn unpack_measured(
    work: &Path,
    name: &str,
    layer: Vec<u8>,
    plain: bool,
    extra: &[&str],
) -> (std::process::Output, std::path::PathBuf, u64) {
    require(&["/usr/bin/time"]);
    let layout_dir = work.join(format!("layout-{name}"));
    let layout = Layout::create(&layout_dir).unwrap();
    let (digest, size) = put_image(&layout, &[layer], !plain, "amd64", None, json!({}));
    tag_manifest(&layout, "v1", &digest, size);
    let bundle = work.join(format!("bundle-{name}"));
    let rss = work.join(format!("rss-{name}"));
    let mut c = cmd("/usr/bin/time", &["-f", "%M", "-o", rss.to_str().unwrap()]);
    c.arg(berth_bin())
        .args(["image", "unpack", "--quiet"])
        .args(extra);
    c.arg(format!("oci:{}:v1", layout_dir.display()))
        .arg(&bundle);
    let out = run(c);
    let peak = std::fs::read_to_string(&rss)
        .unwrap()
        .lines()
        .last()
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    (out, bundle, peak)
}

fn refused_naming(out: &std::process::Output, says: &str) {
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains(says), "expected {says:?} in {stderr}");
    assert_eq!(stderr.lines().count(), 1, "one line: {stderr}");
}

/// Issue 21, finding 4: a 9 MB layer declaring a 2 GiB PAX header took 1 GB of RSS,
/// and a 2 KB tar with a GNU sparse entry became a 300 MiB file.
#[test]
fn extension_header_and_sparse_bombs_are_refused_in_bounded_memory_and_disk() {
    let dir = tempfile::tempdir().unwrap();
    let mut pax = tar::Header::new_ustar();
    pax.set_path("PaxHeader").unwrap();
    pax.set_entry_type(EntryType::XHeader);
    pax.set_size(2 << 30);
    pax.set_mode(0o644);
    pax.set_cksum();
    let mut layer = pax.as_bytes().to_vec();
    layer.extend(std::iter::repeat_n(b'9', 9 << 20));
    let (out, bundle, peak) = unpack_measured(dir.path(), "pax", layer, true, &[]);
    refused_naming(
        &out,
        "a PAX header of 2147483648 bytes, more than the limit of 1048576",
    );
    assert!(!bundle.exists());
    assert!(
        peak < 100 << 10,
        "peak RSS {peak} KiB for a refused 9 MB layer"
    );

    // GNU sparse: 512 bytes of data placed at the end of a 300 MiB file.
    let mut sparse = tar::Header::new_gnu();
    sparse.set_path("holes").unwrap();
    sparse.set_entry_type(EntryType::GNUSparse);
    sparse.set_size(512);
    sparse.set_mode(0o644);
    let real = 300u64 << 20;
    let gnu = sparse.as_gnu_mut().unwrap();
    let octal = |field: &mut [u8], v: u64| {
        let text = format!("{v:0width$o}", width = field.len() - 1);
        field[..text.len()].copy_from_slice(text.as_bytes());
    };
    octal(&mut gnu.sparse[0].offset, real - 512);
    octal(&mut gnu.sparse[0].numbytes, 512);
    octal(&mut gnu.realsize, real);
    sparse.set_cksum();
    let mut layer = sparse.as_bytes().to_vec();
    layer.extend_from_slice(&[b's'; 512]);
    layer.extend_from_slice(&[0; 1024]);
    assert!(layer.len() <= 2048);
    let (out, bundle, _) = unpack_measured(dir.path(), "sparse", layer, true, &[]);
    refused_naming(&out, "a GNU sparse entry");
    assert!(!bundle.exists(), "a refused unpack leaves nothing");
}

/// Issue 21, finding 4: nothing bounded a layer's expanded size. 64 MiB of zeros
/// (64 KiB compressed) against a ratio of 10 and an image cap of 16 MiB.
#[test]
fn a_layer_that_expands_past_the_limits_is_refused_and_the_limits_can_be_raised() {
    let dir = tempfile::tempdir().unwrap();
    let zeros = LayerTar::new()
        .file("zeros", &vec![0u8; 64 << 20], 0o644)
        .finish();
    let strict = ["--max-expansion-ratio", "10", "--max-unpacked-size", "16M"];
    let (out, bundle, _) = unpack_measured(dir.path(), "bomb", zeros.clone(), false, &strict);
    refused_naming(&out, "expand to more than the limit of 16777216 bytes");
    assert!(!bundle.exists());
    let raised = ["--max-unpacked-size", "1G"];
    let (out, bundle, _) = unpack_measured(dir.path(), "raised", zeros, false, &raised);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        std::fs::metadata(bundle.join("rootfs/zeros"))
            .unwrap()
            .len(),
        64 << 20
    );
}

/// Issue 21, finding 5: 255 symlink follows per name (Linux allows 40) let a small
/// layer cost seconds per entry. A chain of 41 is refused; 40 resolve.
#[test]
fn a_name_through_more_symlinks_than_linux_follows_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let chain = |n: usize| {
        let mut t = LayerTar::new().dir("target", 0o755);
        for i in 0..n {
            let next = if i + 1 == n {
                "target".to_string()
            } else {
                format!("l{}", i + 1)
            };
            t = t.symlink(&format!("l{i}"), &next);
        }
        t.raw("l0/file", EntryType::Regular, None, b"x").finish()
    };
    let (out, _, _) = unpack_measured(dir.path(), "forty-one", chain(41), true, &[]);
    refused_naming(&out, "too many levels of symbolic links");
    let (out, bundle, _) = unpack_measured(dir.path(), "forty", chain(40), true, &[]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(bundle.join("rootfs/target/file").is_file());
}
