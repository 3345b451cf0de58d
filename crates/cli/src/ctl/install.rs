use crate::exit::Failure;
use crate::output::{end_progress, progress_line};
use crate::{pretty, Ctx};
use berth_api::{paths, Installed};
use std::io::Read;
use std::path::PathBuf;

/// Install a package (a file, or - for standard input); an installed id with another
/// version is upgraded in place.
#[derive(clap::Args)]
pub struct InstallArgs {
    /// The package: berth pack's .tar.gz / .tar.zst, or - to read standard input.
    package: PathBuf,
    /// Replace the same version if it is installed already.
    #[arg(long)]
    force: bool,
}

pub fn run(ctx: &Ctx, args: InstallArgs) -> Result<String, Failure> {
    let package = &args.package;
    let (mut input, total): (Box<dyn Read>, Option<u64>) = if package.as_os_str() == "-" {
        (Box::new(std::io::stdin().lock()), None)
    } else {
        let file = std::fs::File::open(package)
            .map_err(|e| Failure::bad_input(format!("{}: {e}", package.display())))?;
        let len = file.metadata().ok().map(|m| m.len());
        (Box::new(file), len)
    };
    let mut progress = progress_line(total);
    let answer = ctx.client.request(
        "POST",
        &paths::packages(args.force),
        Some((&mut *input, &mut progress)),
        None,
    );
    end_progress();
    let done: Installed = answer?.decode()?;
    if ctx.json {
        return Ok(pretty(&done));
    }
    let mut line = format!("installed {} {}", done.id, done.version);
    if let Some(old) = &done.replaced {
        line.push_str(&format!(" (replaced {old})"));
    }
    line.push_str(if done.started {
        ", running\n"
    } else {
        ", not started (autostart off)\n"
    });
    Ok(line)
}
