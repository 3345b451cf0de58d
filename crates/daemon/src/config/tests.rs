use super::*;
use serde_json::json;
use serde_json::Value;

fn lines(v: Value) -> Vec<String> {
    match parse(&serde_json::to_vec(&v).unwrap()) {
        Ok(_) => vec![],
        Err(issues) => issues.iter().map(ToString::to_string).collect(),
    }
}

#[test]
fn empty_object_is_the_embedded_default() {
    let (cfg, warnings) = parse(b"{}").unwrap();
    assert_eq!(cfg, Config::default());
    assert_eq!(cfg.service.working_path, Path::new("/var/lib/berth"));
    assert_eq!(cfg.api.socket, Path::new("/run/berth/berthd.sock"));
    assert!(warnings.is_empty());
}

#[test]
fn a_cc_container_mng_configuration_is_read() {
    let v = json!({
        "version": 1,
        "service": {"working_path": "/opt/cc-container", "monitor_interval": 5, "command_timeout": 20, "podman_load_timeout": 300},
        "logging": {"level": "DEBUG", "syslog": {"enabled": true, "level": "warning"}, "console": {"enabled": false},
                    "file": {"enabled": true, "path": "/var/log/cc.log", "level": "info", "max_size": 65536}}
    });
    let (cfg, _) = parse(&serde_json::to_vec(&v).unwrap()).unwrap();
    assert_eq!(cfg.service.working_path, Path::new("/opt/cc-container"));
    assert_eq!(cfg.service.podman_load_timeout, 300);
    assert_eq!(cfg.logging.level, Level::Debug);
    assert_eq!(
        cfg.logging.syslog,
        Sink {
            enabled: true,
            level: Some(Level::Warning)
        }
    );
    assert!(!cfg.logging.console.enabled);
    assert_eq!(cfg.logging.file.max_size, 65536);
}

#[test]
fn wrong_types_and_values_are_named_by_key() {
    let got = lines(json!({
        "version": 2,
        "service": {"working_path": "relative/path", "monitor_interval": 0, "command_timeout": "30"},
        "logging": {"level": "loud"},
        "api": {"socket_mode": 660}
    }));
    assert_eq!(
        got,
        [
            "version must be 1, got number 2",
            "service.working_path must be an absolute path, got string \"relative/path\"",
            "service.monitor_interval must be an integer >= 1, got 0",
            "service.command_timeout must be an integer >= 1, got string \"30\"",
            "logging.level must be one of debug, info, warning, error, got string \"loud\"",
            "api.socket_mode must be an octal mode string like \"0660\", got number 660",
        ]
    );
}

