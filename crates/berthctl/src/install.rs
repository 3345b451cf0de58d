use crate::exit::Failure;
use crate::output::{end_progress, progress_line};
use crate::{pretty, Ctx};
use berth_api::{paths, Installed, Status};
use std::io::Read;
use std::path::PathBuf;

/// Install a package (a file, - for standard input, or a registry reference); an
/// installed id with another version is upgraded in place.
///
/// With docker://HOST/REPO:TAG or docker://HOST/REPO@sha256:… berthd fetches the
/// package `berth push` put there itself, with the credentials and TLS settings of
/// its configuration's `registry` section, and takes its signature from the
/// registry's referrers when the package holds none (berthd built with the
/// `device-registry` feature). With --follow berthd keeps following the tag and
/// installs what it names next (berthctl updates; docs/fleet-updates.md).
///
/// Examples:
///   berthctl install app-runc-gw.tar.gz
///   berthctl install docker://registry.example/fleet/app:stable --follow
#[derive(clap::Args)]
#[command(verbatim_doc_comment)]
pub struct InstallArgs {
    /// The package: berth pack's .tar.gz / .tar.zst, - to read standard input, or
    /// docker://HOST/REPO:TAG|@DIGEST.
    package: PathBuf,
    /// Replace the same version if it is installed already.
    #[arg(long)]
    force: bool,
    /// Return once the new version has started, not when its probation ends (an
    /// upgrade is committed, or rolled back, when it does: `status` tells).
    #[arg(long)]
    no_wait: bool,
    /// Keep following the tag (docker://HOST/REPO:TAG): berthd checks it every
    /// updates.interval seconds and installs a new package it names.
    #[arg(long)]
    follow: bool,
}

pub fn run(ctx: &Ctx, args: InstallArgs) -> Result<String, Failure> {
    let package = &args.package;
    if let Some(reference) = package.to_str().filter(|p| p.starts_with("docker://")) {
        let answer = ctx.client.request(
            "POST",
            &paths::packages_from(reference, args.force, args.follow),
            None,
            None,
        );
        let done: Installed = answer?.decode()?;
        return finish(ctx, &args, done);
    }
    if args.follow {
        return Err(Failure::bad_input(format!(
            "--follow needs a registry tag (docker://HOST/REPO:TAG), not {}",
            package.display()
        )));
    }
    let (mut input, total): (Box<dyn Read>, Option<u64>) = if package.as_os_str() == "-" {
        (Box::new(std::io::stdin().lock()), None)
    } else {
        let file = std::fs::File::open(package)
            .map_err(|e| Failure::failed(format!("{}: cannot read: {e}", package.display())))?;
        let len = file.metadata().ok().map(|m| m.len());
        (Box::new(file), len)
    };
    let mut progress = progress_line(total);
    let answer = ctx.client.request(
        "POST",
        &paths::packages(args.force),
        Some((&input_name(package), &mut *input, &mut progress)),
        None,
    );
    end_progress();
    let done: Installed = answer?.decode()?;
    finish(ctx, &args, done)
}

/// Waits out an upgrade's probation, unless told not to: exit 1, naming the reason,
/// when it was rolled back.
fn finish(ctx: &Ctx, args: &InstallArgs, done: Installed) -> Result<String, Failure> {
    if done.probation_until.is_none() {
        return Ok(report(ctx, &done, None));
    }
    if args.no_wait {
        return Ok(report(ctx, &done, Some(", on probation")));
    }
    if !ctx.json {
        eprintln!(
            "{} {}: on probation until {}",
            done.id,
            done.version,
            done.probation_until.as_deref().unwrap_or("?")
        );
    }
    // Over when the probation is, or when another version is registered and its
    // record says why (the record follows the registration).
    let status = loop {
        std::thread::sleep(std::time::Duration::from_millis(500));
        let st: Status = ctx.client.get(&paths::container(&done.id, &["status"]))?;
        let rolled_back = st
            .rolled_back
            .as_ref()
            .is_some_and(|r| r.from == done.version);
        if (st.version == done.version && st.probation_until.is_none())
            || (st.version != done.version && rolled_back)
        {
            break st;
        }
    };
    match &status.rolled_back {
        Some(r) if r.from == done.version && status.version != done.version => {
            Err(Failure::failed(format!(
                "{} {} was rolled back to {}: {}",
                done.id, done.version, status.version, r.reason
            )))
        }
        _ => Ok(report(ctx, &done, Some(", passed its probation"))),
    }
}

/// How errors name the package read: its path, or standard input for `-`.
fn input_name(package: &std::path::Path) -> String {
    match package.as_os_str() == "-" {
        true => "standard input".into(),
        false => package.display().to_string(),
    }
}

/// The install, for people; `probation` what became of an upgrade's probation.
fn report(ctx: &Ctx, done: &Installed, probation: Option<&str>) -> String {
    if ctx.json {
        return pretty(done);
    }
    let mut line = format!("installed {} {}", done.id, done.version);
    if let Some(old) = &done.replaced {
        line.push_str(&format!(" (replaced {old})"));
    }
    line.push_str(if done.started {
        ", running"
    } else {
        ", not started (autostart off)"
    });
    if let Some(probation) = probation {
        line.push_str(probation);
    }
    line + "\n"
}

#[cfg(test)]
mod tests {
    #[test]
    fn a_package_from_standard_input_is_named_so_in_errors() {
        assert_eq!(super::input_name("-".as_ref()), "standard input");
        assert_eq!(super::input_name("./app.tar.gz".as_ref()), "./app.tar.gz");
    }
}
