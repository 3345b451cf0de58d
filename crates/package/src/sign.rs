//! Package signatures: ed25519 keys and the detached `checksums/sha256sums.txt.sig`.
//!
//! The DCP sums file lists payload files only, so the manifest (which carries the
//! restart policy and create_args a device will obey) is not covered by it. The
//! signature therefore covers both: the signed message is a short text naming the
//! SHA-256 of the sums file and of manifest.json (see docs/signing.md).

use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine;
use ed25519_dalek::{Signature, Signer, SigningKey, VerifyingKey};
use sha2::{Digest, Sha256};
use std::fmt;
use std::path::{Path, PathBuf};

const SECRET_HEADER: &str = "berth-secret-key-v1";
const PUBLIC_HEADER: &str = "berth-public-key-v1";
const SIGNATURE_HEADER: &str = "berth-signature-v1";
const MESSAGE_HEADER: &str = "berth-package-signature-v1";

#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    #[error("{path}: cannot read key file")]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{path}: not a berth {kind} key (expected a first line '{header}' and a base64 line of {len} bytes)")]
    Format {
        path: PathBuf,
        kind: &'static str,
        header: &'static str,
        len: usize,
    },
    #[error("{path}: already exists (refusing to overwrite a key)")]
    Exists { path: PathBuf },
    #[error("{path}: cannot write key file")]
    Write {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("no random numbers from the operating system")]
    Random,
}

/// A short, stable name for a public key: the first 8 bytes of its SHA-256, in hex.
pub fn key_id(key: &VerifyingKey) -> String {
    hex::encode(&Sha256::digest(key.as_bytes())[..8])
}

fn decode_key_file(
    path: &Path,
    header: &'static str,
    kind: &'static str,
    len: usize,
) -> Result<Vec<u8>, KeyError> {
    let text = std::fs::read_to_string(path).map_err(|source| KeyError::Read {
        path: path.to_path_buf(),
        source,
    })?;
    let format_err = || KeyError::Format {
        path: path.to_path_buf(),
        kind,
        header,
        len,
    };
    let mut lines = text.lines();
    if lines.next() != Some(header) {
        return Err(format_err());
    }
    let bytes = lines
        .next()
        .and_then(|l| B64.decode(l.trim()).ok())
        .filter(|b| b.len() == len)
        .ok_or_else(format_err)?;
    Ok(bytes)
}

pub fn read_signing_key(path: &Path) -> Result<SigningKey, KeyError> {
    let seed = decode_key_file(path, SECRET_HEADER, "secret", 32)?;
    Ok(SigningKey::from_bytes(
        &seed.try_into().expect("length checked"),
    ))
}

pub fn read_verifying_key(path: &Path) -> Result<VerifyingKey, KeyError> {
    let bytes = decode_key_file(path, PUBLIC_HEADER, "public", 32)?;
    VerifyingKey::from_bytes(&bytes.try_into().expect("length checked")).map_err(|_| {
        KeyError::Format {
            path: path.to_path_buf(),
            kind: "public",
            header: PUBLIC_HEADER,
            len: 32,
        }
    })
}

/// The two files `keygen` wrote.
#[derive(Debug, Clone, serde::Serialize)]
pub struct GeneratedKey {
    pub secret_key: PathBuf,
    pub public_key: PathBuf,
    pub key_id: String,
}

/// Writes `<base>.key` (mode 0600) and `<base>.pub`. Refuses to overwrite either.
pub fn generate_key_pair(base: &Path) -> Result<GeneratedKey, KeyError> {
    let mut seed = [0u8; 32];
    getrandom::getrandom(&mut seed).map_err(|_| KeyError::Random)?;
    let key = SigningKey::from_bytes(&seed);
    let with_ext = |ext: &str| {
        let mut s = base.as_os_str().to_owned();
        s.push(ext);
        PathBuf::from(s)
    };
    let (secret, public) = (with_ext(".key"), with_ext(".pub"));
    for p in [&secret, &public] {
        if p.symlink_metadata().is_ok() {
            return Err(KeyError::Exists { path: p.clone() });
        }
    }
    write_new(
        &secret,
        &format!("{SECRET_HEADER}\n{}\n", B64.encode(seed)),
        0o600,
    )?;
    let public_text = public_key_text(&key.verifying_key());
    if let Err(e) = write_new(&public, &public_text, 0o644) {
        let _ = std::fs::remove_file(&secret);
        return Err(e);
    }
    Ok(GeneratedKey {
        secret_key: secret,
        public_key: public,
        key_id: key_id(&key.verifying_key()),
    })
}

fn write_new(path: &Path, content: &str, mode: u32) -> Result<(), KeyError> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let write = || -> std::io::Result<()> {
        let mut f = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(mode)
            .open(path)?;
        f.write_all(content.as_bytes())?;
        f.sync_all()
    };
    write().map_err(|source| KeyError::Write {
        path: path.to_path_buf(),
        source,
    })
}

/// The content of a public key file.
pub fn public_key_text(key: &VerifyingKey) -> String {
    format!("{PUBLIC_HEADER}\n{}\n", B64.encode(key.as_bytes()))
}

/// The message a package signature signs.
fn signed_message(sums: &[u8], manifest: &[u8]) -> String {
    format!(
        "{MESSAGE_HEADER}\nchecksums/sha256sums.txt {}\nmanifest.json {}\n",
        hex::encode(Sha256::digest(sums)),
        hex::encode(Sha256::digest(manifest))
    )
}

