//! BundleGen's processing of the runtime spec `umoci unpack --rootless` wrote, stage
//! by stage in BundleGen's order (`bundle_processor.py`), each with the same effect
//! on config.json — except where BundleGen's behaviour is a bug (docs/bundle.md lists
//! each difference). The spec is kept as a JSON value with its key order, so keys
//! BundleGen adds come last, as Python's dicts put them.

mod capabilities;
mod compat;
mod gpu;
mod logging;
mod mounts;
mod plugins;
mod resources;
mod sections;
mod storage;
mod users;

pub use capabilities::{known_capability, DEFAULT_CAPABILITIES};

use crate::error::BundleError;
use crate::libs::LibMatcher;
use berth_fs::Root;
use serde_json::{json, Map, Value};

/// How a library that both the host and the image have is chosen (`-m`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LibMode {
    /// The one with more API versions (BundleGen's default).
    Normal,
    /// The image's, when it has one.
    Image,
    /// Always the host's.
    Host,
}

#[derive(Debug, Clone)]
pub struct Options {
    /// `-u/--crun`: a plain OCI bundle, no Dobby.
    pub crun: bool,
    /// `-r`: create mount points in the rootfs (read-only root filesystems).
    pub create_mount_points: bool,
    /// Not `-n`: libraries' dependencies are walked.
    pub dep_walking: bool,
    pub lib_mode: LibMode,
}

pub struct Processor<'a> {
    pub platform: &'a Map<String, Value>,
    pub platform_name: String,
    pub app: Value,
    pub config: Value,
    pub rootfs: Root,
    pub options: Options,
    pub libs: LibMatcher,
    /// What BundleGen logs as warnings, in order.
    pub warnings: Vec<String>,
}

/// Where a value came from, for errors: the platform template or the app metadata.
pub const PLATFORM: &str = "platform template";
pub const APP: &str = "app metadata";

impl Processor<'_> {
    /// The app's id (validated: Dobby's container id rules).
    pub fn id(&self) -> &str {
        self.app["id"].as_str().unwrap_or_default()
    }

    /// A platform key, null when absent (so it indexes like any JSON value).
    pub fn pf(&self, key: &str) -> &Value {
        self.platform.get(key).unwrap_or(&Value::Null)
    }

    /// `text` with `{id}` replaced by the app id, as Python's `str.format(id=…)`:
    /// `{{` and `}}` are literal braces, and any other field is an error.
    pub fn format_id(&self, text: &str, field: &str) -> Result<String, BundleError> {
        format_id(text, self.id())
            .map_err(|why| BundleError::invalid(PLATFORM, format!("{field}: {why}")))
    }

    /// Python's truthiness of `platform[k1][k2]…`.
    pub fn platform_flag(&self, path: &[&str]) -> bool {
        let mut v = self.pf(path[0]);
        for k in &path[1..] {
            v = &v[*k];
        }
        truthy(v)
    }

    /// Whether Dobby's compliant config (hooks, ociVersion 1.0.2) is wanted.
    pub fn compliant(&self) -> bool {
        self.platform_flag(&["dobby", "generateCompliantConfig"])
    }

    /// `config[k1][k2]…`, made an object where missing.
    pub fn config_object(&mut self, path: &[&str]) -> &mut Map<String, Value> {
        let mut v = &mut self.config;
        for k in path {
            let object = v.as_object_mut().expect("config sections are objects");
            v = object.entry(*k).or_insert_with(|| json!({}));
            if !v.is_object() {
                *v = json!({});
            }
        }
        v.as_object_mut().expect("made an object above")
    }

    /// `config[k1][k2]…` (an array), made one where missing.
    pub fn config_array(&mut self, path: &[&str]) -> &mut Vec<Value> {
        let (last, parents) = path.split_last().expect("a path");
        let object = self.config_object(parents);
        let v = object.entry(*last).or_insert_with(|| json!([]));
        if !v.is_array() {
            *v = json!([]);
        }
        v.as_array_mut().expect("made an array above")
    }

    /// A bind mount of host `src` at `dst` (rbind,nosuid,nodev,ro unless `options`),
    /// added once; with `create`, an empty file at `dst` in the rootfs.
    pub fn add_bind_mount(
        &mut self,
        src: &str,
        dst: &str,
        create: bool,
        options: Option<Vec<&str>>,
    ) -> Result<(), BundleError> {
        let options = options.unwrap_or_else(|| vec!["rbind", "nosuid", "nodev", "ro"]);
        let mount = json!({"source": src, "destination": dst, "type": "bind", "options": options});
        if create {
            self.rootfs.write(dst, b"", 0o644)?;
        }
        let mounts = self.config_array(&["mounts"]);
        if !mounts.contains(&mount) {
            mounts.push(mount);
        }
        Ok(())
    }

    /// Every stage, in BundleGen's order.
    pub fn run(&mut self) -> Result<(), BundleError> {
        if self.options.create_mount_points {
            mounts::create_umoci_mount_points(self)?;
        }
        sections::oci_version(self);
        sections::process(self)?;
        sections::root(self)?;
        mounts::mounts(self)?;
        resources::resources(self)?;
        gpu::gpu(self)?;
        if !self.options.crun {
            gpu::plugin_dependencies(self)?;
        }
        users::users_and_groups(self)?;
        capabilities::capabilities(self)?;
        sections::hostname(self)?;
        sections::apparmor_and_seccomp(self);
        if !self.options.crun {
            plugins::add_rdk_plugins(self)?;
        }
        plugins::network(self)?;
        storage::storage(self)?;
        logging::logging(self)?;
        plugins::dynamic_devices(self);
        plugins::simple_plugins(self)?;
        plugins::hooks(self)?;
        Ok(())
    }
}

pub use compat::check_compatibility;
pub use users::real_uid_gid;

/// Python's truthiness of a JSON value.
pub fn truthy(v: &Value) -> bool {
    match v {
        Value::Null => false,
        Value::Bool(b) => *b,
        Value::Number(n) => n.as_f64() != Some(0.0),
        Value::String(s) => !s.is_empty(),
        Value::Array(a) => !a.is_empty(),
        Value::Object(o) => !o.is_empty(),
    }
}

/// The strings of a JSON array (an absent or null one is empty).
pub fn strings(v: &Value) -> Vec<String> {
    v.as_array()
        .map(|a| {
            a.iter()
                .filter_map(|s| s.as_str().map(String::from))
                .collect()
        })
        .unwrap_or_default()
}

/// `str.format(id=…)` for templates that may name `{id}` only.
pub fn format_id(text: &str, id: &str) -> Result<String, String> {
    let mut out = String::with_capacity(text.len());
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '{' if chars.peek() == Some(&'{') => {
                chars.next();
                out.push('{');
            }
            '}' if chars.peek() == Some(&'}') => {
                chars.next();
                out.push('}');
            }
            '{' => {
                let mut field = String::new();
                let mut closed = false;
                for c in chars.by_ref() {
                    if c == '}' {
                        closed = true;
                        break;
                    }
                    field.push(c);
                }
                if !closed {
                    return Err(format!("{text:?} has a '{{' without its '}}'"));
                }
                if field != "id" {
                    return Err(format!("{text:?} names {{{field}}}; only {{id}} is known"));
                }
                out.push_str(id);
            }
            '}' => return Err(format!("{text:?} has a single '}}'")),
            c => out.push(c),
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests;
