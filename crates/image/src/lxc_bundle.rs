//! An image as an LXC bundle (`config` + `rootfs/`, gzip tarball), the payload of a
//! `runtime: lxc` package, as Digi's `dey-image-dcp` makes one from the same image
//! that goes into the podman package. The rootfs is the image's layers applied
//! (`unpack`), the config is made from the image config: the init command from
//! entrypoint + cmd, environment, working directory, user, architecture, stop signal,
//! and a network that is `empty` unless asked otherwise. The tarball is reproducible
//! (sorted entries, numeric owners, clamped mtimes, berth-compress).

use crate::build::{layer_tar, select};
use crate::copy::Progress;
use crate::copy::Source;
use crate::error::ImageError;
use crate::platform::Platform;
use crate::unpack::{unpack, UnpackOptions};
use std::fmt::Write as _;
use std::fs;
use std::io::Write;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

/// The container's network, as the config's `lxc.net.0`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LxcNetwork {
    /// A loopback interface only (`lxc.net.0.type = empty`): the default.
    Empty,
    /// The host's network (`none`).
    Host,
    /// A veth pair whose host end joins `bridge`.
    Veth { bridge: String },
}

impl std::str::FromStr for LxcNetwork {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "empty" => Ok(LxcNetwork::Empty),
            "none" | "host" => Ok(LxcNetwork::Host),
            _ => match s.strip_prefix("veth:") {
                Some(b)
                    if !b.is_empty()
                        && b.len() <= 15
                        && b.bytes()
                            .all(|c| c.is_ascii_alphanumeric() || b"-_.".contains(&c)) =>
                {
                    Ok(LxcNetwork::Veth { bridge: b.into() })
                }
                _ => Err(format!(
                    "{s:?}: expected empty, none (the host's network) or veth:BRIDGE"
                )),
            },
        }
    }
}

#[derive(Debug, Clone)]
pub struct LxcOptions {
    pub platform: Option<Platform>,
    pub network: LxcNetwork,
    /// `lxc.uts.name`: the container's host name.
    pub name: String,
    /// Every mtime is clamped to it (SOURCE_DATE_EPOCH).
    pub epoch: i64,
    pub level: u32,
    pub threads: usize,
}

#[derive(Debug, Clone, serde::Serialize)]
pub struct LxcReport {
    /// The image manifest's digest.
    pub digest: String,
    pub platform: Option<String>,
    /// The `config` written.
    pub config: String,
    /// Whether the init command needed the generated `/.berth-init` script.
    pub init_script: bool,
}

/// Where the generated init script goes, for commands LXC cannot take as they are.
pub const INIT_SCRIPT: &str = ".berth-init";