#[test]
fn unknown_keys_are_warnings_not_errors() {
    let (_, warnings) =
        parse(br#"{"service": {"working_path": "/w", "colour": "blue"}, "extra": 1}"#).unwrap();
    assert_eq!(
        warnings,
        [
            "unknown key service.colour (ignored)",
            "unknown key extra (ignored)"
        ]
    );
}

#[test]
fn requiring_signatures_without_keys_is_refused() {
    assert_eq!(
        lines(json!({"trust": {"require_signature": true}})),
        ["trust.require_signature is true but trust.keys lists no key"]
    );
}

#[test]
fn explicit_missing_file_is_an_error_and_broken_file_names_its_path() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("nope.conf");
    assert!(matches!(
        load(Some(&missing)),
        Err(ConfigError::Read { .. })
    ));
    let broken = dir.path().join("berthd.conf");
    std::fs::write(&broken, br#"{"service": {"monitor_interval": true}}"#).unwrap();
    let err = load(Some(&broken)).unwrap_err().to_string();
    assert_eq!(
        err,
        format!(
            "{}: service.monitor_interval must be an integer >= 1, got boolean true",
            broken.display()
        )
    );
}

#[test]
fn the_runtimes_section_chooses_the_image_engine_and_the_oci_runtime() {
    let (cfg, _) =
        parse(br#"{"runtimes": {"image_engine": "docker", "oci_runtime": "/usr/bin/crun"}}"#)
            .unwrap();
    assert_eq!(cfg.runtimes.image_engine, ImageEngine::Docker);
    assert_eq!(cfg.runtimes.oci_runtime, "/usr/bin/crun");
    assert_eq!(Config::default().runtimes.image_engine, ImageEngine::Podman);
    assert_eq!(Config::default().runtimes.oci_runtime, "runc");
    assert_eq!(
        lines(json!({"runtimes": {"image_engine": "rkt", "oci_runtime": "youki"}})),
        [
            "runtimes.image_engine must be \"podman\" or \"docker\", got string \"rkt\"",
            "runtimes.oci_runtime must be \"runc\" or \"crun\" (or an absolute path to one), got string \"youki\""
        ]
    );
    assert_eq!(
        lines(json!({"runtimes": {"oci_runtime": "bin/runc"}})).len(),
        1
    );
}

#[test]
fn the_registry_section_is_checked_and_its_passwords_never_printed() {
    let (cfg, warnings) = parse(
        br#"{"registry": {"tls_verify": false, "auth_file": "/etc/berth/auth.json",
            "credentials": {"127.0.0.1:5000": "dev:s3cret:x"}}}"#,
    )
    .unwrap();
    assert!(warnings.is_empty(), "{warnings:?}");
    assert!(!cfg.registry.tls_verify);
    assert_eq!(cfg.registry.credentials["127.0.0.1:5000"], "dev:s3cret:x");
    let shown = serde_json::to_string(&cfg).unwrap();
    assert!(
        !shown.contains("s3cret") && shown.contains("dev:***"),
        "{shown}"
    );
    let issues =
        parse(br#"{"registry": {"credentials": {"h": "nopassword"}, "auth_file": "rel"}}"#)
            .unwrap_err();
    let text: Vec<String> = issues.iter().map(|i| i.to_string()).collect();
    assert!(
        text.iter().any(|t| t.contains("registry.credentials.h")),
        "{text:?}"
    );
    assert!(
        text.iter().any(|t| t.contains("registry.auth_file")),
        "{text:?}"
    );
}

#[test]
fn without_an_explicit_file_berthds_own_comes_first_then_digis_then_the_defaults() {
    let dir = tempfile::tempdir().unwrap();
    let ours = dir.path().join("berthd.conf");
    let digis = dir.path().join("cc-container-mng.conf");
    let defaults = [ours.as_path(), digis.as_path()];
    let loaded = load_from(None, &defaults).unwrap();
    assert_eq!(loaded.path, None);
    assert_eq!(loaded.config, Config::default());
    std::fs::write(
        &digis,
        br#"{"version": 1, "service": {"working_path": "/root/cc-container"}}"#,
    )
    .unwrap();
    let loaded = load_from(None, &defaults).unwrap();
    assert_eq!(loaded.path.as_deref(), Some(digis.as_path()));
    assert_eq!(
        loaded.config.service.working_path,
        Path::new("/root/cc-container")
    );
    std::fs::write(&ours, br#"{"service": {"working_path": "/var/lib/ours"}}"#).unwrap();
    let loaded = load_from(None, &defaults).unwrap();
    assert_eq!(loaded.path.as_deref(), Some(ours.as_path()));
    // An explicit file wins over both.
    let explicit = dir.path().join("other.conf");
    std::fs::write(&explicit, b"{}").unwrap();
    let loaded = load_from(Some(&explicit), &defaults).unwrap();
    assert_eq!(loaded.path.as_deref(), Some(explicit.as_path()));
}

#[test]
fn the_device_section_is_read_and_its_values_must_be_strings() {
    let v = json!({"device": {"id": "gw-1", "type": "ccmp25-dvk", "firmware_version": "2.4.1"}});
    let (cfg, warnings) = parse(&serde_json::to_vec(&v).unwrap()).unwrap();
    assert!(warnings.is_empty(), "{warnings:?}");
    assert_eq!(cfg.device.id.as_deref(), Some("gw-1"));
    assert_eq!(cfg.device.device_type.as_deref(), Some("ccmp25-dvk"));
    assert_eq!(cfg.device.firmware_version.as_deref(), Some("2.4.1"));
    assert_eq!(
        lines(json!({"device": {"type": 3, "firmware_version": ""}})),
        [
            "device.type must be a non-empty string, got number 3",
            "device.firmware_version must be a non-empty string, got string \"\""
        ]
    );
}
