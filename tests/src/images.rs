//! Images made by code, and a real registry (Debian's docker-registry) on a free
//! loopback port, started by the test and stopped when dropped.

use crate::{ok, require};
use berth_image::layout::descriptor;
use berth_image::{Digest, Layout};
use serde_json::{json, Value};
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A layer's tar, built entry by entry.
pub struct LayerTar(tar::Builder<Vec<u8>>);

impl Default for LayerTar {
    fn default() -> Self {
        LayerTar::new()
    }
}

impl LayerTar {
    pub fn new() -> LayerTar {
        LayerTar(tar::Builder::new(Vec::new()))
    }

    fn header(kind: tar::EntryType, mode: u32, size: u64) -> tar::Header {
        let mut h = tar::Header::new_gnu();
        h.set_entry_type(kind);
        h.set_mode(mode);
        h.set_size(size);
        h.set_mtime(1_600_000_000);
        h
    }

    pub fn file(mut self, path: &str, content: &[u8], mode: u32) -> LayerTar {
        self.file_owned(path, content, mode, 0, 0);
        self
    }

    pub fn file_owned(&mut self, path: &str, content: &[u8], mode: u32, uid: u64, gid: u64) {
        let mut h = Self::header(tar::EntryType::Regular, mode, content.len() as u64);
        h.set_uid(uid);
        h.set_gid(gid);
        self.0.append_data(&mut h, path, content).unwrap();
    }

    pub fn dir(mut self, path: &str, mode: u32) -> LayerTar {
        let mut h = Self::header(tar::EntryType::Directory, mode, 0);
        self.0.append_data(&mut h, path, &[][..]).unwrap();
        self
    }

    pub fn symlink(mut self, path: &str, target: &str) -> LayerTar {
        let mut h = Self::header(tar::EntryType::Symlink, 0o777, 0);
        self.0.append_link(&mut h, path, target).unwrap();
        self
    }

    pub fn hardlink(mut self, path: &str, target: &str) -> LayerTar {
        let mut h = Self::header(tar::EntryType::Link, 0o644, 0);
        self.0.append_link(&mut h, path, target).unwrap();
        self
    }

    pub fn node(mut self, path: &str, kind: tar::EntryType, major: u32, minor: u32) -> LayerTar {
        let mut h = Self::header(kind, 0o640, 0);
        h.set_device_major(major).unwrap();
        h.set_device_minor(minor).unwrap();
        self.0.append_data(&mut h, path, &[][..]).unwrap();
        self
    }

    /// A file with PAX extended attributes (`SCHILY.xattr.NAME`).
    pub fn file_with_xattr(
        mut self,
        path: &str,
        content: &[u8],
        name: &str,
        value: &str,
    ) -> LayerTar {
        // A PAX record is "LEN KEY=VALUE\n", LEN counting itself.
        let body = format!(" SCHILY.xattr.{name}={value}\n");
        let mut len = body.len() + 1;
        while format!("{len}{body}").len() != len {
            len += 1;
        }
        let record = format!("{len}{body}");
        let mut x = Self::header(tar::EntryType::XHeader, 0o644, record.len() as u64);
        self.0
            .append_data(&mut x, "PaxHeader", record.as_bytes())
            .unwrap();
        let mut h = Self::header(tar::EntryType::Regular, 0o644, content.len() as u64);
        self.0.append_data(&mut h, path, content).unwrap();
        self
    }

    /// A raw entry with exactly this name (no normalisation by the tar crate).
    pub fn raw(
        mut self,
        name: &str,
        kind: tar::EntryType,
        link: Option<&str>,
        content: &[u8],
    ) -> LayerTar {
        let mut h = Self::header(kind, 0o644, content.len() as u64);
        let bytes = h.as_old_mut();
        bytes.name = [0; 100];
        bytes.name[..name.len()].copy_from_slice(name.as_bytes());
        if let Some(link) = link {
            bytes.linkname = [0; 100];
            bytes.linkname[..link.len()].copy_from_slice(link.as_bytes());
        }
        h.set_cksum();
        self.0.append(&h, content).unwrap();
        self
    }

    pub fn finish(self) -> Vec<u8> {
        self.0.into_inner().unwrap()
    }
}

pub fn gzip(bytes: &[u8]) -> Vec<u8> {
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    e.write_all(bytes).unwrap();
    e.finish().unwrap()
}

/// An image of `layers` (uncompressed tars; each is stored gzip-compressed when
/// `gzip`) in `layout`; returns the manifest's digest and size.
pub fn put_image(
    layout: &Layout,
    layers: &[Vec<u8>],
    gzip_layers: bool,
    arch: &str,
    variant: Option<&str>,
    run: Value,
) -> (Digest, u64) {
    let mut diff_ids = Vec::new();
    let mut descriptors = Vec::new();
    for layer in layers {
        diff_ids.push(Digest::of(layer).to_string());
        let (stored, media_type) = if gzip_layers {
            (gzip(layer), "application/vnd.oci.image.layer.v1.tar+gzip")
        } else {
            (layer.clone(), "application/vnd.oci.image.layer.v1.tar")
        };
        let (d, size) = layout.put_bytes(&stored).unwrap();
        descriptors.push(json!({"mediaType": media_type, "digest": d.to_string(), "size": size}));
    }
    let mut config = json!({
        "created": "2026-01-01T00:00:00Z",
        "architecture": arch, "os": "linux",
        "config": run,
        "rootfs": {"type": "layers", "diff_ids": diff_ids},
    });
    if let Some(v) = variant {
        config["variant"] = json!(v);
    }
    let (config_digest, config_size) = layout
        .put_bytes(&serde_json::to_vec(&config).unwrap())
        .unwrap();
    let manifest = json!({
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": config_digest.to_string(), "size": config_size},
        "layers": descriptors,
    });
    layout
        .put_bytes(&serde_json::to_vec(&manifest).unwrap())
        .unwrap()
}

