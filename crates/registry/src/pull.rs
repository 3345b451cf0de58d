//! Reading from a registry: manifests by tag or digest (capped, verified when pinned),
//! blobs verified while they stream, and a blob whose connection drops resumed from
//! where it stopped with a Range request.

use crate::client::{read_limited, Body, Client, RegistryError};
use berth_image::copy::{Source, Top};
use berth_image::manifest::{self, ACCEPT, MAX_MANIFEST};
use berth_image::{Digest, ImageError, RegistryRef, VerifyingReader};
use oci_spec::image::Descriptor;
use std::borrow::Borrow;
use std::io::{self, Read};

pub struct RegistrySource {
    client: Client,
    reference: RegistryRef,
}

impl RegistrySource {
    pub fn new(reference: RegistryRef, options: &crate::Options) -> RegistrySource {
        RegistrySource {
            client: Client::new(&reference.registry, options),
            reference,
        }
    }

    pub fn client(&self) -> &Client {
        &self.client
    }

    /// The reference it reads from.
    pub fn reference(&self) -> &RegistryRef {
        &self.reference
    }

    pub fn repository(&self) -> &str {
        &self.reference.repository
    }

    fn manifest_path(&self, reference: &str) -> String {
        format!("/v2/{}/manifests/{reference}", self.reference.repository)
    }

    /// The manifest or index `reference` (a tag or digest) names, with its media type.
    pub fn fetch_manifest(&self, reference: &str) -> Result<Top, RegistryError> {
        let path = self.manifest_path(reference);
        let accept = ACCEPT.join(", ");
        let response = self
            .client
            .call("GET", &path, &[("Accept", &accept)], Body::Empty, &[])?;
        let media_type = response
            .header("Content-Type")
            .map(|t| t.split(';').next().unwrap_or(t).trim().to_string())
            .filter(|t| !t.is_empty() && t != "application/json" && t != "text/plain");
        let declared = response
            .header("Content-Length")
            .and_then(|l| l.parse::<u64>().ok());
        let url = self.client.url(&path);
        if declared.is_some_and(|l| l > MAX_MANIFEST) {
            return Err(RegistryError::Protocol {
                url,
                why: format!(
                    "manifest of {} bytes, more than {MAX_MANIFEST}",
                    declared.unwrap_or(0)
                ),
            });
        }
        let bytes = read_limited(response, MAX_MANIFEST, &url)?;
        Ok(Top::new(bytes, media_type))
    }

    /// The digest the registry's tag points at now.
    pub fn tag_digest(&self, tag: &str) -> Result<Digest, RegistryError> {
        Ok(self.fetch_manifest(tag)?.digest)
    }

    /// The digest `reference` points at, asked with one HEAD request (no body), as a
    /// device that follows a tag asks every interval. None when the registry's answer
    /// does not name it (no valid `Docker-Content-Digest`): the caller fetches the
    /// manifest then.
    pub fn head_digest(&self, reference: &str) -> Result<Option<Digest>, RegistryError> {
        let path = self.manifest_path(reference);
        let accept = ACCEPT.join(", ");
        let response = self
            .client
            .call("HEAD", &path, &[("Accept", &accept)], Body::Empty, &[])?;
        Ok(response
            .header("Docker-Content-Digest")
            .and_then(|d| d.trim().parse::<Digest>().ok()))
    }

    /// `blob`, owning the connection: a reader that outlives the source (what an
    /// install thread takes).
    pub fn into_blob(self, d: &Descriptor) -> Result<Box<dyn Read + Send>, ImageError> {
        let name = self.name();
        open_blob(self.client, &self.reference.repository, &name, d)
    }

    /// The repository's tags (`/v2/<name>/tags/list`).
    pub fn tags(&self) -> Result<Vec<String>, RegistryError> {
        let path = format!("/v2/{}/tags/list", self.reference.repository);
        let response = self.client.call("GET", &path, &[], Body::Empty, &[])?;
        #[derive(serde::Deserialize)]
        struct Tags {
            tags: Option<Vec<String>>,
        }
        let url = self.client.url(&path);
        let body = read_limited(response, MAX_MANIFEST, &url)?;
        let tags: Tags = serde_json::from_slice(&body).map_err(|e| RegistryError::Protocol {
            url,
            why: format!("tag list: {e}"),
        })?;
        Ok(tags.tags.unwrap_or_default())
    }

    fn check(&self, top: Top, expected: &Digest) -> Result<Top, ImageError> {
        if &top.digest != expected {
            return Err(ImageError::Verify(
                berth_image::digest::VerifyError::Mismatch {
                    expected: expected.clone(),
                    got: top.digest,
                },
            ));
        }
        Ok(top)
    }
}

