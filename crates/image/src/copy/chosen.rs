//! The image a reference means, read for a consumer of its layers (unpack, the
//! streamed docker-archive): the manifest chosen for a platform, its config, and the
//! config's diff_ids, checked against the layers in number.

use super::{choose_image, Source, Top};
use crate::digest::Digest;
use crate::error::ImageError;
use crate::manifest::{self, Manifest, MAX_CONFIG};
use crate::platform::Platform;
use oci_spec::image::ImageManifest;
use std::io::Read;

pub struct ChosenImage {
    pub top: Top,
    /// The platform chosen from an index, if the source was one.
    pub platform: Option<String>,
    /// The source and digest, for messages.
    pub what: String,
    pub manifest: ImageManifest,
    pub config: Vec<u8>,
    pub diff_ids: Vec<Digest>,
}

pub fn read_image(
    source: &dyn Source,
    platform: Option<&Platform>,
) -> Result<ChosenImage, ImageError> {
    let (top, platform) = choose_image(source, source.top()?, platform)?;
    let what = format!("{} ({})", source.name(), top.digest);
    let Manifest::Image(image) = manifest::parse(&top.bytes, &what)? else {
        return Err(ImageError::format(what, "an index inside an index"));
    };
    let config = image.config();
    if config.size() > MAX_CONFIG {
        return Err(ImageError::format(what, "config over the size limit"));
    }
    let mut config_bytes = Vec::with_capacity(config.size() as usize);
    source
        .blob(config)?
        .read_to_end(&mut config_bytes)
        .map_err(ImageError::io(format!("{what}: config")))?;
    let diff_ids = manifest::diff_ids(&config_bytes, &format!("{what}: config"))?;
    if diff_ids.len() != image.layers().len() {
        return Err(ImageError::format(
            what,
            "layers and the config's diff_ids differ in number",
        ));
    }
    Ok(ChosenImage {
        top,
        platform,
        what,
        manifest: *image,
        config: config_bytes,
        diff_ids,
    })
}
