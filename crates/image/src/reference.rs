//! Image references in skopeo's transport syntax — `docker://HOST/REPO:TAG|@DIGEST`,
//! `oci:DIR[:TAG]`, `oci-archive:FILE[:TAG]`, `docker-archive:FILE[:NAME:TAG]` — and
//! Isar's fetcher form `docker://NAME;digest=sha256:…;tag=T` as a source. A registry
//! reference is normalised as docker and skopeo do it: no host means `docker.io`,
//! a one-part name on docker.io is `library/NAME`, no tag and no digest means
//! `latest`.

use crate::digest::Digest;
use std::fmt;
use std::path::PathBuf;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ImageRef {
    /// `docker://`: an image in a registry.
    Registry(RegistryRef),
    /// `oci:DIR[:TAG]`: an OCI image layout directory.
    OciLayout { dir: PathBuf, tag: Option<String> },
    /// `oci-archive:FILE[:TAG]`: a tar of an OCI image layout.
    OciArchive { file: PathBuf, tag: Option<String> },
    /// `docker-archive:FILE[:NAME:TAG]`: `docker save`'s format.
    DockerArchive {
        file: PathBuf,
        name: Option<RegistryRef>,
    },
}

/// An image in a registry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RegistryRef {
    /// `docker.io`, `quay.io`, `127.0.0.1:5000`.
    pub registry: String,
    /// `library/busybox`, `org/app`.
    pub repository: String,
    pub tag: Option<String>,
    pub digest: Option<Digest>,
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("{reference:?}: {why}")]
pub struct BadReference {
    pub reference: String,
    pub why: String,
}

/// The registry docker and skopeo assume for a name without a host.
pub const DEFAULT_REGISTRY: &str = "docker.io";

impl std::str::FromStr for ImageRef {
    type Err = BadReference;

    fn from_str(text: &str) -> Result<ImageRef, BadReference> {
        let bad = |why: String| BadReference {
            reference: text.chars().take(200).collect(),
            why,
        };
        let (transport, rest) = text.split_once(':').ok_or_else(|| {
            bad("no transport: write docker://, oci:, oci-archive: or docker-archive:".into())
        })?;
        // A path and what follows its first ':' (skopeo splits there too).
        let path_and = |rest: &str| -> Result<(PathBuf, Option<String>), BadReference> {
            let (path, after) = match rest.split_once(':') {
                Some((p, a)) => (p, Some(a.to_string())),
                None => (rest, None),
            };
            if path.is_empty() {
                return Err(bad(format!("{transport}: needs a path")));
            }
            Ok((PathBuf::from(path), after))
        };
        match transport {
            "docker" => {
                let name = rest
                    .strip_prefix("//")
                    .ok_or_else(|| bad("docker: references start with docker://".into()))?;
                RegistryRef::parse_isar(name).map(ImageRef::Registry).map_err(bad)
            }
            "oci" | "oci-archive" => {
                let (path, tag) = path_and(rest)?;
                if let Some(tag) = &tag {
                    check_tag(tag).map_err(bad)?;
                }
                Ok(if transport == "oci" {
                    ImageRef::OciLayout { dir: path, tag }
                } else {
                    ImageRef::OciArchive { file: path, tag }
                })
            }
            "docker-archive" => {
                let (file, name) = path_and(rest)?;
                let name = match name {
                    Some(n) => {
                        let r = RegistryRef::parse(&n).map_err(bad)?;
                        if r.digest.is_some() {
                            return Err(bad(
                                "docker-archive: names an image by NAME:TAG, not by digest".into(),
                            ));
                        }
                        Some(r)
                    }
                    None => None,
                };
                Ok(ImageRef::DockerArchive { file, name })
            }
            other => Err(bad(format!(
                "unknown transport {other:?}: write docker://, oci:, oci-archive: or docker-archive:"
            ))),
        }
    }
}

impl RegistryRef {
    /// `docker://HOST/REPO:TAG` for `tag` (what a tag is written as in output and
    /// in berthd's `follow`), whatever tag or digest this reference has.
    pub fn docker_tag(&self, tag: &str) -> String {
        format!("docker://{}/{}:{tag}", self.registry, self.repository)
    }

    /// `[HOST[:PORT]/]PATH[:TAG][@DIGEST]`, normalised.
    pub fn parse(text: &str) -> Result<RegistryRef, String> {
        let (name, digest) = match text.split_once('@') {
            Some((n, d)) => (n, Some(d.parse::<Digest>().map_err(|e| e.to_string())?)),
            None => (text, None),
        };
        // A ':' after the last '/' starts the tag (one before it is a port).
        let last_slash = name.rfind('/').map_or(0, |i| i + 1);
        let (name, tag) = match name[last_slash..].find(':') {
            Some(i) => (
                &name[..last_slash + i],
                Some(name[last_slash + i + 1..].to_string()),
            ),
            None => (name, None),
        };
        if let Some(tag) = &tag {
            check_tag(tag)?;
        }
        let (registry, path) = match name.split_once('/') {
            Some((first, rest))
                if first.contains('.') || first.contains(':') || first == "localhost" =>
            {
                (first.to_string(), rest.to_string())
            }
            _ => (DEFAULT_REGISTRY.to_string(), name.to_string()),
        };
        check_host(&registry)?;
        if path.is_empty() {
            return Err("no repository name".into());
        }
        for component in path.split('/') {
            check_component(component)?;
        }
        let repository = if registry == DEFAULT_REGISTRY && !path.contains('/') {
            format!("library/{path}")
        } else {
            path
        };
        let tag = match (&tag, &digest) {
            (None, None) => Some("latest".to_string()),
            _ => tag,
        };
        Ok(RegistryRef {
            registry,
            repository,
            tag,
            digest,
        })
    }