impl Source for RegistrySource {
    fn name(&self) -> String {
        format!("docker://{}", self.reference)
    }

    fn top(&self) -> Result<Top, ImageError> {
        match (&self.reference.digest, &self.reference.tag) {
            (Some(digest), _) => {
                let top = self.fetch_manifest(&digest.to_string())?;
                self.check(top, digest)
            }
            (None, tag) => Ok(self.fetch_manifest(tag.as_deref().unwrap_or("latest"))?),
        }
    }

    fn manifest(&self, d: &Descriptor) -> Result<Vec<u8>, ImageError> {
        let digest = manifest::digest_of(d, &self.name())?;
        if d.size() > MAX_MANIFEST {
            return Err(ImageError::format(
                format!("{}: {digest}", self.name()),
                format!("manifest of {} bytes, more than {MAX_MANIFEST}", d.size()),
            ));
        }
        let top = self.check(self.fetch_manifest(&digest.to_string())?, &digest)?;
        if top.bytes.len() as u64 != d.size() {
            return Err(ImageError::Verify(
                berth_image::digest::VerifyError::TooShort {
                    expected: digest,
                    size: d.size(),
                    got: top.bytes.len() as u64,
                },
            ));
        }
        Ok(top.bytes)
    }

    fn blob(&self, d: &Descriptor) -> Result<Box<dyn Read + Send + '_>, ImageError> {
        open_blob(&self.client, &self.reference.repository, &self.name(), d)
    }

    fn parallelism(&self) -> usize {
        self.client.options().parallel
    }

    fn origin(&self) -> Option<(String, String)> {
        Some((
            self.reference.registry.clone(),
            self.reference.repository.clone(),
        ))
    }
}

/// Blob `d` of `repository` through `client` (borrowed or owned), its digest and
/// size checked as it streams.
fn open_blob<'a, C: Borrow<Client> + Send + 'a>(
    client: C,
    repository: &str,
    source_name: &str,
    d: &Descriptor,
) -> Result<Box<dyn Read + Send + 'a>, ImageError> {
    let digest = manifest::digest_of(d, source_name)?;
    let mut reader = Resuming {
        client,
        path: format!("/v2/{repository}/blobs/{digest}"),
        offset: 0,
        size: d.size(),
        inner: None,
        resumes: 0,
    };
    reader.open().map_err(ImageError::from)?;
    Ok(Box::new(VerifyingReader::new(
        reader,
        digest,
        Some(d.size()),
    )))
}

/// A blob's body that reconnects with `Range: bytes=OFFSET-` when it breaks off.
/// Borrows the source's client, or owns it (`into_blob`).
struct Resuming<C: Borrow<Client>> {
    client: C,
    path: String,
    offset: u64,
    size: u64,
    inner: Option<Box<dyn Read + Send + Sync>>,
    resumes: u32,
}

impl<C: Borrow<Client>> Resuming<C> {
    fn open(&mut self) -> Result<(), RegistryError> {
        let range = format!("bytes={}-", self.offset);
        let headers: &[(&str, &str)] = if self.offset > 0 {
            &[("Range", &range)]
        } else {
            &[]
        };
        let response = self
            .client
            .borrow()
            .call("GET", &self.path, headers, Body::Empty, &[])?;
        let whole = response.status() == 200;
        let mut body = response.into_reader();
        if self.offset > 0 && whole {
            // The registry ignored the range: skip what was read already.
            let skipped =
                io::copy(&mut (&mut body).take(self.offset), &mut io::sink()).map_err(|e| {
                    RegistryError::Protocol {
                        url: self.client.borrow().url(&self.path),
                        why: format!("resuming: {e}"),
                    }
                })?;
            if skipped != self.offset {
                return Err(RegistryError::Protocol {
                    url: self.client.borrow().url(&self.path),
                    why: "resuming: the blob is shorter than before".into(),
                });
            }
        }
        self.inner = Some(body);
        Ok(())
    }
}

impl<C: Borrow<Client>> Read for Resuming<C> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        loop {
            if self.inner.is_none() {
                self.open().map_err(io::Error::other)?;
            }
            let inner = self.inner.as_mut().expect("opened above");
            match inner.read(buf) {
                Ok(0)
                    if self.offset < self.size
                        && self.resumes < self.client.borrow().options().retries => {}
                Ok(n) => {
                    self.offset += n as u64;
                    return Ok(n);
                }
                Err(_)
                    if self.offset < self.size
                        && self.resumes < self.client.borrow().options().retries => {}
                Err(e) => return Err(e),
            }
            self.inner = None;
            self.resumes += 1;
        }
    }
}

#[cfg(test)]
#[path = "pull_tests.rs"]
mod tests;
