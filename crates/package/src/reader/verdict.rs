//! The reader's verdict: the signature against the trusted keys, the sums file, and
//! the checks that need every entry (`finish`).

use super::*;

/// Checks the signature (if any) against the trusted keys; adds what is wrong to
/// `problems` (a missing signature only when nothing else is wrong).
pub(super) fn signature_verdict(
    st: &State,
    opts: &ReadOptions,
    problems: &mut Vec<String>,
) -> SignatureStatus {
    // A signature inside the package wins; else those delivered beside it (a
    // registry's signature referrers), every one tried: one that fails or is by an
    // unknown key must not hide a trusted one listed after it (issue 21, finding 11).
    let candidates: Vec<&Vec<u8>> = match &st.sig {
        Some(sig) => vec![sig],
        None => opts.detached_signatures.iter().collect(),
    };
    let signature = match (&st.sums, &st.manifest_bytes) {
        _ if candidates.is_empty() => SignatureStatus::Unsigned,
        (Some(sums), Some(manifest)) => {
            let mut verdicts = candidates
                .iter()
                .map(|sig| check_signature(sig, sums, manifest, &opts.trusted_keys));
            let all: Vec<_> = verdicts.by_ref().collect();
            let trusted = all
                .iter()
                .position(|v| matches!(v, Ok(SignatureStatus::Valid { trusted: true, .. })));
            let valid = all.iter().position(|v| v.is_ok());
            match trusted.or(valid) {
                Some(i) => all.into_iter().nth(i).expect("an index of it").expect("ok"),
                None => {
                    let first = all.into_iter().next().expect("a candidate");
                    problems.push(first.expect_err("none valid").to_string());
                    SignatureStatus::Unsigned
                }
            }
        }
        _ => SignatureStatus::Unsigned, // missing files reported elsewhere
    };
    if !opts.trusted_keys.is_empty() && problems.is_empty() {
        match &signature {
            SignatureStatus::Unsigned if opts.allow_unsigned => {}
            SignatureStatus::Unsigned => problems
                .push("unsigned package, but a signature by a trusted key is required".into()),
            SignatureStatus::Valid {
                trusted: false,
                key_id,
            } => problems.push(format!(
                "signed by key {key_id}, which is not among the trusted keys"
            )),
            SignatureStatus::Valid { trusted: true, .. } => {}
        }
    }
    signature
}

/// Parses sha256sum lines: `<hex>  <path>` (text mode) or `<hex> *<path>` (binary).
pub(super) fn parse_sums(text: &[u8]) -> Result<Vec<(String, String)>, String> {
    let text = std::str::from_utf8(text).map_err(|_| format!("{SUMS_PATH}: not UTF-8"))?;
    let mut out = Vec::new();
    for (i, line) in text.lines().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        let parsed = line.split_once(' ').and_then(|(hex, rest)| {
            let path = rest.strip_prefix(' ').or_else(|| rest.strip_prefix('*'))?;
            // sha256sum's lines; upper-case digits are read too.
            let hex = hex.to_ascii_lowercase();
            berth_format::digest::is_sha256_hex(&hex)
                .then(|| (hex, path.trim_start_matches("./").to_string()))
        });
        match parsed {
            Some(p) => out.push(p),
            None => {
                return Err(format!(
                    "{SUMS_PATH} line {}: not '<sha256>  <path>'",
                    i + 1
                ))
            }
        }
    }
    Ok(out)
}

