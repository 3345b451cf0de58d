use crate::exit::Failure;
use crate::{checked_id, pretty, Ctx};
use berth_api::{paths, Container};

/// Follow a registry tag: berthd checks it every updates.interval seconds and
/// installs the package it names when that changes (through the normal install:
/// signature, compatibility, probation and rollback). --off stops following.
///
/// Examples:
///   berthctl follow app docker://registry.example/fleet/app:stable
///   berthctl follow app --off
#[derive(clap::Args)]
#[command(verbatim_doc_comment)]
pub struct FollowArgs {
    /// The container's id.
    id: String,
    /// docker://HOST/REPO:TAG
    #[arg(
        value_name = "REFERENCE",
        required_unless_present = "off",
        conflicts_with = "off"
    )]
    reference: Option<String>,
    /// Stop following (what the checks found is forgotten, refusals too).
    #[arg(long)]
    off: bool,
}

pub fn run(ctx: &Ctx, args: FollowArgs) -> Result<String, Failure> {
    let id = checked_id(&args.id)?;
    let body = serde_json::json!({"reference": args.reference});
    let c: Container = ctx
        .client
        .call("POST", &paths::container(id, &["follow"]), Some(&body))?;
    Ok(if ctx.json {
        pretty(&c)
    } else {
        match &c.follow {
            Some(f) => format!("{id} follows {f}\n"),
            None => format!("{id} follows no tag\n"),
        }
    })
}
