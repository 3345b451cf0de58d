//! `berth image inspect REF`.

use super::{failure, parse_ref, RegistryArgs};
use crate::exit::{print, print_json, Failure};
use berth_image::copy::choose_image;
use berth_image::manifest::{self, Manifest, MAX_CONFIG};
use berth_image::{ImageError, ImageRef, Platform};
use berth_registry::RegistrySource;
use serde_json::{json, Value};
use std::io::Read;

/// Show an image: digest, tags, platforms of an index, layers with sizes, config.
///
/// The fields and names are skopeo inspect's (Name, Digest, RepoTags, Created,
/// Architecture, Os, Layers, LayersData, Env, Labels), plus Platforms for an index.
/// Digest is the digest of what REF names (an index's, for a multi-platform image);
/// the details are those of the manifest for --platform (default: this host's).
#[derive(clap::Args)]
pub struct InspectArgs {
    #[arg(value_name = "REF")]
    reference: String,
    /// Print the manifest or index as stored, byte for byte.
    #[arg(long, conflicts_with = "config")]
    raw: bool,
    /// Print the image config (of the chosen platform's manifest).
    #[arg(long)]
    config: bool,
    /// Print JSON (the default prints the same fields as text).
    #[arg(long)]
    json: bool,
    #[arg(long, value_name = "OS/ARCH[/VARIANT]")]
    platform: Option<Platform>,
    #[command(flatten)]
    registry: RegistryArgs,
}

pub fn run(args: InspectArgs) -> Result<(), Failure> {
    let reference = parse_ref(&args.reference)?;
    let options = args.registry.options();
    let source = berth_registry::source(&reference, &options).map_err(failure)?;
    let top = source.top().map_err(failure)?;
    if args.raw {
        // As stored, without a newline added: `| sha256sum` gives the digest.
        return print(&String::from_utf8_lossy(&top.bytes));
    }
    let what = format!("{} ({})", source.name(), top.digest);
    let platforms: Vec<String> =
        match manifest::parse(&top.bytes, &what).map_err(|e| failure(e.into()))? {
            Manifest::Index(index) => index
                .manifests()
                .iter()
                .filter_map(manifest::platform_of)
                .map(|p| p.to_string())
                .collect(),
            Manifest::Image(_) => Vec::new(),
        };
    let top_digest = top.digest.to_string();
    let (image, _) = choose_image(&*source, top, args.platform.as_ref()).map_err(failure)?;
    let Manifest::Image(m) = manifest::parse(&image.bytes, &what).map_err(|e| failure(e.into()))?
    else {
        return Err(failure(ImageError::format(
            what,
            "an index inside an index",
        )));
    };
    if m.config().size() > MAX_CONFIG {
        return Err(failure(ImageError::format(
            what,
            "config over the size limit",
        )));
    }
    let mut config_bytes = Vec::new();
    source
        .blob(m.config())
        .map_err(failure)?
        .read_to_end(&mut config_bytes)
        .map_err(|e| failure(ImageError::io(format!("{what}: config"))(e)))?;
    if args.config {
        let mut text = String::from_utf8_lossy(&config_bytes).into_owned();
        text.push('\n');
        return print(&text);
    }
    let config: Value = serde_json::from_slice(&config_bytes).unwrap_or(Value::Null);
    let tags = match &reference {
        ImageRef::Registry(r) => RegistrySource::new(r.clone(), &options)
            .tags()
            .map_err(|e| failure(e.into()))?,
        _ => Vec::new(),
    };
    let layers: Vec<Value> = m
        .layers()
        .iter()
        .map(|l| json!({"MIMEType": l.media_type().to_string(), "Digest": l.digest().to_string(), "Size": l.size(), "Annotations": l.annotations()}))
        .collect();
    let mut out = json!({
        "Name": name_of(&reference),
        "Digest": top_digest,
        "RepoTags": tags,
        "Created": config.get("created"),
        "Architecture": config.get("architecture"),
        "Variant": config.get("variant"),
        "Os": config.get("os"),
        "Layers": m.layers().iter().map(|l| l.digest().to_string()).collect::<Vec<_>>(),
        "LayersData": layers,
        "Env": config.pointer("/config/Env"),
        "Labels": config.pointer("/config/Labels"),
    });
    if !platforms.is_empty() {
        out["Platforms"] = json!(platforms);
        out["ManifestDigest"] = json!(image.digest.to_string());
    }
    if args.json {
        return print_json(&out);
    }
    print(&text_of(&out))
}

fn name_of(r: &ImageRef) -> String {
    match r {
        ImageRef::Registry(r) => format!("{}/{}", r.registry, r.repository),
        ImageRef::OciLayout { dir, .. } => dir.display().to_string(),
        ImageRef::OciArchive { file, .. } | ImageRef::DockerArchive { file, .. } => {
            file.display().to_string()
        }
    }
}

fn text_of(v: &Value) -> String {
    let mut s = String::new();
    let field = |k: &str| match v.get(k) {
        Some(Value::String(x)) => x.clone(),
        Some(Value::Null) | None => "-".into(),
        Some(other) => other.to_string(),
    };
    for k in [
        "Name",
        "Digest",
        "ManifestDigest",
        "Created",
        "Os",
        "Architecture",
        "Variant",
    ] {
        if v.get(k).is_some_and(|x| !x.is_null()) {
            s.push_str(&format!("{k:<15}{}\n", field(k)));
        }
    }
    let list = |k: &str| -> Vec<String> {
        v.get(k)
            .and_then(Value::as_array)
            .map(|a| {
                a.iter()
                    .map(|x| x.as_str().unwrap_or("").to_string())
                    .collect()
            })
            .unwrap_or_default()
    };
    for k in ["Platforms", "RepoTags", "Env"] {
        let items = list(k);
        if !items.is_empty() {
            s.push_str(&format!("{k:<15}{}\n", items.join(", ")));
        }
    }
    if let Some(labels) = v.get("Labels").and_then(Value::as_object) {
        for (k, x) in labels {
            s.push_str(&format!(
                "{:<15}{k}={}\n",
                "Label",
                x.as_str().unwrap_or("")
            ));
        }
    }
    if let Some(layers) = v.get("LayersData").and_then(Value::as_array) {
        s.push_str("Layers\n");
        for l in layers {
            s.push_str(&format!(
                "  {}  {:>12}  {}\n",
                l["Digest"].as_str().unwrap_or(""),
                l["Size"],
                l["MIMEType"].as_str().unwrap_or("")
            ));
        }
    }
    s
}