pub(super) fn finish(
    mut st: State,
    compression: Compression,
    compressed_bytes: u64,
    opts: &ReadOptions,
) -> Result<PackageReport, ReadError> {
    let p = &mut st.problems;
    if st.manifest_bytes.is_none() {
        p.push(format!("{MANIFEST_PATH} is missing"));
    }
    if st.sums.is_none() {
        p.push(format!("{SUMS_PATH} is missing"));
    }
    if st.payload.is_none() {
        p.push("payload/ holds no payload file".into());
    }
    if let Some(sums) = &st.sums {
        match parse_sums(sums) {
            Err(e) => p.push(e),
            Ok(lines) => {
                for (hex, path) in &lines {
                    if st.rebuilt_bundle.as_deref() == Some(path.as_str()) {
                        // Stood for by the rebuilt tar and manifest.json's
                        // payload_tar_digest, checked below.
                        continue;
                    }
                    match st.hashes.get(path) {
                        None => p.push(format!("{SUMS_PATH} lists {path}, which is not in the package")),
                        Some(actual) if actual != hex => p.push(format!(
                            "checksum mismatch for {path}: {SUMS_PATH} says {hex}, the file is {actual}"
                        )),
                        Some(_) => {}
                    }
                }
                if let Some(payload) = &st.payload {
                    let path = st
                        .rebuilt_bundle
                        .clone()
                        .unwrap_or_else(|| format!("payload/{}", payload.name));
                    if !lines.iter().any(|(_, l)| *l == path) {
                        p.push(format!("{SUMS_PATH} does not list the payload {path}"));
                    }
                }
            }
        }
    }
    if let (Some(m), Some(payload), Some(_)) = (&st.manifest, &st.payload, &st.rebuilt_bundle) {
        // A bundle a delta rebuilt: its tar, uncompressed, is what the signed
        // manifest names.
        if m.payload_tar_digest.as_deref() != Some(payload.digest.as_str()) {
            p.push(format!(
                "digest mismatch: manifest.json's payload_tar_digest is {}, the rebuilt payload/{} is {}",
                m.payload_tar_digest.as_deref().unwrap_or("absent"),
                payload.name,
                payload.digest
            ));
        }
    } else if let (Some(m), Some(payload)) = (&st.manifest, &st.payload) {
        if let (Some(said), Some(is)) = (&m.payload_tar_digest, &payload.summary.tar_digest) {
            if said != is {
                p.push(format!(
                    "digest mismatch: manifest.json's payload_tar_digest is {said}, payload/{} uncompressed is {is}",
                    payload.name
                ));
            }
        }
        if m.size_bytes != Some(payload.size) {
            p.push(format!(
                "size mismatch: manifest.json says {} bytes, payload/{} has {}",
                m.size_bytes.unwrap_or_default(),
                payload.name,
                payload.size
            ));
        }
        if m.digest.as_deref() != Some(payload.digest.as_str()) {
            p.push(format!(
                "digest mismatch: manifest.json says {}, payload/{} is {}",
                m.digest.as_deref().unwrap_or_default(),
                payload.name,
                payload.digest
            ));
        }
        let name_ok = if m.runtime.runs_an_image() {
            payload.name == "image.tar"
        } else {
            payload.name.ends_with(".tar.gz")
        };
        if !name_ok {
            p.push(format!(
                "payload/{}: runtime {} needs {}",
                payload.name,
                m.runtime,
                if m.runtime.runs_an_image() {
                    "payload/image.tar"
                } else {
                    "a .tar.gz bundle"
                }
            ));
        }
    }
    if let Some(m) = &st.manifest {
        let declared = m.compression.as_deref().unwrap_or("gzip");
        if declared != compression.as_str() {
            p.push(format!(
                "manifest.json declares package_compression {declared}, but the package is {}",
                compression.as_str()
            ));
        }
    }
    let mut problems = std::mem::take(&mut st.problems);
    let signature = signature_verdict(&st, opts, &mut problems);
    st.problems = problems;
    if !st.problems.is_empty() {
        return Err(ReadError::Invalid(Problems(st.problems)));
    }
    let manifest = st.manifest.expect("checked");
    let mut warnings = Vec::new();
    if !manifest.unknown_keys.is_empty() {
        warnings.push(format!(
            "manifest.json: unknown keys kept as they are: {}",
            manifest.unknown_keys.join(", ")
        ));
    }
    Ok(PackageReport {
        package_id: manifest.id().to_string(),
        version: manifest.version.clone(),
        runtime: manifest.runtime.to_string(),
        compression,
        compressed_bytes,
        manifest: serde_json::Value::Object(manifest.json),
        payload: st.payload.expect("checked"),
        metadata: st.metadata,
        signature,
        signature_file: st.sig,
        entries: st.order,
        warnings,
    })
}
