//! `docker://` installs: berthd fetches a package `berth push` put in a registry and
//! streams it into the same install as a local package (checksums, manifest,
//! signature, payload digest; the blob's own digest is checked as it streams, so a
//! registry that serves other bytes fails the install, which is undone). When the
//! device trusts keys, the signature comes from the package or, failing that, from
//! the package's signature referrer in the registry.
//!
//! The registry client is behind the `registry` cargo feature; without it berthd
//! answers `not_built`.

use crate::daemon::Daemon;
use crate::error::OpError;
use berth_api::Installed;

#[cfg(feature = "registry")]
use berth_registry::{package::PackageArtifact, RegistrySource};

#[cfg(feature = "registry")]
impl Daemon {
    /// `berthctl install docker://…`; with `follow`, the container follows the tag
    /// afterwards (docs/fleet-updates.md).
    pub fn install_from(
        &self,
        reference: &str,
        force: bool,
        follow: bool,
    ) -> Result<Installed, OpError> {
        let (r, source) = self.registry_source(reference, true)?;
        let follow = match (follow, &r.digest) {
            (false, _) => None,
            (true, Some(_)) => {
                return Err(OpError::BadRequest(format!(
                    "{reference}: a digest never changes: follow a tag (docker://HOST/REPO:TAG)"
                )))
            }
            (true, None) => Some(followed(&r)),
        };
        let artifact = PackageArtifact::locate(&source).map_err(registry_failure(reference))?;
        // An install that follows the tag is its first check: the watcher's waits
        // until it is done (it would report on a follow half recorded), and comes
        // an interval after it.
        let held = follow
            .as_ref()
            .and(artifact.annotations.as_ref())
            .and_then(|a| a.get(berth_registry::package::ID))
            .cloned();
        if let Some(id) = &held {
            self.updates
                .schedule
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .hold(id);
        }
        let result = self.install_artifact(source, &artifact, force, follow.clone(), reference);
        let done = match result {
            Ok(done) => done,
            Err(e) => {
                self.release_check(held.as_deref());
                return Err(e);
            }
        };
        if let Some(follow) = follow {
            // What a check would find now: this package, from this manifest.
            self.update_follow(&done.id, |s| {
                s.for_tag(&follow);
                s.seen = Some(artifact.manifest_digest.to_string());
                s.taken = Some(crate::updates::file::Taken {
                    digest: artifact.layer.digest().to_string(),
                    version: done.version.clone(),
                });
                s.result = Some(format!("installed {} by hand", done.version));
            });
        }
        self.release_check(held.as_deref());
        Ok(done)
    }

    /// The watcher may check `id` again, an interval (and a jitter) from now.
    fn release_check(&self, id: Option<&str>) {
        let Some(id) = id else { return };
        let settings = self.config().updates.clone();
        let after = std::time::Duration::from_secs(settings.interval.into())
            + crate::updates::schedule::jitter(settings.jitter);
        self.updates
            .schedule
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .done(id, std::time::Instant::now(), after);
    }

    /// The source `reference` (`docker://…`) names, once its registry is allowed;
    /// its requests retried (429, 5xx, dropped connections) when `retry` (an
    /// update check does not: its schedule backs off instead).
    pub(crate) fn registry_source(
        &self,
        reference: &str,
        retry: bool,
    ) -> Result<(berth_image::RegistryRef, RegistrySource), OpError> {
        let name = reference.strip_prefix("docker://").ok_or_else(|| {
            OpError::BadRequest(format!(
                "{reference:?}: write docker://HOST/REPO:TAG or docker://HOST/REPO@sha256:…"
            ))
        })?;
        let r = berth_image::RegistryRef::parse(name)
            .map_err(|why| OpError::BadRequest(format!("{reference}: {why}")))?;
        let allow = &self.config().registry.allow;
        if !berth_registry::client::host_allowed(allow, &r.registry) {
            return Err(OpError::Forbidden(format!(
                "{reference}: registry {} is not in registry.allow ({})",
                r.registry,
                allow.join(", ")
            )));
        }
        let mut options = self.registry_options(&r.registry);
        if !retry {
            options.retries = 0;
        }
        let source = RegistrySource::new(r.clone(), &options);
        Ok((r, source))
    }

    /// Installs the package `artifact` (found through `source`): its signature from
    /// the referrers when the device trusts keys, its one blob streamed into the
    /// install.
    pub(crate) fn install_artifact(
        &self,
        source: RegistrySource,
        artifact: &PackageArtifact,
        force: bool,
        follow: Option<String>,
        reference: &str,
    ) -> Result<Installed, OpError> {
        let failed = registry_failure(reference);
        let trusting = !self.trusted_keys.is_empty();
        // An upgrade takes the package's parts when the registry has them: the
        // head, and only the layers (or bundle files) the device lacks.
        let upgrade = self.is_upgrade(artifact);
        let referrers = if trusting || upgrade {
            berth_registry::referrers::list(&source, &artifact.manifest_digest).map_err(&failed)?
        } else {
            Vec::new()
        };
        let parts = upgrade
            .then(|| berth_registry::parts::find(&source, &referrers))
            .flatten();
        let signatures = if trusting {
            artifact.signatures_in(&source, referrers)
        } else {
            Vec::new()
        };
        if let Some(parts) = parts {
            // The parts come from where the head does, within the same deadline.
            let fetch = RegistryFetch {
                registry: source.reference().clone(),
                options: source.client().options().clone(),
                reference: reference.to_string(),
                parts,
            };
            let body = source.into_blob(&fetch.parts.head).map_err(&failed)?;
            return self.install_fetching(body, force, signatures, follow, Some(Box::new(fetch)));
        }
        let body = source.into_blob(&artifact.layer).map_err(&failed)?;
        self.install_signed(body, force, signatures, follow)
    }

