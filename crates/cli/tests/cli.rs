//! The `berth` binary: exit codes, error lines, JSON output, reproducibility, and
//! the hostile corpus through inspect and verify (nothing written anywhere).

use berth_package::testkit::{docker_archive, hostile_corpus, source_manifest};
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

fn berth() -> Command {
    Command::new(env!("CARGO_BIN_EXE_berth"))
}

fn run(cmd: &mut Command) -> Output {
    cmd.stdin(Stdio::null()).output().expect("berth runs")
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// A scratch directory with a valid manifest and docker-archive payload.
struct Work {
    dir: tempfile::TempDir,
}

impl Work {
    fn new() -> Self {
        let w = Work {
            dir: tempfile::tempdir().unwrap(),
        };
        w.write(
            "manifest.json",
            &serde_json::to_vec_pretty(&source_manifest("podman")).unwrap(),
        );
        w.write(
            "image.tar",
            &docker_archive("localhost/demo:1", &[("bin/hello", b"hello")]),
        );
        w
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    fn write(&self, name: &str, bytes: &[u8]) -> PathBuf {
        let p = self.path(name);
        std::fs::write(&p, bytes).unwrap();
        p
    }

    fn pack(&self, extra: &[&str]) -> Output {
        run(berth()
            .args(["pack", "--manifest"])
            .arg(self.path("manifest.json"))
            .arg("--payload")
            .arg(self.path("image.tar"))
            .arg("--output-dir")
            .arg(self.path("out"))
            .args(extra)
            .env("SOURCE_DATE_EPOCH", "1700000000"))
    }
}

fn listing(dir: &Path) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    v.sort();
    v
}

#[test]
fn pack_prints_the_absolute_path_and_verify_accepts_it() {
    let w = Work::new();
    let o = w.pack(&[]);
    assert!(o.status.success(), "{}", stderr(&o));
    let path = String::from_utf8(o.stdout).unwrap().trim().to_string();
    assert_eq!(
        path,
        w.path("out")
            .canonicalize()
            .unwrap()
            .join("demo-podman-ccmp25-dvk.tar.gz")
            .to_str()
            .unwrap()
    );
    let v = run(berth().args(["verify", &path]));
    assert_eq!(v.status.code(), Some(0), "{}", stderr(&v));
    assert!(String::from_utf8_lossy(&v.stdout).contains("valid"));
}

#[test]
fn pack_json_and_inspect_json_describe_the_package() {
    let w = Work::new();
    let o = w.pack(&["--json"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let packed: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(packed["package_id"], "demo");
    assert_eq!(packed["payload"]["kind"], "docker-archive");
    let path = packed["path"].as_str().unwrap();
    let i = run(berth().args(["inspect", "--json", path]));
    assert!(i.status.success(), "{}", stderr(&i));
    let report: serde_json::Value = serde_json::from_slice(&i.stdout).unwrap();
    assert_eq!(report["payload"]["digest"], packed["digest"]);
    assert_eq!(report["payload"]["images"][0], "localhost/demo:1");
    assert_eq!(report["signature"]["status"], "unsigned");
    assert_eq!(report["manifest"]["created_at"], "2023-11-14T22:13:20.000Z");
}

#[test]
fn reproducible_with_source_date_epoch_and_free_of_host_details() {
    let w = Work::new();
    let first = {
        let o = w.pack(&[]);
        std::fs::read(String::from_utf8(o.stdout).unwrap().trim()).unwrap()
    };
    let second = {
        let o = w.pack(&["--threads", "1"]);
        std::fs::read(String::from_utf8(o.stdout).unwrap().trim()).unwrap()
    };
    assert!(first == second, "two packs of the same inputs differ");
    let mut tar = Vec::new();
    flate2::read::MultiGzDecoder::new(&first[..])
        .read_to_end(&mut tar)
        .unwrap();
    let mut archive = tar::Archive::new(&tar[..]);
    for entry in archive.entries().unwrap() {
        let entry = entry.unwrap();
        let h = entry.header();
        assert_eq!(h.uid().unwrap(), 0);
        assert_eq!(h.gid().unwrap(), 0);
        assert_eq!(h.username_bytes().unwrap_or_default(), b"");
        assert_eq!(h.groupname_bytes().unwrap_or_default(), b"");
        assert_eq!(h.mtime().unwrap(), 1_700_000_000);
    }
}

#[test]
fn invalid_manifest_gives_one_line_per_problem_and_exit_2() {
    let w = Work::new();
    let mut m = source_manifest("podman");
    m["registration_defaults"]["restart"]["window"] = 0.into();
    m["registration_defaults"]["monitor"] = "yes".into();
    w.write("manifest.json", &serde_json::to_vec(&m).unwrap());
    let o = w.pack(&[]);
    assert_eq!(o.status.code(), Some(2));
    let err = stderr(&o);
    let lines: Vec<&str> = err.lines().collect();
    assert_eq!(
        lines,
        [
            "berth: error: manifest: registration_defaults.monitor must be a boolean, got string \"yes\"",
            "berth: error: manifest: registration_defaults.restart.window must be an integer >= 1, got 0",
        ]
    );
    assert!(!w.path("out").exists() || listing(&w.path("out")).is_empty());
}

#[test]
fn bad_arguments_exit_2_with_a_clear_line() {
    let w = Work::new();
    let o = w.pack(&["--level", "0"]);
    assert_eq!(o.status.code(), Some(2));
    assert_eq!(
        stderr(&o).trim(),
        "berth: error: --level must be 1-12 for gzip, got 0"
    );
}

/// A missing input file is exit 1 ("a file could not be read", docs/cli.md) in every
/// command that reads one, with one line naming it.
#[test]
fn a_missing_input_file_is_exit_1_naming_it_in_every_command() {
    let w = Work::new();
    let cases: [&[&str]; 6] = [
        &[
            "pack",
            "--manifest",
            "/nonexistent/m.json",
            "--payload",
            "/nonexistent/p",
        ],
        &[
            "pack",
            "--manifest",
            "/nonexistent/m.json",
            "--image",
            "oci:/nonexistent/l:1",
        ],
        &["verify", "/nonexistent/p.tar.gz"],
        &["inspect", "/nonexistent/p.tar.gz"],
        &["bundle", "platform-libs", "/nonexistent/rootfs"],
        &[
            "rootfs",
            "install",
            "--rootfs",
            "/nonexistent/rootfs",
            "/nonexistent/p.tar.gz",
        ],
    ];
    for args in cases {
        let o = run(berth().args(args).current_dir(&w.dir));
        assert_eq!(o.status.code(), Some(1), "{args:?}: {}", stderr(&o));
        assert_eq!(stderr(&o).lines().count(), 1, "{args:?}: {}", stderr(&o));
        assert!(
            stderr(&o).starts_with("berth: error: /nonexistent/"),
            "{args:?}: {}",
            stderr(&o)
        );
    }
}

/// One reading of SOURCE_DATE_EPOCH for every command that writes times (issue 22):
/// anything but whole seconds in digits is exit 2 naming it, before any other work.
#[test]
fn a_malformed_source_date_epoch_is_refused_by_every_command_that_reads_it() {
    let commands: [&[&str]; 3] = [
        &["pack", "--manifest", "m", "--payload", "p"],
        &[
            "image",
            "build",
            "--rootfs",
            "/nonexistent",
            "oci:/nonexistent/l:1",
        ],
        &[
            "bundle",
            "generate",
            "--platform",
            "x",
            "--searchpath",
            "/nonexistent",
            "oci:/nonexistent/l:1",
            "/nonexistent/out",
        ],
    ];
    for args in commands {
        for epoch in ["yesterday", " 1700000000", "-1", "1.5"] {
            let o = run(berth().env("SOURCE_DATE_EPOCH", epoch).args(args));
            assert_eq!(
                o.status.code(),
                Some(2),
                "{args:?} {epoch:?}: {}",
                stderr(&o)
            );
            assert!(
                stderr(&o).contains(&format!("SOURCE_DATE_EPOCH must be whole seconds since 1970 in decimal digits, got {epoch:?}")),
                "{args:?}: {}",
                stderr(&o)
            );
        }
    }
}

#[test]
fn unreadable_package_is_exit_1() {
    // A directory opens but cannot be read: an I/O failure, not an invalid package.
    let w = Work::new();
    let o = run(berth().arg("verify").arg(w.dir.path()));
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    assert!(stderr(&o).starts_with("berth: error: "));
}

#[test]
fn keygen_sign_and_trust() {
    let w = Work::new();
    let k = run(berth().args(["keygen", "--out"]).arg(w.path("release")));
    assert!(k.status.success(), "{}", stderr(&k));
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(w.path("release.key"))
        .unwrap()
        .permissions()
        .mode()
        & 0o777;
    assert_eq!(mode, 0o600);
    let again = run(berth().args(["keygen", "--out"]).arg(w.path("release")));
    assert_eq!(
        again.status.code(),
        Some(2),
        "keygen must not overwrite a key"
    );
    run(berth().args(["keygen", "--out"]).arg(w.path("other")));

    let o = w.pack(&["--sign", w.path("release.key").to_str().unwrap()]);
    assert!(o.status.success(), "{}", stderr(&o));
    let pkg = String::from_utf8(o.stdout).unwrap().trim().to_string();
    let good = run(berth()
        .args(["verify", &pkg, "--trust"])
        .arg(w.path("release.pub")));
    assert_eq!(good.status.code(), Some(0), "{}", stderr(&good));
    assert!(String::from_utf8_lossy(&good.stdout).contains("trusted key"));
    let bad = run(berth()
        .args(["verify", &pkg, "--trust"])
        .arg(w.path("other.pub")));
    assert_eq!(bad.status.code(), Some(2));
    assert!(
        stderr(&bad).contains("not among the trusted keys"),
        "{}",
        stderr(&bad)
    );
    let either = run(berth()
        .args(["verify", &pkg, "--trust"])
        .arg(w.path("other.pub"))
        .arg("--trust")
        .arg(w.path("release.pub")));
    assert_eq!(either.status.code(), Some(0), "{}", stderr(&either));
}

#[test]
fn verify_reads_standard_input() {
    let w = Work::new();
    let o = w.pack(&["--compression", "zstd"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let pkg = String::from_utf8(o.stdout).unwrap().trim().to_string();
    let v = berth()
        .args(["verify", "-"])
        .stdin(std::fs::File::open(&pkg).unwrap())
        .output()
        .unwrap();
    assert_eq!(v.status.code(), Some(0), "{}", stderr(&v));
}

#[test]
fn hostile_corpus_is_refused_by_inspect_and_verify_writing_nothing() {
    let corpus = hostile_corpus();
    assert!(corpus.len() >= 25);
    let inputs = tempfile::tempdir().unwrap();
    for case in corpus {
        let pkg = inputs.path().join(format!("{}.tar.gz", case.name));
        std::fs::write(&pkg, &case.bytes).unwrap();
        let key = case.trust.as_ref().map(|text| {
            let p = inputs.path().join(format!("{}.pub", case.name));
            std::fs::write(&p, text).unwrap();
            p
        });
        for verb in ["inspect", "verify"] {
            // An empty working directory and TMPDIR: both must stay empty.
            let cwd = tempfile::tempdir().unwrap();
            let tmp = tempfile::tempdir().unwrap();
            let mut cmd = berth();
            cmd.arg(verb)
                .arg(&pkg)
                .current_dir(cwd.path())
                .env("TMPDIR", tmp.path());
            if let Some(k) = &key {
                cmd.arg("--trust").arg(k);
            }
            let o = run(&mut cmd);
            let err = stderr(&o);
            assert_eq!(o.status.code(), Some(2), "{verb} {}: {err}", case.name);
            assert!(!err.contains("panicked"), "{verb} {}: {err}", case.name);
            assert!(
                err.lines().all(|l| l.starts_with("berth: error: ")),
                "{verb} {}: {err}",
                case.name
            );
            assert!(
                err.contains(case.expect),
                "{verb} {}: expected {:?} in {err}",
                case.name,
                case.expect
            );
            assert!(
                o.stdout.is_empty(),
                "{verb} {}: printed a report",
                case.name
            );
            assert!(
                listing(cwd.path()).is_empty() && listing(tmp.path()).is_empty(),
                "{verb} {} wrote a file",
                case.name
            );
        }
    }
}

#[test]
fn help_teaches_each_command() {
    for verb in ["pack", "inspect", "verify", "keygen"] {
        let o = run(berth().args([verb, "--help"]));
        assert!(o.status.success());
        let text = String::from_utf8_lossy(&o.stdout);
        assert!(text.contains("Usage: berth"), "{verb}");
        assert!(text.contains("--json"), "{verb} has --json");
    }
}
