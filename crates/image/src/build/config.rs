//! The image config a build writes: the base's config (or an empty one) with the
//! options applied, meta-virtualization's semantics for command and entrypoint
//! (`OCI_IMAGE_CMD` is replaced by run arguments, `OCI_IMAGE_ENTRYPOINT` always runs
//! with `OCI_IMAGE_ENTRYPOINT_ARGS` and then the run arguments appended; a value is a
//! JSON array or a string split by shell rules).

use serde_json::{json, Map, Value};

#[derive(Debug, Clone, Default)]
pub struct ConfigOptions {
    pub cmd: Option<String>,
    pub entrypoint: Option<String>,
    pub entrypoint_args: Option<String>,
    pub env: Vec<String>,
    pub workdir: Option<String>,
    pub user: Option<String>,
    pub labels: Vec<String>,
    pub ports: Vec<String>,
    pub volumes: Vec<String>,
    pub stop_signal: Option<String>,
    pub author: Option<String>,
    pub os: String,
    pub architecture: String,
    pub variant: Option<String>,
}

/// A JSON array of strings, or a string split as a shell would.
pub fn argv(value: &str, what: &str) -> Result<Vec<String>, String> {
    let trimmed = value.trim();
    if trimmed.starts_with('[') {
        return serde_json::from_str::<Vec<String>>(trimmed)
            .map_err(|e| format!("{what}: not a JSON array of strings: {e}"));
    }
    shell_split(trimmed).map_err(|e| format!("{what}: {e}"))
}

/// Words as sh splits them: whitespace separates, '' and "" quote, \ escapes.
fn shell_split(s: &str) -> Result<Vec<String>, String> {
    let mut words = Vec::new();
    let mut word = String::new();
    let mut in_word = false;
    let mut chars = s.chars();
    while let Some(c) = chars.next() {
        match c {
            '\'' => {
                in_word = true;
                loop {
                    match chars.next() {
                        Some('\'') => break,
                        Some(c) => word.push(c),
                        None => return Err("an unterminated ' quote".into()),
                    }
                }
            }
            '"' => {
                in_word = true;
                loop {
                    match chars.next() {
                        Some('"') => break,
                        Some('\\') => match chars.next() {
                            Some(c @ ('"' | '\\' | '$' | '`')) => word.push(c),
                            Some(c) => {
                                word.push('\\');
                                word.push(c);
                            }
                            None => return Err("an unterminated \" quote".into()),
                        },
                        Some(c) => word.push(c),
                        None => return Err("an unterminated \" quote".into()),
                    }
                }
            }
            '\\' => {
                in_word = true;
                if let Some(c) = chars.next() {
                    word.push(c);
                }
            }
            c if c.is_whitespace() => {
                if in_word {
                    words.push(std::mem::take(&mut word));
                    in_word = false;
                }
            }
            c => {
                in_word = true;
                word.push(c);
            }
        }
    }
    if in_word {
        words.push(word);
    }
    Ok(words)
}

fn key_value(item: &str, what: &str) -> Result<(String, String), String> {
    match item.split_once('=') {
        Some((k, v)) if !k.is_empty() => Ok((k.into(), v.into())),
        _ => Err(format!("{what} {item:?}: write KEY=VALUE")),
    }
}

