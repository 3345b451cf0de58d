//! The runtime a package is made for.

use std::fmt;

/// The runtime a package is made for (the manifest's `runtime`), which also names
/// its payload kind. Not to be confused with berth-runtime's `Runtime` trait, the
/// driver of one container engine.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum RuntimeKind {
    /// Digi's word for any OCI-type image: run by podman, or by Docker Engine where
    /// berthd's config says so.
    Podman,
    /// berth's extension: an image run by Docker Engine.
    Docker,
    Lxc,
    /// berth's extension: a plain OCI runtime bundle run by runc (or crun).
    Runc,
}

impl RuntimeKind {
    pub fn as_str(self) -> &'static str {
        match self {
            RuntimeKind::Podman => "podman",
            RuntimeKind::Docker => "docker",
            RuntimeKind::Lxc => "lxc",
            RuntimeKind::Runc => "runc",
        }
    }

    /// Every runtime, in the order messages list them.
    pub const ALL: [RuntimeKind; 4] = [
        RuntimeKind::Podman,
        RuntimeKind::Docker,
        RuntimeKind::Lxc,
        RuntimeKind::Runc,
    ];

    /// Whether the payload is an image archive (`payload/image.tar`) run with
    /// `create_args`; otherwise it is a bundle `.tar.gz` that is its own config.
    pub fn runs_an_image(self) -> bool {
        matches!(self, RuntimeKind::Podman | RuntimeKind::Docker)
    }

    /// The `artifact_type` the writer records for this runtime.
    pub fn artifact_type(self) -> &'static str {
        match self {
            RuntimeKind::Podman => "podman-image-tar",
            RuntimeKind::Docker => "docker-image-tar",
            RuntimeKind::Lxc => "lxc-bundle",
            RuntimeKind::Runc => "oci-bundle",
        }
    }
}

impl std::str::FromStr for RuntimeKind {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        RuntimeKind::ALL
            .into_iter()
            .find(|k| k.as_str() == s)
            .ok_or_else(|| format!("{s:?} is not a runtime berth knows ({})", known_runtimes()))
    }
}

/// "podman, docker, lxc, runc"
pub fn known_runtimes() -> String {
    RuntimeKind::ALL.map(RuntimeKind::as_str).join(", ")
}

impl fmt::Display for RuntimeKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}
