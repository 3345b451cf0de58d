use crate::exit::{chain, print, print_json, Failure};
use berth_package::sign::{generate_key_pair, KeyError};
use std::path::PathBuf;

/// Make an ed25519 key pair for signing packages.
///
/// Writes NAME.key (secret, mode 0600: keep it on the build host) and NAME.pub
/// (give it to devices and to `berth verify --trust`). Existing files are never
/// overwritten.
#[derive(clap::Args)]
pub struct KeygenArgs {
    /// Base name of the key files: NAME.key and NAME.pub.
    #[arg(long, value_name = "NAME")]
    out: PathBuf,
    /// Print the result as JSON.
    #[arg(long)]
    json: bool,
}

pub fn run(args: KeygenArgs) -> Result<(), Failure> {
    let key = generate_key_pair(&args.out).map_err(|e| match e {
        KeyError::Exists { .. } => Failure::bad_input(chain(&e)),
        _ => Failure::failed(chain(&e)),
    })?;
    if args.json {
        return print_json(&key);
    }
    print(&format!(
        "secret key: {}\npublic key: {}\nkey id:     {}\n",
        key.secret_key.display(),
        key.public_key.display(),
        key.key_id
    ))
}