/// Writes the bundle of `source`'s image to `out` (a `.tar.gz`, replaced whole).
pub fn lxc_bundle(
    source: &dyn Source,
    out: &Path,
    options: &LxcOptions,
    progress: &dyn Progress,
) -> Result<LxcReport, ImageError> {
    if !rustix::process::geteuid().is_root() {
        return Err(ImageError::Unsupported {
            what: out.display().to_string(),
            why: "an LXC bundle keeps the image's file owners: run as root".into(),
        });
    }
    let parent = match out.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    let work = tempfile::Builder::new()
        .prefix(".berth-lxc-")
        .tempdir_in(parent)
        .map_err(ImageError::io(parent))?;
    let bundle = work.path().join("bundle");
    let unpack_options = UnpackOptions {
        platform: options.platform.clone(),
        rootless: false,
        ..UnpackOptions::default()
    };
    let report = unpack(source, &bundle, &unpack_options, progress)?;
    let rootfs = bundle.join("rootfs");
    let spec_path = bundle.join("config.json");
    let spec: serde_json::Value =
        serde_json::from_slice(&fs::read(&spec_path).map_err(ImageError::io(&spec_path))?)
            .map_err(|e| ImageError::format(spec_path.display().to_string(), e.to_string()))?;
    let what = format!("{} ({})", source.name(), report.digest);
    let arch = lxc_arch(
        report.architecture.as_deref().unwrap_or(""),
        report.variant.as_deref(),
    )
    .ok_or_else(|| {
        ImageError::format(
            &what,
            format!(
                "architecture {:?} has no LXC name",
                report.architecture.as_deref().unwrap_or("")
            ),
        )
    })?;
    let process = &spec["process"];
    let args = strings(&process["args"]);
    if args.is_empty() {
        return Err(ImageError::format(
            &what,
            "the image has neither Entrypoint nor Cmd: LXC needs an init command",
        ));
    }
    let (init_cmd, init_script) = init_command(&args);
    if let Some(script) = &init_script {
        if fs::symlink_metadata(rootfs.join("bin/sh")).is_err() {
            return Err(ImageError::format(
                &what,
                format!("an argument of {args:?} has a space or quote, which lxc.init.cmd cannot hold, and the image has no /bin/sh to run the init script that would"),
            ));
        }
        let path = rootfs.join(INIT_SCRIPT);
        fs::write(&path, script).map_err(ImageError::io(&path))?;
        fs::set_permissions(&path, fs::Permissions::from_mode(0o755))
            .map_err(ImageError::io(&path))?;
    }
    let env = strings(&process["env"]);
    let config = lxc_config(&LxcConfig {
        image: &format!("image {}", report.digest),
        name: &options.name,
        arch,
        init_cmd: &init_cmd,
        cwd: process["cwd"].as_str().unwrap_or("/"),
        uid: process["user"]["uid"].as_u64().unwrap_or(0),
        gid: process["user"]["gid"].as_u64().unwrap_or(0),
        env: &env,
        stop_signal: spec["annotations"]["org.opencontainers.image.stopSignal"]
            .as_str()
            .filter(|s| !s.is_empty())
            .map(String::from),
        network: &options.network,
    })
    .map_err(|why| ImageError::format(&what, why))?;
    let config_path = bundle.join("config");
    fs::write(&config_path, &config).map_err(ImageError::io(&config_path))?;
    fs::set_permissions(&config_path, fs::Permissions::from_mode(0o644))
        .map_err(ImageError::io(&config_path))?;

    let mut items = vec![
        layer_tar::Item {
            source: config_path,
            name: "config".into(),
        },
        layer_tar::Item {
            source: rootfs.clone(),
            name: "rootfs".into(),
        },
    ];
    for rel in select::walk(&rootfs).map_err(ImageError::io(&rootfs))? {
        items.push(layer_tar::Item {
            source: rootfs.join(&rel),
            name: PathBuf::from("rootfs").join(rel),
        });
    }
    let mut temp = berth_fs::AtomicFile::create(out)?;
    {
        let file = std::io::BufWriter::with_capacity(1 << 20, temp.file());
        let gz = berth_compress::ParallelGzipWriter::new(file, options.level, options.threads)
            .map_err(ImageError::io(out))?;
        let gz = layer_tar::write(&items, options.epoch, gz).map_err(ImageError::io(out))?;
        let mut file = gz.finish().map_err(ImageError::io(out))?;
        file.flush().map_err(ImageError::io(out))?;
    }
    temp.commit(0o644)?;
    Ok(LxcReport {
        digest: report.digest,
        platform: report.platform,
        config,
        init_script: init_script.is_some(),
    })
}

/// The strings of a JSON array (none for anything else).
fn strings(v: &serde_json::Value) -> Vec<String> {
    v.as_array()
        .map(|a| {
            a.iter()
                .filter_map(|v| v.as_str().map(String::from))
                .collect()
        })
        .unwrap_or_default()
}

/// LXC's name (`lxc.arch`) of an OCI architecture and variant.
pub fn lxc_arch(arch: &str, variant: Option<&str>) -> Option<&'static str> {
    Some(match arch {
        "amd64" => "x86_64",
        "386" => "i686",
        "arm64" => "aarch64",
        "arm" => match variant {
            Some("v5" | "v6") => "armel",
            _ => "armhf",
        },
        "ppc64le" => "ppc64le",
        "s390x" => "s390x",
        "riscv64" => "riscv64",
        "mips64le" => "mips64el",
        _ => return None,
    })
}

/// `lxc.init.cmd` for `args`, and the init script it runs when LXC could not take the
/// arguments as they are: LXC splits the value on spaces and tabs with no quoting, so
/// an argument that is empty or holds whitespace or a quote goes through
/// `/.berth-init`, which `exec`s the command with every argument quoted for sh.
pub fn init_command(args: &[String]) -> (String, Option<String>) {
    let plain = |a: &String| {
        !a.is_empty()
            && !a
                .chars()
                .any(|c| c.is_whitespace() || c == '"' || c == '\'' || c == '\\' || c.is_control())
    };
    if args.iter().all(plain) {
        return (args.join(" "), None);
    }
    let quoted: Vec<String> = args
        .iter()
        .map(|a| format!("'{}'", a.replace('\'', r"'\''")))
        .collect();
    let script = format!(
        "#!/bin/sh\n# made by berth: LXC cannot pass these arguments as they are\nexec {}\n",
        quoted.join(" ")
    );
    (format!("/{INIT_SCRIPT}"), Some(script))
}