    /// Whether `artifact` is a package of which another version is installed.
    fn is_upgrade(&self, artifact: &PackageArtifact) -> bool {
        use berth_registry::package::{ID, VERSION};
        let a = artifact.annotations.clone().unwrap_or_default();
        let (Some(id), Some(version)) = (a.get(ID), a.get(VERSION)) else {
            return false;
        };
        self.home.containers().is_ok_and(|c| {
            c.containers
                .iter()
                .any(|e| &e.id == id && &e.version != version)
        })
    }

    /// The registry client's options for `registry` from berthd's config.
    pub(crate) fn registry_options(&self, registry: &str) -> berth_registry::Options {
        let settings = &self.config().registry;
        let creds = settings
            .credentials
            .get(registry)
            .and_then(|c| c.parse().ok())
            .or_else(|| {
                let file = settings.auth_file.as_ref()?;
                berth_registry::creds::lookup(registry, std::slice::from_ref(file))
            });
        berth_registry::Options {
            creds,
            tls_verify: settings.tls_verify,
            creds_hint: "set registry.credentials or registry.auth_file in berthd's configuration",
            stall_timeout: std::time::Duration::from_secs(settings.stall_timeout.into()),
            deadline: Some(
                std::time::Instant::now()
                    + std::time::Duration::from_secs(settings.deadline.into()),
            ),
            allowed_hosts: settings.allow.clone(),
            ..Default::default()
        }
    }
}

/// The parts an install fetches from the registry, one blob each.
#[cfg(feature = "registry")]
struct RegistryFetch {
    registry: berth_image::RegistryRef,
    options: berth_registry::Options,
    parts: berth_registry::parts::Parts,
    reference: String,
}

#[cfg(feature = "registry")]
impl crate::ops::install::Fetch for RegistryFetch {
    fn open(&self, digest: &str, size: u64) -> std::io::Result<Box<dyn std::io::Read>> {
        use berth_package::delta::Unavailable;
        let missing = || {
            std::io::Error::other(Unavailable(format!(
                "{}: the package's parts list no {digest}",
                self.reference
            )))
        };
        let layer = self
            .parts
            .layers
            .iter()
            .find(|l| l.digest().to_string() == digest && l.size() == size)
            .ok_or_else(missing)?;
        // A source of its own per layer: the layer streams (it can be larger than
        // the device's memory), and its reader owns its source.
        RegistrySource::new(self.registry.clone(), &self.options)
            .into_blob(layer)
            .map(|r| {
                Box::new(RegistryStream {
                    inner: r,
                    reference: self.reference.clone(),
                }) as Box<dyn std::io::Read>
            })
            .map_err(|e| {
                std::io::Error::other(Unavailable(format!(
                    "{}: {}",
                    self.reference,
                    crate::error::error_chain(&e)
                )))
            })
    }
}

/// A layer's stream from the registry, whose failures (a dropped connection) are
/// the registry's, not the package's: the install may be tried again.
#[cfg(feature = "registry")]
struct RegistryStream<R> {
    inner: R,
    reference: String,
}

#[cfg(feature = "registry")]
impl<R: std::io::Read> std::io::Read for RegistryStream<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        self.inner.read(buf).map_err(|e| {
            std::io::Error::other(berth_package::delta::Unavailable(format!(
                "{}: {e}",
                self.reference
            )))
        })
    }
}

/// What the registry got wrong is about the package; what failed around it
/// (network, HTTP status, credentials) is the registry's.
#[cfg(feature = "registry")]
pub(crate) fn registry_failure(
    reference: &str,
) -> impl Fn(berth_image::ImageError) -> OpError + '_ {
    use berth_image::ImageError;
    move |e: ImageError| match e {
        ImageError::Remote(e) => OpError::Registry(format!("{reference}: {e}")),
        e => OpError::Package(format!("{reference}: {}", crate::error::error_chain(&e))),
    }
}

/// The tag `r` names, as containers.conf's `follow` records it.
#[cfg(feature = "registry")]
pub(crate) fn followed(r: &berth_image::RegistryRef) -> String {
    r.docker_tag(r.tag.as_deref().unwrap_or("latest"))
}

#[cfg(not(feature = "registry"))]
impl Daemon {
    pub fn install_from(
        &self,
        reference: &str,
        _force: bool,
        _follow: bool,
    ) -> Result<Installed, OpError> {
        Err(OpError::NotBuilt(format!(
            "{reference}: this berthd was built without the registry feature; install the package from a file"
        )))
    }
}
