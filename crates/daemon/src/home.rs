//! berthd's working path and the files it owns there: containers.conf (the
//! registrations, the source of truth) and state.json (berthd's record), each read,
//! changed and written atomically under a lock of its own. Drivers get this, not the
//! whole daemon: what they record goes through here.

use crate::config::Config;
use crate::error::OpError;
use crate::state::{ContainerRecord, StateFile};
use crate::store::{ContainerEntry, ContainersConf, StoreError};
use std::path::{Path, PathBuf};
use std::sync::Mutex;

/// Labels on every container berthd creates: which registered id and version it is.
pub const LABEL_ID: &str = "berth.id";
pub const LABEL_VERSION: &str = "berth.version";
/// Which berthd (by working path) created it: recovery touches only its own.
pub const LABEL_HOME: &str = "berth.home";

pub struct Home {
    pub config: Config,
    conf_lock: Mutex<()>,
    state_lock: Mutex<()>,
}

impl Home {
    pub fn new(config: Config) -> Self {
        Home {
            config,
            conf_lock: Mutex::new(()),
            state_lock: Mutex::new(()),
        }
    }

    pub fn working_path(&self) -> &Path {
        &self.config.service.working_path
    }

    /// A short tag of this daemon's working path, in the transient image names of
    /// its installs: another berthd on the same podman (tests, or two working
    /// paths) never takes them for its own.
    pub fn tag(&self) -> String {
        use sha2::Digest;
        let digest = sha2::Sha256::digest(self.working_path().as_os_str().as_encoded_bytes());
        hex::encode(&digest[..4])
    }

    /// Where installs keep their scratch files (emptied by recovery).
    pub fn staging_root(&self) -> PathBuf {
        self.working_path().join("staging")
    }

    pub fn containers_path(&self) -> PathBuf {
        crate::store::containers_path(self.working_path())
    }

    pub fn containers(&self) -> Result<ContainersConf, StoreError> {
        ContainersConf::load(&self.containers_path())
    }

    /// The registered container `id`.
    pub fn entry(&self, id: &str) -> Result<ContainerEntry, OpError> {
        self.containers()?
            .containers
            .into_iter()
            .find(|e| e.id == id)
            .ok_or_else(|| OpError::NoSuchContainer(id.into()))
    }

    /// Read-modify-write of containers.conf, atomically and one at a time.
    pub fn update_conf<T>(
        &self,
        change: impl FnOnce(&mut ContainersConf) -> Result<T, OpError>,
    ) -> Result<T, OpError> {
        let _conf = self.conf_lock.lock().unwrap_or_else(|p| p.into_inner());
        let path = self.containers_path();
        let mut conf = ContainersConf::load(&path)?;
        let out = change(&mut conf)?;
        conf.save(&path)?;
        Ok(out)
    }

    /// Registers `entry`, replacing any entry of its id: an install's commit.
    pub fn register(&self, entry: &ContainerEntry) -> Result<(), OpError> {
        self.update_conf(|conf| {
            conf.containers.retain(|e| e.id != entry.id);
            conf.containers.push(entry.clone());
            Ok(())
        })
    }

    pub fn state_path(&self) -> PathBuf {
        self.working_path().join("state.json")
    }

    pub fn state(&self) -> StateFile {
        StateFile::load(&self.state_path())
    }

    /// `id`'s record in state.json.
    pub fn record(&self, id: &str) -> Option<ContainerRecord> {
        self.state().containers.remove(id)
    }

    /// Read-modify-write of state.json. It is a record berthd can rebuild, so a
    /// failure to write it is reported, not fatal to the operation.
    pub fn update_state(&self, change: impl FnOnce(&mut StateFile)) {
        let _lock = self.state_lock.lock().unwrap_or_else(|p| p.into_inner());
        let path = self.state_path();
        let mut state = StateFile::load(&path);
        change(&mut state);
        if let Err(e) = state.save(&path) {
            crate::daemon_log::warn(format!("{}: cannot write: {e}", path.display()));
        }
    }

    /// Sets `id`'s record (an install's), returning the one it replaced.
    pub fn put_record(&self, id: &str, record: ContainerRecord) -> Option<ContainerRecord> {
        let mut previous = None;
        self.update_state(|s| previous = s.containers.insert(id.to_string(), record));
        previous
    }

    /// Puts back the record `put_record` replaced (an install undone).
    pub fn restore_record(&self, id: &str, previous: Option<ContainerRecord>) {
        self.update_state(|s| match previous {
            Some(r) => {
                s.containers.insert(id.to_string(), r);
            }
            None => {
                s.containers.remove(id);
            }
        });
    }
}

/// Now, as state.json writes times.
pub fn now_rfc3339() -> String {
    humantime::format_rfc3339_seconds(std::time::SystemTime::now()).to_string()
}