pub struct LxcConfig<'a> {
    pub image: &'a str,
    pub name: &'a str,
    pub arch: &'a str,
    pub init_cmd: &'a str,
    pub cwd: &'a str,
    pub uid: u64,
    pub gid: u64,
    pub env: &'a [String],
    pub stop_signal: Option<String>,
    pub network: &'a LxcNetwork,
}

/// The bundle's `config`. Values are single lines: a newline in any would start a
/// key of its own, so it is refused.
pub fn lxc_config(c: &LxcConfig) -> Result<String, String> {
    let line = |key: &str, value: &str| -> Result<String, String> {
        if value.contains(['\n', '\r']) {
            return Err(format!("{key}: a value with a line break: {value:?}"));
        }
        Ok(format!("{key} = {value}\n"))
    };
    let mut out = String::new();
    let _ = writeln!(
        out,
        "# LXC bundle made by berth from {}",
        c.image.replace('\n', " ")
    );
    out += &line("lxc.uts.name", c.name)?;
    out += &line("lxc.arch", c.arch)?;
    out += "lxc.rootfs.path = dir:rootfs\n";
    out += &line("lxc.init.cmd", c.init_cmd)?;
    out += &line("lxc.init.cwd", c.cwd)?;
    if c.uid != 0 || c.gid != 0 {
        out += &line("lxc.init.uid", &c.uid.to_string())?;
        out += &line("lxc.init.gid", &c.gid.to_string())?;
    }
    for e in c.env {
        out += &line("lxc.environment", e)?;
    }
    if let Some(signal) = &c.stop_signal {
        out += &line("lxc.signal.stop", signal)?;
    }
    out += "lxc.mount.auto = proc:mixed sys:ro\n";
    out += "lxc.autodev = 1\n";
    match c.network {
        LxcNetwork::Empty => out += "lxc.net.0.type = empty\n",
        LxcNetwork::Host => out += "lxc.net.0.type = none\n",
        LxcNetwork::Veth { bridge } => {
            out += "lxc.net.0.type = veth\n";
            out += &line("lxc.net.0.link", bridge)?;
            out += "lxc.net.0.flags = up\n";
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn strings(v: &[&str]) -> Vec<String> {
        v.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn plain_arguments_go_on_the_init_line_and_others_through_a_script() {
        let (cmd, script) = init_command(&strings(&["/bin/httpd", "-f", "-p", "80"]));
        assert_eq!((cmd.as_str(), script), ("/bin/httpd -f -p 80", None));
        let (cmd, script) = init_command(&strings(&["/bin/sh", "-c", "echo 'hi there'"]));
        assert_eq!(cmd, "/.berth-init");
        assert!(script
            .unwrap()
            .ends_with("exec '/bin/sh' '-c' 'echo '\\''hi there'\\'''\n"));
        assert!(init_command(&strings(&["/app", ""])).1.is_some());
    }

    #[test]
    fn networks_parse_and_bad_bridges_are_refused() {
        assert_eq!("empty".parse(), Ok(LxcNetwork::Empty));
        assert_eq!("none".parse(), Ok(LxcNetwork::Host));
        assert_eq!(
            "veth:lxcbr0".parse(),
            Ok(LxcNetwork::Veth {
                bridge: "lxcbr0".into()
            })
        );
        for bad in [
            "veth:",
            "veth:a b",
            "veth:x\nlxc.hook.pre-start=/bin/sh",
            "bridge",
        ] {
            assert!(bad.parse::<LxcNetwork>().is_err(), "{bad:?}");
        }
    }

    #[test]
    fn a_line_break_in_a_value_is_refused() {
        let net = LxcNetwork::Empty;
        let env = strings(&["A=1\nlxc.hook.start = /evil"]);
        let c = LxcConfig {
            image: "img",
            name: "app",
            arch: "x86_64",
            init_cmd: "/app",
            cwd: "/",
            uid: 0,
            gid: 0,
            env: &env,
            stop_signal: None,
            network: &net,
        };
        let e = lxc_config(&c).unwrap_err();
        assert!(
            e.starts_with("lxc.environment: a value with a line break"),
            "{e}"
        );
    }

    #[test]
    fn architectures_map_to_lxc_names() {
        assert_eq!(lxc_arch("amd64", None), Some("x86_64"));
        assert_eq!(lxc_arch("arm64", Some("v8")), Some("aarch64"));
        assert_eq!(lxc_arch("arm", Some("v7")), Some("armhf"));
        assert_eq!(lxc_arch("arm", Some("v6")), Some("armel"));
        assert_eq!(lxc_arch("wasm", None), None);
    }
}