/// The content of `checksums/sha256sums.txt.sig`. Its length does not depend on the
/// key or the data, which the writer relies on to lay out the package before the
/// payload's digest is known.
pub fn sign(key: &SigningKey, sums: &[u8], manifest: &[u8]) -> Vec<u8> {
    let signature = key.sign(signed_message(sums, manifest).as_bytes());
    let public = key.verifying_key();
    format!(
        "{SIGNATURE_HEADER}\nkey-id {}\npublic-key {}\nsignature {}\n",
        key_id(&public),
        B64.encode(public.as_bytes()),
        B64.encode(signature.to_bytes())
    )
    .into_bytes()
}

/// What a package's signature says, once checked.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[serde(tag = "status", rename_all = "snake_case")]
pub enum SignatureStatus {
    Unsigned,
    /// The signature is valid for the key it names; `trusted` tells whether that key
    /// is one of the keys the caller trusts.
    Valid {
        key_id: String,
        trusted: bool,
    },
}

impl fmt::Display for SignatureStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SignatureStatus::Unsigned => f.write_str("unsigned"),
            SignatureStatus::Valid {
                key_id,
                trusted: true,
            } => write!(f, "valid, by trusted key {key_id}"),
            SignatureStatus::Valid {
                key_id,
                trusted: false,
            } => {
                write!(f, "valid, by key {key_id} (not among the trusted keys)")
            }
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SignatureError {
    #[error("checksums/sha256sums.txt.sig: malformed signature file ({0})")]
    Malformed(&'static str),
    #[error("checksums/sha256sums.txt.sig: signature does not match the sums file and manifest (tampered package)")]
    Mismatch,
}

/// Checks a signature file against the sums file and manifest it claims to cover.
pub fn check_signature(
    sig_file: &[u8],
    sums: &[u8],
    manifest: &[u8],
    trusted: &[VerifyingKey],
) -> Result<SignatureStatus, SignatureError> {
    let text = std::str::from_utf8(sig_file).map_err(|_| SignatureError::Malformed("not UTF-8"))?;
    let mut lines = text.lines();
    if lines.next() != Some(SIGNATURE_HEADER) {
        return Err(SignatureError::Malformed("unknown header"));
    }
    let mut field = |name: &str| {
        lines
            .next()
            .and_then(|l| l.strip_prefix(name))
            .and_then(|l| l.strip_prefix(' '))
            .ok_or(SignatureError::Malformed("missing field"))
    };
    let declared_id = field("key-id")?.to_string();
    let public = field("public-key")?;
    let signature = field("signature")?;
    let public: [u8; 32] = B64
        .decode(public)
        .ok()
        .and_then(|b| b.try_into().ok())
        .ok_or(SignatureError::Malformed("bad public key"))?;
    let public = VerifyingKey::from_bytes(&public)
        .map_err(|_| SignatureError::Malformed("bad public key"))?;
    let signature: [u8; 64] = B64
        .decode(signature)
        .ok()
        .and_then(|b| b.try_into().ok())
        .ok_or(SignatureError::Malformed("bad signature"))?;
    if declared_id != key_id(&public) {
        return Err(SignatureError::Malformed(
            "key-id does not match public-key",
        ));
    }
    public
        .verify_strict(
            signed_message(sums, manifest).as_bytes(),
            &Signature::from_bytes(&signature),
        )
        .map_err(|_| SignatureError::Mismatch)?;
    Ok(SignatureStatus::Valid {
        trusted: trusted.iter().any(|k| k == &public),
        key_id: declared_id,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(n: u8) -> SigningKey {
        SigningKey::from_bytes(&[n; 32])
    }

    #[test]
    fn signature_length_is_independent_of_key_and_data() {
        let a = sign(&key(1), b"a", b"b");
        let b = sign(&key(2), b"longer sums", b"{\"x\": 1}");
        assert_eq!(a.len(), b.len());
    }

    #[test]
    fn valid_signature_checks_and_trust_is_reported() {
        let sig = sign(&key(1), b"sums", b"manifest");
        let trusted = [key(1).verifying_key()];
        assert_eq!(
            check_signature(&sig, b"sums", b"manifest", &trusted),
            Ok(SignatureStatus::Valid {
                key_id: key_id(&trusted[0]),
                trusted: true
            })
        );
        let other = [key(2).verifying_key()];
        assert!(matches!(
            check_signature(&sig, b"sums", b"manifest", &other),
            Ok(SignatureStatus::Valid { trusted: false, .. })
        ));
    }

    #[test]
    fn changed_manifest_or_sums_breaks_the_signature() {
        let sig = sign(&key(1), b"sums", b"manifest");
        assert_eq!(
            check_signature(&sig, b"sums", b"manifesT", &[]),
            Err(SignatureError::Mismatch)
        );
        assert_eq!(
            check_signature(&sig, b"sumS", b"manifest", &[]),
            Err(SignatureError::Mismatch)
        );
    }

    #[test]
    fn swapped_public_key_is_malformed() {
        let sig = String::from_utf8(sign(&key(1), b"s", b"m")).unwrap();
        let other = B64.encode(key(2).verifying_key().as_bytes());
        let mut lines: Vec<String> = sig.lines().map(String::from).collect();
        lines[2] = format!("public-key {other}");
        let forged = lines.join("\n");
        assert_eq!(
            check_signature(forged.as_bytes(), b"s", b"m", &[]),
            Err(SignatureError::Malformed(
                "key-id does not match public-key"
            ))
        );
    }
}
