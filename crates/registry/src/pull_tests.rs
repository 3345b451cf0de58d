//! A registry as a copy source, against a registry that misbehaves on purpose
//! (`testkit::HostileRegistry`): wrong sizes, endless bodies, huge manifests and
//! redirect loops are refused; cut connections and 429s are ridden out. (What the
//! `berth image copy` command prints and leaves behind for them is the e2e suite's.)

use super::*;
use crate::testkit::{honest, serve_image, whole, HostileRegistry, Reply, Request};
use crate::Options;
use berth_image::copy::memory::{layer_tar, MemoryDest, MemorySource};
use berth_image::copy::{copy, CopyOptions, NoProgress};
use berth_image::{ImageError, VerifyError};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

const MANIFEST: &str = berth_image::manifest::OCI_MANIFEST;

/// A one-layer image (a layer of some size, so that a cut can fall inside it).
fn image() -> MemorySource {
    MemorySource::image(&[layer_tar(&[("data", &[7u8; 300_000])])], "amd64")
}

fn layer_digest(image: &MemorySource) -> String {
    let manifest: serde_json::Value = serde_json::from_slice(&image.top).unwrap();
    manifest["layers"][0]["digest"]
        .as_str()
        .unwrap()
        .to_string()
}

fn serve(
    layer_reply: impl Fn(&Request, &[u8]) -> Reply + Send + Sync + 'static,
) -> HostileRegistry {
    serve_image(image(), "e2e/img", layer_reply)
}

/// Copies `e2e/img:1` from the registry into memory, with two retries a few
/// milliseconds apart.
fn copy_from(registry: &HostileRegistry) -> Result<MemoryDest, ImageError> {
    let options = Options {
        retries: 2,
        backoff: Duration::from_millis(10),
        ..Options::default()
    };
    let reference = RegistryRef::parse(&format!("{}/e2e/img:1", registry.host)).unwrap();
    let source = RegistrySource::new(reference, &options);
    let dest = MemoryDest::new();
    copy(
        &source,
        Box::new(dest.clone()),
        &CopyOptions::default(),
        &NoProgress,
    )?;
    Ok(dest)
}

#[test]
fn an_honest_registry_gives_the_image_byte_for_byte() {
    let r = serve(whole);
    let dest = copy_from(&r).unwrap();
    let stored = dest.stored.lock().unwrap();
    assert_eq!(stored.blobs, image().blobs);
    assert_eq!(stored.manifests[0].0, image().top);
}

#[test]
fn a_layer_longer_than_declared_is_refused_at_the_first_extra_byte() {
    let r = serve(|_, layer| Reply::ok([layer, b"trailing"].concat(), "application/octet-stream"));
    let e = copy_from(&r).unwrap_err();
    assert!(
        matches!(e, ImageError::Verify(VerifyError::TooLong { .. })),
        "{e}"
    );
}

#[test]
fn a_layer_shorter_than_declared_is_refused() {
    let r = serve(|_, layer| {
        Reply::ok(
            layer[..layer.len() / 2].to_vec(),
            "application/octet-stream",
        )
    });
    let e = copy_from(&r).unwrap_err();
    assert!(e.to_string().contains("declared"), "{e}");
}

#[test]
fn an_endless_body_is_cut_off_at_the_declared_size() {
    let r = serve(|_, _| Reply::Endless { headers: vec![] });
    let started = Instant::now();
    let e = copy_from(&r).unwrap_err();
    assert!(
        matches!(e, ImageError::Verify(VerifyError::TooLong { .. })),
        "{e}"
    );
    assert!(
        started.elapsed() < Duration::from_secs(30),
        "refused promptly"
    );
}

#[test]
fn a_huge_manifest_is_refused_by_its_size() {
    let r = HostileRegistry::start(|r| {
        if r.path.contains("/manifests/") {
            let mut body = br#"{"schemaVersion":2,"layers":["#.to_vec();
            body.resize(5 << 20, b' ');
            Reply::ok(body, MANIFEST)
        } else {
            Reply::status(404, &[])
        }
    });
    let e = copy_from(&r).unwrap_err();
    assert!(e.to_string().contains("bytes"), "{e}");
}

#[test]
fn a_redirect_loop_is_refused() {
    let r = serve(|req, _| Reply::status(307, &[("Location", req.path.as_str())]));
    let e = copy_from(&r).unwrap_err();
    assert!(e.to_string().contains("redirect"), "{e}");
}

#[test]
fn a_blob_cut_off_midway_is_resumed_with_a_range_request() {
    let r = serve(|req, layer| match req.header("Range") {
        None => Reply::Cut {
            headers: vec![],
            body: layer[..layer.len() / 3].to_vec(),
            declared: layer.len() as u64,
        },
        Some(range) => {
            let from: usize = range
                .trim_start_matches("bytes=")
                .trim_end_matches('-')
                .parse()
                .unwrap();
            Reply::Full {
                status: 206,
                headers: vec![(
                    "Content-Range".into(),
                    format!("bytes {from}-{}/{}", layer.len() - 1, layer.len()),
                )],
                body: layer[from..].to_vec(),
            }
        }
    });
    let dest = copy_from(&r).unwrap();
    let image = image();
    let layer = layer_digest(&image);
    assert_eq!(
        dest.stored.lock().unwrap().blobs[&layer],
        image.blobs[&layer]
    );
    let ranges: Vec<String> = r
        .seen()
        .iter()
        .filter_map(|q| q.header("Range").map(str::to_string))
        .collect();
    assert_eq!(
        ranges,
        vec![format!("bytes={}-", image.blobs[&layer].len() / 3)]
    );
}

#[test]
fn too_many_requests_waits_as_long_as_retry_after_says() {
    let tries = Arc::new(AtomicUsize::new(0));
    let count = tries.clone();
    let r = HostileRegistry::start(move |req| {
        if req.path.contains("/manifests/") && count.fetch_add(1, Ordering::SeqCst) == 0 {
            return Reply::status(429, &[("Retry-After", "1")]);
        }
        honest(&image(), "e2e/img", req, &whole)
    });
    let started = Instant::now();
    copy_from(&r).unwrap();
    // The backoff is 10 ms: only Retry-After makes it a second.
    assert!(
        started.elapsed() >= Duration::from_secs(1),
        "waited for Retry-After"
    );
    assert!(tries.load(Ordering::SeqCst) >= 2);
}
