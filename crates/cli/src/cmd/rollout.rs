//! `berth rollout docker://HOST/REPO:TAG PERCENT`: a staged rollout changed in place.

use super::image::{failure, RegistryArgs};
use crate::exit::{print, print_json, Failure};
use berth_registry::{rollout, RegistryDest, RegistrySource};

/// Change which share of a fleet takes a pushed package.
///
/// Devices that follow the tag (berthctl install --follow) take the package only when
/// their own draw — from their device id and the package's digest — falls within
/// PERCENT. Raising it keeps every device that took it and adds more; 100 is every
/// device. Only the artifact's manifest is written again (its annotation
/// org.berth.rollout), with its signature referrers; the package is not uploaded
/// again and its digest, which the draw uses, stays.
///
/// Examples:
///   berth push app_2.0.tar.gz docker://registry.example/apps/app:stable --rollout 20
///   berth rollout docker://registry.example/apps/app:stable 100
#[derive(clap::Args)]
#[command(verbatim_doc_comment)]
pub struct RolloutArgs {
    /// docker://HOST/REPO:TAG, a package `berth push` put there
    #[arg(value_name = "REFERENCE")]
    reference: String,
    /// 0 to 100
    #[arg(value_name = "PERCENT", value_parser = percent_arg)]
    percent: u8,
    #[arg(long)]
    json: bool,
    #[command(flatten)]
    registry: RegistryArgs,
}

/// A percentage on the command line: a whole number from 0 to 100.
pub fn percent_arg(text: &str) -> Result<u8, String> {
    rollout::parse_percent(text)
        .ok_or_else(|| format!("{text:?} is not a whole number from 0 to 100"))
}

pub fn run(args: RolloutArgs) -> Result<(), Failure> {
    let reference = super::push::registry_ref(&args.reference)?;
    let Some(tag) = reference.tag.clone().filter(|_| reference.digest.is_none()) else {
        return Err(Failure::bad_input(format!(
            "{}: a rollout changes what a tag names: write docker://HOST/REPO:TAG",
            args.reference
        )));
    };
    let options = args.registry.options();
    let source = RegistrySource::new(reference.clone(), &options);
    let dest = RegistryDest::new(reference.clone(), &options);
    let changed = rollout::set(&source, &dest, &tag, args.percent).map_err(failure)?;
    let name = reference.docker_tag(&tag);
    if args.json {
        return print_json(&serde_json::json!({
            "reference": name,
            "digest": changed.digest.to_string(),
            "rollout": args.percent,
            "was": changed.was,
            "signatures": changed.signatures,
        }));
    }
    print(&format!(
        "rollout of {name} set to {}% (was {}%): {}\n",
        args.percent, changed.was, changed.digest
    ))
}
