use crate::exit::Failure;
use crate::{pretty, Ctx};
use berth_api::{paths, Container};

pub fn run(ctx: &Ctx) -> Result<String, Failure> {
    let list: Vec<Container> = ctx.client.get(&paths::containers())?;
    if ctx.json {
        return Ok(pretty(&list));
    }
    let mut out = format!(
        "{:<24} {:<12} {:<8} {:<9} {:<9} {}\n",
        "ID", "VERSION", "RUNTIME", "AUTOSTART", "HEALTH", "NAME"
    );
    for c in list {
        out.push_str(&format!(
            "{:<24} {:<12} {:<8} {:<9} {:<9} {}\n",
            c.id,
            c.version,
            c.runtime,
            c.autostart,
            c.health.as_deref().unwrap_or("-"),
            c.friendly_name
        ));
    }
    Ok(out)
}
