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
impl Daemon {
    pub fn install_from(&self, reference: &str, force: bool) -> Result<Installed, OpError> {
        use berth_image::{ImageError, RegistryRef};
        use berth_registry::package::PackageArtifact;
        use berth_registry::RegistrySource;

        let name = reference.strip_prefix("docker://").ok_or_else(|| {
            OpError::BadRequest(format!(
                "{reference:?}: write docker://HOST/REPO:TAG or docker://HOST/REPO@sha256:…"
            ))
        })?;
        let r = RegistryRef::parse(name)
            .map_err(|why| OpError::BadRequest(format!("{reference}: {why}")))?;
        let allow = &self.config().registry.allow;
        if !berth_registry::client::host_allowed(allow, &r.registry) {
            return Err(OpError::Forbidden(format!(
                "{reference}: registry {} is not in registry.allow ({})",
                r.registry,
                allow.join(", ")
            )));
        }
        let source = RegistrySource::new(r.clone(), &self.registry_options(&r.registry));
        // What the registry got wrong is about the package; what failed around it
        // (network, HTTP status, credentials) is the registry's.
        let failed = |e: ImageError| match e {
            ImageError::Remote(e) => OpError::Registry(format!("{reference}: {e}")),
            e => OpError::Package(format!("{reference}: {}", crate::error::error_chain(&e))),
        };
        let artifact = PackageArtifact::locate(&source).map_err(failed)?;
        let signatures = if self.trusted_keys.is_empty() {
            Vec::new()
        } else {
            artifact.signatures(&source).map_err(failed)?
        };
        let body = source.into_blob(&artifact.layer).map_err(failed)?;
        self.install_signed(body, force, signatures)
    }

    /// The registry client's options for `registry` from berthd's config.
    fn registry_options(&self, registry: &str) -> berth_registry::Options {
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

#[cfg(not(feature = "registry"))]
impl Daemon {
    pub fn install_from(&self, reference: &str, _force: bool) -> Result<Installed, OpError> {
        Err(OpError::NotBuilt(format!(
            "{reference}: this berthd was built without the registry feature; install the package from a file"
        )))
    }
}
