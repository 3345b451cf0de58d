use crate::exit::Failure;
use crate::output::human;
use crate::{pretty, Ctx};
use berth_api::{paths, Info};

pub fn run(ctx: &Ctx) -> Result<String, Failure> {
    let info: Info = ctx.client.get(&paths::info())?;
    if ctx.json {
        return Ok(pretty(&info));
    }
    let mut out = format!(
        "berthd:       {}\nworking path: {}\nfree disk:    {}\nruntimes:\n",
        info.version,
        info.working_path,
        human(info.free_bytes),
    );
    for r in &info.runtimes {
        let how = match (&r.engine, &r.unavailable) {
            (_, Some(why)) if !r.found => format!("not available: {why}"),
            (Some(engine), _) => format!("runs on {engine}"),
            _ => "available".into(),
        };
        out.push_str(&format!("  {:<8} {how}\n", r.name));
    }
    if !info.previous.is_empty() {
        out.push_str("kept for rollback:\n");
        for p in &info.previous {
            out.push_str(&format!("  {} {} ({})\n", p.id, p.version, human(p.bytes)));
        }
    }
    Ok(out)
}
