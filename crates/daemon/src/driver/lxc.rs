//! LXC bundles (`config` + `rootfs/`): the config is rewritten for its place — the
//! root filesystem's path, the console log that berthd moves into the container's
//! log, no autostart of LXC's own — and its network links are checked against this
//! host's interfaces.

use super::bundle::BundleFormat;
use crate::error::{io, OpError};
use crate::home::Home;
use berth_package::RuntimeKind;
use berth_runtime::RuntimeError;
use std::io::Read;
use std::path::{Path, PathBuf};

pub struct LxcFormat;

/// berthd's lxcpath under its working path.
pub fn lxc_path(working_path: &Path) -> PathBuf {
    working_path.join(LxcFormat.dir_name())
}

impl BundleFormat for LxcFormat {
    fn kind(&self) -> RuntimeKind {
        RuntimeKind::Lxc
    }

    fn runtime_name(&self) -> &'static str {
        "LXC"
    }

    fn what(&self) -> &'static str {
        "LXC bundle"
    }

    fn dir_name(&self) -> &'static str {
        "lxc"
    }

    fn unpack(&self, input: &mut dyn Read, dest: &Path) -> Result<PathBuf, RuntimeError> {
        berth_runtime::lxc::unpack_bundle(input, dest)
    }

    fn configure(&self, bundle: &Path, place: &Path, home: &Home, id: &str) -> Result<(), OpError> {
        if !super::bundle::is_directory_inside(bundle, "rootfs") {
            return Err(OpError::Package(
                "payload: LXC bundle rootfs is not a directory inside the bundle".into(),
            ));
        }
        let config_path = bundle.join("config");
        let text = std::fs::read_to_string(&config_path).map_err(|_| {
            OpError::Package("payload: the LXC bundle's config is not readable text".into())
        })?;
        let config = berth_runtime::lxc::rewrite_config(
            &text,
            &place.join("rootfs"),
            &crate::container_log::console_path(home.working_path(), id),
            |name| Path::new("/sys/class/net").join(name).exists(),
        )
        .map_err(|e| OpError::Package(format!("payload: LXC bundle {e}")))?;
        crate::atomic::write_atomic(&config_path, config.as_bytes())
            .map_err(io(format!("writing {}", config_path.display())))
    }
}