/// Names manifest `digest` `tag` in the layout.
pub fn tag_manifest(layout: &Layout, tag: &str, digest: &Digest, size: u64) {
    layout
        .tag(
            tag,
            descriptor(oci_spec::image::MediaType::ImageManifest, digest, size),
        )
        .unwrap();
}

/// An index of the given manifests with their platforms, tagged `tag`; returns its digest.
pub fn put_index(
    layout: &Layout,
    tag: &str,
    entries: &[(Digest, u64, &str, Option<&str>)],
) -> Digest {
    let manifests: Vec<Value> = entries
        .iter()
        .map(|(d, size, arch, variant)| {
            let mut platform = json!({"architecture": arch, "os": "linux"});
            if let Some(v) = variant {
                platform["variant"] = json!(v);
            }
            json!({"mediaType": "application/vnd.oci.image.manifest.v1+json", "digest": d.to_string(), "size": size, "platform": platform})
        })
        .collect();
    let index = json!({"schemaVersion": 2, "mediaType": "application/vnd.oci.image.index.v1+json", "manifests": manifests});
    let (d, size) = layout
        .put_bytes(&serde_json::to_vec(&index).unwrap())
        .unwrap();
    layout
        .tag(
            tag,
            descriptor(oci_spec::image::MediaType::ImageIndex, &d, size),
        )
        .unwrap();
    d
}

/// A free port on 127.0.0.1 (bound, read, released).
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Debian's distribution registry on a free loopback port, with its storage in a
/// temporary directory; killed when dropped.
pub struct Registry {
    pub host: String,
    child: Child,
    _dir: tempfile::TempDir,
}

impl Registry {
    pub fn start() -> Registry {
        Registry::start_with(None)
    }

    /// With htpasswd (bcrypt) authentication for `user:password`.
    pub fn start_with_auth(user: &str, password: &str) -> Registry {
        Registry::start_with(Some((user, password)))
    }

    fn start_with(auth: Option<(&str, &str)>) -> Registry {
        require(&["docker-registry"]);
        let dir = tempfile::tempdir().unwrap();
        let port = free_port();
        let mut config = format!(
            "version: 0.1\nlog: {{level: error}}\nstorage: {{filesystem: {{rootdirectory: {}}}, delete: {{enabled: true}}}}\nhttp: {{addr: 127.0.0.1:{port}}}\n",
            dir.path().join("data").display()
        );
        if let Some((user, password)) = auth {
            require(&["htpasswd"]);
            let file = dir.path().join("htpasswd");
            ok(Command::new("htpasswd")
                .args(["-Bbc"])
                .arg(&file)
                .args([user, password]));
            config.push_str(&format!(
                "auth: {{htpasswd: {{realm: berth-test, path: {}}}}}\n",
                file.display()
            ));
        }
        let config_path = dir.path().join("config.yml");
        std::fs::write(&config_path, config).unwrap();
        let child = Command::new("docker-registry")
            .arg("serve")
            .arg(&config_path)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("docker-registry starts");
        let host = format!("127.0.0.1:{port}");
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            if let Ok(mut s) = TcpStream::connect(&host) {
                let _ =
                    s.write_all(format!("GET /v2/ HTTP/1.0\r\nHost: {host}\r\n\r\n").as_bytes());
                let mut head = [0u8; 12];
                if s.read_exact(&mut head).is_ok() && head.starts_with(b"HTTP/") {
                    break;
                }
            }
            assert!(
                Instant::now() < deadline,
                "docker-registry did not answer on {host} within 20 s"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        Registry {
            host,
            child,
            _dir: dir,
        }
    }

    /// `docker://HOST/REPO`.
    pub fn image(&self, repo: &str) -> String {
        format!("docker://{}/{repo}", self.host)
    }
}

impl Drop for Registry {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The sha256 digest of what `skopeo inspect --raw REF` prints (the manifest as the
/// transport stores it): skopeo's view of an image's digest.
pub fn skopeo_raw_digest(reference: &str) -> String {
    let out = crate::run(Command::new("skopeo").args([
        "inspect",
        "--raw",
        "--tls-verify=false",
        reference,
    ]));
    assert!(
        out.status.success(),
        "skopeo inspect --raw {reference}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    Digest::of(&out.stdout).to_string()
}

/// A small image whose first layer is busybox-static and its applet links, with a
/// second, gzip-compressed layer of app files.
pub fn busybox_layers(work: &Path) -> Vec<Vec<u8>> {
    let rootfs = crate::busybox_rootfs(work);
    let mut base = tar::Builder::new(Vec::new());
    base.follow_symlinks(false);
    base.append_dir_all(".", &rootfs).unwrap();
    let base = base.into_inner().unwrap();
    let app = LayerTar::new()
        .dir("app", 0o755)
        .file("app/run.sh", b"#!/bin/sh\necho hello from berth\n", 0o755)
        .file("app/config", b"key=value\n", 0o600)
        .finish();
    vec![base, app]
}
