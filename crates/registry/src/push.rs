//! Writing to a registry: blobs skipped when there, mounted from another repository
//! of the same registry when the source is there, else uploaded — in one request
//! when small, in chunks (each retried on its own) when large; manifests by digest,
//! the top one by tag at commit.

use crate::client::{Body, Client, RegistryError};
use berth_image::copy::{Dest, Role, Top};
use berth_image::manifest;
use berth_image::{Digest, ImageError, RegistryRef};
use oci_spec::image::Descriptor;
use std::io::Read;

/// Blobs up to this size go in one PUT; larger ones in PATCH chunks of this size.
pub const CHUNK: usize = 8 << 20;

pub struct RegistryDest {
    client: Client,
    reference: RegistryRef,
}

impl RegistryDest {
    pub fn new(reference: RegistryRef, options: &crate::Options) -> RegistryDest {
        RegistryDest {
            client: Client::new(&reference.registry, options),
            reference,
        }
    }

    fn repo(&self) -> &str {
        &self.reference.repository
    }

    /// The answer's `Location`, resolved against the URL of the request (`asked`).
    fn location(
        &self,
        response: &ureq::Response,
        asked: &str,
        what: &str,
    ) -> Result<String, RegistryError> {
        let location = response
            .header("Location")
            .ok_or_else(|| RegistryError::Protocol {
                url: self.client.url(asked),
                why: format!("{what}: no Location in the answer"),
            })?;
        self.client.resolve(asked, location)
    }

    /// Uploads a blob; `content` is read to its end (so a verifying reader checks it)
    /// before the upload is closed.
    pub fn upload(
        &self,
        digest: &Digest,
        size: u64,
        content: &mut dyn Read,
        mount_from: Option<&str>,
    ) -> Result<(), ImageError> {
        let mut start = format!("/v2/{}/blobs/uploads/", self.repo());
        if let Some(from) = mount_from {
            start.push_str(&format!("?mount={digest}&from={from}"));
        }
        let response = self.client.call("POST", &start, &[], Body::Empty, &[])?;
        if response.status() == 201 {
            return Ok(()); // mounted
        }
        let mut location = self.location(&response, &start, "starting an upload")?;
        let octets = [("Content-Type", "application/octet-stream")];
        let mut buffer = Vec::with_capacity((size as usize).min(CHUNK));
        let read_err = |e| ImageError::io(format!("blob {digest}"))(e);
        if size as usize <= CHUNK {
            content.read_to_end(&mut buffer).map_err(read_err)?;
            let url = with_digest(&location, digest);
            self.client
                .call("PUT", &url, &octets, Body::Bytes(&buffer), &[])?;
            return Ok(());
        }
        let mut sent = 0u64;
        loop {
            buffer.clear();
            (&mut *content)
                .take(CHUNK as u64)
                .read_to_end(&mut buffer)
                .map_err(read_err)?;
            if buffer.is_empty() {
                break;
            }
            let range = format!("{}-{}", sent, sent + buffer.len() as u64 - 1);
            let headers = [octets[0], ("Content-Range", range.as_str())];
            let response =
                self.client
                    .call("PATCH", &location, &headers, Body::Bytes(&buffer), &[])?;
            location = self.location(&response, &location, "a chunk")?;
            sent += buffer.len() as u64;
        }
        self.client.call(
            "PUT",
            &with_digest(&location, digest),
            &[],
            Body::Empty,
            &[],
        )?;
        Ok(())
    }

    /// Stores a manifest under `reference` (a tag or its digest).
    pub fn put_manifest_as(
        &self,
        reference: &str,
        bytes: &[u8],
        media_type: &str,
    ) -> Result<(), ImageError> {
        let path = format!("/v2/{}/manifests/{reference}", self.repo());
        self.client.call(
            "PUT",
            &path,
            &[("Content-Type", media_type)],
            Body::Bytes(bytes),
            &[],
        )?;
        Ok(())
    }
}

/// The upload's URL with `digest=` added to its query (a URL library's job: a
/// Location may carry a query, a fragment or escapes of its own).
fn with_digest(location: &str, digest: &Digest) -> String {
    match url::Url::parse(location) {
        Ok(mut u) => {
            u.query_pairs_mut()
                .append_pair("digest", &digest.to_string());
            u.into()
        }
        Err(_) => {
            let sep = if location.contains('?') { '&' } else { '?' };
            format!("{location}{sep}digest={digest}")
        }
    }
}

impl Dest for RegistryDest {
    fn name(&self) -> String {
        format!("docker://{}", self.reference)
    }

    fn has_blob(&self, d: &Descriptor) -> Result<bool, ImageError> {
        let digest = manifest::digest_of(d, &self.name())?;
        let path = format!("/v2/{}/blobs/{digest}", self.repo());
        let response = self.client.call("HEAD", &path, &[], Body::Empty, &[404])?;
        Ok(response.status() == 200)
    }

    fn put_blob(
        &self,
        d: &Descriptor,
        _: &Role,
        content: &mut (dyn Read + Send),
        origin: Option<&(String, String)>,
    ) -> Result<(), ImageError> {
        let digest = manifest::digest_of(d, &self.name())?;
        let mount_from = origin
            .filter(|(registry, repo)| *registry == self.client.registry && repo != self.repo())
            .map(|(_, repo)| repo.as_str());
        self.upload(&digest, d.size(), content, mount_from)
    }

    fn put_manifest(&self, bytes: &[u8], media_type: &str) -> Result<(), ImageError> {
        self.put_manifest_as(&Digest::of(bytes).to_string(), bytes, media_type)
    }

    fn parallelism(&self) -> usize {
        self.client.options().parallel
    }

    fn commit(self: Box<Self>, top: &Top) -> Result<Digest, ImageError> {
        let reference = match (&self.reference.tag, &self.reference.digest) {
            (Some(tag), _) => tag.clone(),
            (None, Some(d)) => d.to_string(),
            (None, None) => "latest".into(),
        };
        self.put_manifest_as(&reference, &top.bytes, &top.media_type)?;
        Ok(top.digest.clone())
    }
}
