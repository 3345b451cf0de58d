//! BitBake and OpenEmbedded-Core from `../shared/peers` (real, not mocked) with
//! `contrib/meta-berth` and a test layer of recipes written by each test, in a build
//! directory of its own (BitBake runs one server per build directory, so tests that
//! each have one run side by side).
//!
//! What cannot run here is left out of the tasks, never faked: there is no target
//! toolchain (building one takes hours), so the test image recipes skip do_rootfs
//! (`[noexec]`) and read an IMAGE_ROOTFS the test prepared. Everything after it runs
//! as BitBake runs it, fakeroot tasks under pseudo (Debian's build of it stands in for
//! pseudo-native).

use crate::{berth_bin, require};
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

/// `../shared/peers` beside the repository.
pub fn peers() -> PathBuf {
    let p = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../shared/peers");
    assert!(
        p.join("bitbake/bin/bitbake").is_file() && p.join("openembedded-core/meta").is_dir(),
        "{} has no bitbake and openembedded-core: CI clones berth with ../shared beside it",
        p.display()
    );
    p.canonicalize().unwrap()
}

pub fn meta_berth() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../contrib/meta-berth")
        .canonicalize()
        .unwrap()
}

/// Where Debian's pseudo keeps libpseudo.so.
const PSEUDO_LIBDIR: &str = "/usr/lib/x86_64-linux-gnu/pseudo";

pub struct Bitbake {
    pub dir: tempfile::TempDir,
}

impl Bitbake {
    /// A build directory with oe-core's meta, meta-berth and an empty test layer;
    /// `local_conf` is added to its local.conf.
    pub fn new(local_conf: &str) -> Bitbake {
        require(&["pseudo", "chrpath", "cpio", "diffstat", "gawk"]);
        assert!(
            Path::new(PSEUDO_LIBDIR).join("libpseudo.so").is_file(),
            "Debian's pseudo is not installed: run `sudo scripts/setup.sh`"
        );
        let peers = peers();
        // Under /var/tmp: BitBake's paths must not be too long, and its tmp holds
        // sockets.
        let dir = tempfile::Builder::new()
            .prefix("berth-bb-")
            .tempdir_in("/var/tmp")
            .unwrap();
        let layer = dir.path().join("meta-test");
        std::fs::create_dir_all(layer.join("conf")).unwrap();
        std::fs::create_dir_all(layer.join("recipes-test/images")).unwrap();
        std::fs::write(
            layer.join("conf/layer.conf"),
            "BBPATH .= \":${LAYERDIR}\"\nBBFILES += \"${LAYERDIR}/recipes-*/*/*.bb\"\n\
             BBFILE_COLLECTIONS += \"berth-test\"\nBBFILE_PATTERN_berth-test = \"^${LAYERDIR}/\"\n\
             BBFILE_PRIORITY_berth-test = \"7\"\nLAYERDEPENDS_berth-test = \"core berth\"\n\
             LAYERSERIES_COMPAT_berth-test = \"wrynose blacksail\"\n",
        )
        .unwrap();
        let conf = dir.path().join("build/conf");
        std::fs::create_dir_all(&conf).unwrap();
        std::fs::write(
            conf.join("bblayers.conf"),
            format!(
                "LCONF_VERSION = \"7\"\nBBPATH = \"${{TOPDIR}}\"\nBBFILES ?= \"\"\n\
                 BBLAYERS = \"{} {} {}\"\n",
                peers.join("openembedded-core/meta").display(),
                meta_berth().display(),
                layer.display()
            ),
        )
        .unwrap();
        std::fs::write(
            conf.join("local.conf"),
            format!(
                "CONF_VERSION = \"2\"\nMACHINE = \"qemux86-64\"\n\
                 # oe-core's sanity class refuses root (CI runs as root); uninative and\n\
                 # SPDX need downloads and do_rootfs outputs this build does not make.\n\
                 INHERIT:remove = \"sanity uninative create-spdx\"\n\
                 BB_NUMBER_THREADS = \"2\"\n\
                 BERTH_PREBUILT = \"{berth}\"\n\
                 FAKEROOTCMD = \"/usr/bin/pseudo\"\n\
                 FAKEROOTENV = \"PSEUDO_PREFIX=/usr PSEUDO_LIBDIR={PSEUDO_LIBDIR} PSEUDO_LOCALSTATEDIR=${{PSEUDO_LOCALSTATEDIR}} PSEUDO_PASSWD=${{PSEUDO_PASSWD}} PSEUDO_NOSYMLINKEXP=1 PSEUDO_DISABLED=0\"\n\
                 FAKEROOTBASEENV = \"PSEUDO_BINDIR=/usr/bin PSEUDO_LIBDIR={PSEUDO_LIBDIR} PSEUDO_PREFIX=/usr PSEUDO_DISABLED=1 PYTHONDONTWRITEBYTECODE=1\"\n\
                 {local_conf}\n",
                berth = berth_bin().display()
            ),
        )
        .unwrap();
        Bitbake { dir }
    }

    pub fn build_dir(&self) -> PathBuf {
        self.dir.path().join("build")
    }