/// `base` (an image config, or `None`) with `o` applied, for layers `diff_ids`
/// added on top; `created` is the build's date (RFC 3339).
pub fn image_config(
    base: Option<Value>,
    o: &ConfigOptions,
    added: &[(String, String)],
    created: &str,
) -> Result<Value, String> {
    let mut c = base.unwrap_or_else(|| json!({"rootfs": {"type": "layers", "diff_ids": []}}));
    let obj = c
        .as_object_mut()
        .ok_or("the base config is not an object")?;
    obj.insert("created".into(), json!(created));
    obj.insert("architecture".into(), json!(o.architecture));
    obj.insert("os".into(), json!(o.os));
    match &o.variant {
        Some(v) => obj.insert("variant".into(), json!(v)),
        // shift_remove: the other keys keep their order (remove swaps the last in).
        None => obj.shift_remove("variant"),
    };
    if let Some(a) = &o.author {
        obj.insert("author".into(), json!(a));
    }
    let run = obj
        .entry("config")
        .or_insert_with(|| json!({}))
        .as_object_mut()
        .ok_or("config.config is not an object")?;
    // meta-virtualization's OCI_IMAGE_ENTRYPOINT_ARGS are the image's CMD: what the
    // entrypoint runs with unless the run gives arguments of its own.
    match (&o.cmd, &o.entrypoint_args) {
        (Some(_), Some(_)) => {
            return Err("--cmd and --entrypoint-args both set the image's CMD: give one".into())
        }
        (Some(cmd), None) => {
            run.insert("Cmd".into(), json!(argv(cmd, "--cmd")?));
        }
        (None, Some(args)) => {
            run.insert("Cmd".into(), json!(argv(args, "--entrypoint-args")?));
        }
        (None, None) => {}
    }
    if let Some(e) = &o.entrypoint {
        run.insert("Entrypoint".into(), json!(argv(e, "--entrypoint")?));
    }
    if !o.env.is_empty() {
        let mut env: Vec<String> =
            serde_json::from_value(run.get("Env").cloned().unwrap_or(json!([])))
                .unwrap_or_default();
        for item in &o.env {
            let (k, _) = key_value(item, "--env")?;
            env.retain(|e| e.split('=').next() != Some(k.as_str()));
            env.push(item.clone());
        }
        run.insert("Env".into(), json!(env));
    }
    if let Some(w) = &o.workdir {
        run.insert("WorkingDir".into(), json!(w));
    }
    if let Some(u) = &o.user {
        run.insert("User".into(), json!(u));
    }
    if let Some(s) = &o.stop_signal {
        run.insert("StopSignal".into(), json!(s));
    }
    let mut set = |key: &str, items: Vec<(String, Value)>| {
        if items.is_empty() {
            return;
        }
        let map = run.entry(key).or_insert_with(|| json!({}));
        if !map.is_object() {
            *map = json!({});
        }
        let map = map.as_object_mut().expect("an object");
        for (k, v) in items {
            map.insert(k, v);
        }
    };
    let labels = o
        .labels
        .iter()
        .map(|l| key_value(l, "--label").map(|(k, v)| (k, json!(v))))
        .collect::<Result<Vec<_>, _>>()?;
    set("Labels", labels);
    let ports = o
        .ports
        .iter()
        .map(|p| {
            let p = if p.contains('/') {
                p.clone()
            } else {
                format!("{p}/tcp")
            };
            (p, json!({}))
        })
        .collect();
    set("ExposedPorts", ports);
    set(
        "Volumes",
        o.volumes.iter().map(|v| (v.clone(), json!({}))).collect(),
    );
    let rootfs = obj
        .entry("rootfs")
        .or_insert_with(|| json!({"type": "layers", "diff_ids": []}));
    let ids = rootfs
        .get_mut("diff_ids")
        .and_then(Value::as_array_mut)
        .ok_or("the base config has no rootfs.diff_ids")?;
    let history_entries: Vec<Value> = added
        .iter()
        .map(|(name, _)| json!({"created": created, "created_by": format!("berth image build: layer {name}")}))
        .collect();
    ids.extend(added.iter().map(|(_, id)| json!(id)));
    let history = obj.entry("history").or_insert_with(|| json!([]));
    if let Some(h) = history.as_array_mut() {
        h.extend(history_entries);
    }
    let _: &Map<String, Value> = obj;
    Ok(c)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_are_json_arrays_or_shell_words() {
        assert_eq!(
            argv(r#"["/bin/sh", "-c", "a b"]"#, "x").unwrap(),
            ["/bin/sh", "-c", "a b"]
        );
        assert_eq!(
            argv(r#"/bin/sh -c 'echo "hi there"' x\ y"#, "x").unwrap(),
            ["/bin/sh", "-c", "echo \"hi there\"", "x y"]
        );
        assert!(argv("'open", "--cmd").unwrap_err().contains("--cmd"));
    }

    #[test]
    fn entrypoint_args_are_the_cmd_and_env_replaces_by_key() {
        let o = ConfigOptions {
            entrypoint: Some("/app".into()),
            entrypoint_args: Some("--serve --port 80".into()),
            env: vec!["A=2".into(), "B=1".into()],
            os: "linux".into(),
            architecture: "arm64".into(),
            ..ConfigOptions::default()
        };
        let base = json!({"config": {"Env": ["A=1", "PATH=/bin"]}, "rootfs": {"type": "layers", "diff_ids": ["sha256:aa"]}});
        let c = image_config(
            Some(base),
            &o,
            &[("app".into(), "sha256:bb".into())],
            "1970-01-01T00:00:00Z",
        )
        .unwrap();
        assert_eq!(c["config"]["Entrypoint"], json!(["/app"]));
        assert_eq!(c["config"]["Cmd"], json!(["--serve", "--port", "80"]));
        assert_eq!(c["config"]["Env"], json!(["PATH=/bin", "A=2", "B=1"]));
        assert_eq!(c["rootfs"]["diff_ids"], json!(["sha256:aa", "sha256:bb"]));
        assert_eq!(c["architecture"], "arm64");
    }

    #[test]
    fn cmd_and_entrypoint_args_together_are_refused() {
        let o = ConfigOptions {
            entrypoint_args: Some("a".into()),
            cmd: Some("b".into()),
            ..ConfigOptions::default()
        };
        let e = image_config(None, &o, &[], "1970-01-01T00:00:00Z").unwrap_err();
        assert!(e.contains("--cmd and --entrypoint-args"), "{e}");
    }
}
