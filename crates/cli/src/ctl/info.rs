use crate::exit::Failure;
use crate::output::human;
use crate::{pretty, Ctx};
use berth_api::{paths, Info};

pub fn run(ctx: &Ctx) -> Result<String, Failure> {
    let info: Info = ctx.client.get(&paths::info())?;
    if ctx.json {
        return Ok(pretty(&info));
    }
    let runtimes: Vec<String> = info
        .runtimes
        .iter()
        .map(|r| format!("{} ({})", r.name, if r.found { "found" } else { "missing" }))
        .collect();
    Ok(format!(
        "berthd:       {}\nworking path: {}\nfree disk:    {}\nruntimes:     {}\n",
        info.version,
        info.working_path,
        human(info.free_bytes),
        runtimes.join(", ")
    ))
}