    /// Writes the test layer's recipe `name.bb`; returns its path.
    pub fn recipe(&self, name: &str, body: &str) -> PathBuf {
        let path = self.recipe_file(name);
        std::fs::write(&path, body).unwrap();
        path
    }

    /// `bitbake ARGS` in the build directory.
    pub fn run(&self, args: &[&str]) -> Output {
        let peers = peers();
        let path = format!(
            "{}:{}:{}",
            peers.join("bitbake/bin").display(),
            peers.join("openembedded-core/scripts").display(),
            std::env::var("PATH").unwrap_or_default()
        );
        Command::new(peers.join("bitbake/bin/bitbake"))
            .args(args)
            .current_dir(self.build_dir())
            .env("LANG", "en_US.UTF-8")
            .env("LC_ALL", "en_US.UTF-8")
            .env("PATH", path)
            .env("BBPATH", self.build_dir())
            .stdin(Stdio::null())
            .output()
            .expect("bitbake runs")
    }

    /// `bitbake ARGS`, which must succeed; returns what it printed.
    pub fn ok(&self, args: &[&str]) -> String {
        let out = self.run(args);
        let text = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(out.status.success(), "bitbake {args:?} failed:\n{text}");
        text
    }

    /// The test layer's recipe file of NAME.
    fn recipe_file(&self, name: &str) -> PathBuf {
        self.dir
            .path()
            .join(format!("meta-test/recipes-test/images/{name}.bb"))
    }

    /// Runs TASK of the test recipe NAME (`bitbake -b`: that recipe alone).
    pub fn task(&self, name: &str, task: &str) -> String {
        let recipe = self.recipe_file(name);
        self.ok(&["-b", recipe.to_str().unwrap(), "-c", task])
    }

    /// `bitbake -e -b RECIPE`: the environment of that recipe file alone. Not `bitbake
    /// -e PN`, which finds PN's recipe by parsing every recipe of every layer, and
    /// does it again rather than read the parse cache of a build directory's first
    /// parse (BitBake keys that cache on its code-parser cache, which the first
    /// parse fills): 50 s instead of 3.
    pub fn env_of(&self, recipe: &Path) -> String {
        self.ok(&["-e", "-b", recipe.to_str().unwrap()])
    }

    /// `bitbake -b` of TASK that must fail; returns what it printed.
    pub fn task_fails(&self, name: &str, task: &str) -> String {
        let recipe = self.recipe_file(name);
        let out = self.run(&["-b", recipe.to_str().unwrap(), "-c", task]);
        let text = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(
            !out.status.success(),
            "bitbake -c {task} of {name} succeeded:\n{text}"
        );
        text
    }

    /// A recipe's image output before it is deployed (IMGDEPLOYDIR).
    pub fn imgdeploy(&self, name: &str) -> PathBuf {
        self.work(name)
            .join(format!("deploy-{name}-image-complete"))
    }

    /// A recipe's WORKDIR (under its package architecture's directory: the
    /// machine's for images, the tune's for others).
    pub fn work(&self, name: &str) -> PathBuf {
        let work = self.build_dir().join("tmp/work");
        let arch = std::fs::read_dir(&work)
            .into_iter()
            .flatten()
            .map(|e| e.unwrap().path())
            .find(|arch| arch.join(name).is_dir())
            .unwrap_or_else(|| work.join("qemux86_64-oe-linux"));
        arch.join(name).join("1.0")
    }

    pub fn deploy(&self) -> PathBuf {
        self.build_dir().join("tmp/deploy/images/qemux86-64")
    }

    /// Records in the recipe's pseudo database, as do_rootfs under pseudo would, that
    /// `path` is owned by `owner` (UID:GID); the file on disk keeps its owner.
    pub fn pseudo_chown(&self, name: &str, owner: &str, path: &Path) {
        let state = self.work(name).join("pseudo");
        std::fs::create_dir_all(&state).unwrap();
        crate::ok(
            Command::new("/usr/bin/pseudo")
                .env("PSEUDO_PREFIX", "/usr")
                .env("PSEUDO_LIBDIR", PSEUDO_LIBDIR)
                .env("PSEUDO_LOCALSTATEDIR", &state)
                .arg("chown")
                .arg(owner)
                .arg(path),
        );
        // The pseudo server stays a moment after its last client: wait it out, so
        // BitBake's own pseudo finds the database free.
        crate::ok(
            Command::new("/usr/bin/pseudo")
                .env("PSEUDO_PREFIX", "/usr")
                .env("PSEUDO_LIBDIR", PSEUDO_LIBDIR)
                .env("PSEUDO_LOCALSTATEDIR", &state)
                .arg("-S"),
        );
    }
}

/// What a Yocto image recipe of the test layer starts with: an image whose rootfs is
/// the prepared directory `rootfs` (do_rootfs needs a target toolchain's packages).
pub fn image_recipe(rootfs: &Path, body: &str) -> String {
    format!(
        "SUMMARY = \"berth test image\"\nLICENSE = \"MIT\"\n\
         IMAGE_ROOTFS = \"{}\"\ndo_rootfs[noexec] = \"1\"\n{body}\n",
        rootfs.display()
    )
}
