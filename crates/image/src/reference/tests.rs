//! References as skopeo, docker and Isar's fetcher write them.

use super::*;

fn registry(text: &str) -> RegistryRef {
    match text.parse::<ImageRef>().unwrap() {
        ImageRef::Registry(r) => r,
        other => panic!("{other:?}"),
    }
}

fn digest() -> Digest {
    Digest::of(b"manifest")
}

#[test]
fn registry_references_are_normalised_as_docker_does() {
    let r = registry("docker://busybox");
    assert_eq!(r.to_string(), "docker.io/library/busybox:latest");
    let r = registry("docker://quay.io/org/app:1.2");
    assert_eq!(
        (r.registry.as_str(), r.repository.as_str(), r.tag.as_deref()),
        ("quay.io", "org/app", Some("1.2"))
    );
    // A port is not a tag; localhost is a host.
    let r = registry("docker://127.0.0.1:5000/t/img");
    assert_eq!(r.to_string(), "127.0.0.1:5000/t/img:latest");
    assert_eq!(registry("docker://localhost/app:1").registry, "localhost");
    // A digest without a tag: no "latest" invented.
    let d = digest();
    let r = registry(&format!("docker://alpine@{d}"));
    assert_eq!((r.tag, r.digest), (None, Some(d.clone())));
    let r = registry(&format!("docker://alpine:3.19@{d}"));
    assert_eq!((r.tag.as_deref(), r.digest), (Some("3.19"), Some(d)));
}

#[test]
fn isars_fetcher_form_is_read_as_a_source() {
    let d = digest();
    let r = registry(&format!("docker://debian;digest={d};tag=bookworm"));
    assert_eq!(
        r.to_string(),
        format!("docker.io/library/debian:bookworm@{d}")
    );
    let r = registry(&format!("docker://ghcr.io/o/app;tag=2;digest={d}"));
    assert_eq!((r.tag.as_deref(), r.digest), (Some("2"), Some(d.clone())));
    // Two tags that disagree, an unknown parameter, a digest that is not one.
    for bad in [
        "docker://app:1;tag=2".to_string(),
        "docker://app;arch=arm64".to_string(),
        "docker://app;digest=sha256:xyz".to_string(),
    ] {
        let err = bad.parse::<ImageRef>().unwrap_err();
        assert_eq!(err.reference, bad, "{err}");
    }
}

#[test]
fn local_transports_split_at_the_first_colon_as_skopeo_does() {
    assert_eq!(
        "oci:/tmp/layout:v1".parse::<ImageRef>().unwrap(),
        ImageRef::OciLayout {
            dir: "/tmp/layout".into(),
            tag: Some("v1".into())
        }
    );
    assert_eq!(
        "oci-archive:img.tar".parse::<ImageRef>().unwrap(),
        ImageRef::OciArchive {
            file: "img.tar".into(),
            tag: None
        }
    );
    match "docker-archive:out/app.tar.zst:localhost/app:1"
        .parse::<ImageRef>()
        .unwrap()
    {
        ImageRef::DockerArchive { file, name } => {
            assert_eq!(file, PathBuf::from("out/app.tar.zst"));
            assert_eq!(name.unwrap().to_string(), "localhost/app:1");
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn bad_references_name_the_rule() {
    for (text, rule) in [
        ("busybox", "no transport"),
        ("http://x/y", "unknown transport"),
        ("docker:busybox", "docker://"),
        ("oci::v1", "needs a path"),
        ("oci:dir:-bad", "tag"),
        ("docker://Busybox", "lower-case"),
        ("docker://a//b", "lower-case"),
        ("docker://app:", "tag"),
        ("docker://a---b_c__d.e:1", ""),
    ] {
        match text.parse::<ImageRef>() {
            Err(e) => assert!(
                e.to_string().contains(rule) && !rule.is_empty(),
                "{text}: {e}"
            ),
            Ok(r) => assert!(rule.is_empty(), "{text} parsed as {r:?}"),
        }
    }
}

#[test]
fn registry_hosts_follow_the_distribution_grammar() {
    for good in [
        "127.0.0.1:5000/a",
        "localhost/a",
        "my-registry.example.com/a/b",
        "[::1]:5000/a",
        "[fd00::1]/a",
        "REG.Example.COM:443/a",
    ] {
        assert!(RegistryRef::parse(good).is_ok(), "{good}");
    }
    // Issue 21, finding 9: a newline injected a unit line, spaces engine arguments.
    for bad in [
        "reg.io\nExecStartPre=/bin/sh/a",
        "reg .io/a",
        "reg.io:5000 --privileged/a",
        "reg.io:0/a",
        "reg.io:65536/a",
        "reg.io:/a",
        "-reg.io/a",
        "reg..io/a",
        "[::1/a",
        "[not-v6]:1/a",
        "[::1]x/a",
        "reg_io.com/a",
    ] {
        let e = RegistryRef::parse(bad).unwrap_err();
        assert!(e.contains("registry host"), "{bad}: {e}");
    }
}
