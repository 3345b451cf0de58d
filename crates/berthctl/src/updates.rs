use crate::exit::Failure;
use crate::{checked_id, pretty, Ctx};
use berth_api::{paths, Update};

/// What each container follows, when its tag was last checked and what was found:
/// up to date, installed, held back by its rollout, refused (a bad signature, an
/// incompatible package, a rollback: never tried again unless --retry), or a
/// registry error (checks back off).
///
/// Examples:
///   berthctl updates
///   berthctl updates --retry app
#[derive(clap::Args)]
#[command(verbatim_doc_comment)]
pub struct UpdatesArgs {
    /// Forget the packages ID refused and check its tag now.
    #[arg(long, value_name = "ID")]
    retry: Option<String>,
}

pub fn run(ctx: &Ctx, args: UpdatesArgs) -> Result<String, Failure> {
    let list: Vec<Update> = match &args.retry {
        Some(id) => {
            let id = checked_id(id)?;
            vec![ctx.client.call("POST", &paths::updates(Some(id)), None)?]
        }
        None => ctx.client.get(&paths::updates(None))?,
    };
    if ctx.json {
        return Ok(pretty(&list));
    }
    if list.is_empty() {
        return Ok("no container follows a tag (berthctl install docker://… --follow)\n".into());
    }
    let mut out = String::new();
    for u in &list {
        out.push_str(&format!("{} {} follows {}\n", u.id, u.version, u.follow));
        out.push_str(&format!(
            "  last check {}: {}\n",
            u.last_check.as_deref().unwrap_or("(not yet)"),
            u.result.as_deref().unwrap_or("-")
        ));
        if u.failures > 0 {
            out.push_str(&format!("  registry errors in a row: {}\n", u.failures));
        }
        if let Some(next) = &u.next_check {
            out.push_str(&format!("  next check {next}\n"));
        }
        for r in &u.refused {
            out.push_str(&format!(
                "  refused {} ({}) at {}: {}\n",
                r.version, r.digest, r.at, r.reason
            ));
        }
    }
    Ok(out)
}