    /// The plain form, or Isar's fetcher form `NAME;digest=sha256:…;tag=T` (each
    /// parameter optional, in any order; a tag in both places must agree).
    pub fn parse_isar(text: &str) -> Result<RegistryRef, String> {
        let mut parts = text.split(';');
        let name = parts.next().unwrap_or_default();
        let mut digest = None;
        let mut tag = None;
        for param in parts {
            match param.split_once('=') {
                Some(("digest", d)) => {
                    digest = Some(d.parse::<Digest>().map_err(|e| e.to_string())?)
                }
                Some(("tag", t)) => {
                    check_tag(t)?;
                    tag = Some(t.to_string());
                }
                _ => return Err(format!("unknown parameter {param:?} (digest=, tag=)")),
            }
        }
        let mut r = RegistryRef::parse(name)?;
        let explicit_tag = name[name.rfind('/').map_or(0, |i| i + 1)..].contains(':');
        if let Some(t) = tag {
            if explicit_tag && r.tag.as_deref() != Some(t.as_str()) {
                return Err(format!(
                    "two tags: {} in the name, {t} in tag=",
                    r.tag.unwrap_or_default()
                ));
            }
            r.tag = Some(t);
        }
        if let Some(d) = digest {
            if r.digest.as_ref().is_some_and(|x| *x != d) {
                return Err("two different digests: in the name and in digest=".into());
            }
            r.digest = Some(d);
        }
        Ok(r)
    }
}

impl fmt::Display for RegistryRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.registry, self.repository)?;
        if let Some(t) = &self.tag {
            write!(f, ":{t}")?;
        }
        if let Some(d) = &self.digest {
            write!(f, "@{d}")?;
        }
        Ok(())
    }
}

/// The distribution spec's host: a DNS name (labels of letters, digits and inner
/// `-`, joined by `.`), an IPv4 address or `[IPv6]`, with an optional `:PORT`. A host
/// is written into URLs, unit files and engine arguments: a newline or a space in it
/// injected `ExecStartPre=` into a unit and arguments into `docker run` (issue 21,
/// finding 9).
fn check_host(host: &str) -> Result<(), String> {
    let bad = |why: &str| Err(format!("registry host {host:?}: {why}"));
    let (name, port) = if let Some(rest) = host.strip_prefix('[') {
        let Some((v6, after)) = rest.split_once(']') else {
            return bad("an IPv6 address needs its closing ]");
        };
        if v6.parse::<std::net::Ipv6Addr>().is_err() {
            return bad("not an IPv6 address");
        }
        match after {
            "" => (None, None),
            _ => match after.strip_prefix(':') {
                Some(p) => (None, Some(p)),
                None => return bad("only :PORT may follow an IPv6 address"),
            },
        }
    } else {
        match host.split_once(':') {
            Some((n, p)) => (Some(n), Some(p)),
            None => (Some(host), None),
        }
    };
    if let Some(port) = port {
        let digits =
            !port.is_empty() && port.len() <= 5 && port.bytes().all(|b| b.is_ascii_digit());
        if !digits || port.parse::<u32>().map_or(true, |p| p == 0 || p > 65535) {
            return bad("the port must be a number from 1 to 65535");
        }
    }
    let Some(name) = name else {
        return Ok(());
    };
    let label_ok = |l: &str| {
        let b = l.as_bytes();
        !b.is_empty()
            && b.len() <= 63
            && b[0].is_ascii_alphanumeric()
            && b[b.len() - 1].is_ascii_alphanumeric()
            && b.iter().all(|c| c.is_ascii_alphanumeric() || *c == b'-')
    };
    if name.len() > 253 || !name.split('.').all(label_ok) {
        return bad("must be a DNS name, an IPv4 address or [IPv6], with an optional :PORT");
    }
    Ok(())
}

/// `[A-Za-z0-9_][A-Za-z0-9._-]{0,127}` (the distribution spec's tag rule).
fn check_tag(tag: &str) -> Result<(), String> {
    let ok = !tag.is_empty()
        && tag.len() <= 128
        && tag
            .bytes()
            .next()
            .is_some_and(|b| b.is_ascii_alphanumeric() || b == b'_')
        && tag
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.' | b'-'));
    if ok {
        Ok(())
    } else {
        Err(format!(
            "tag {tag:?} must be 1-128 of A-Z a-z 0-9 _ . - , not starting with . or -"
        ))
    }
}

/// A repository path component: lower-case letters and digits, joined by one `.`,
/// one or two `_`, or any number of `-`.
fn check_component(c: &str) -> Result<(), String> {
    let bad = || {
        format!("repository part {c:?} must be lower-case letters and digits joined by . _ __ or -")
    };
    let bytes = c.as_bytes();
    let alnum = |b: u8| b.is_ascii_lowercase() || b.is_ascii_digit();
    if bytes.is_empty() || !alnum(bytes[0]) || !alnum(bytes[bytes.len() - 1]) {
        return Err(bad());
    }
    let mut i = 0;
    while i < bytes.len() {
        if alnum(bytes[i]) {
            i += 1;
            continue;
        }
        let start = i;
        while i < bytes.len() && !alnum(bytes[i]) {
            i += 1;
        }
        let sep = &c[start..i];
        let fine = sep == "." || sep == "_" || sep == "__" || sep.bytes().all(|b| b == b'-');
        if !fine {
            return Err(bad());
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests;
