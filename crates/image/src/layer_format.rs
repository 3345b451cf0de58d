//! How berth writes a layer: gzip (berth-compress's parallel members, the default) or
//! zstd (`application/vnd.oci.image.layer.v1.tar+zstd`), each at a level. Both are
//! written on every core and give the same bytes for any thread count: gzip by its
//! fixed 1 MiB blocks, zstd by its multi-threaded streaming mode, whose output does
//! not depend on the number of workers (always at least one, so one thread writes
//! what many do).

use std::fmt;
use std::io::{self, Write};
use std::str::FromStr;

/// zstd levels berth writes (20 and up need far more memory to read).
pub const ZSTD_LEVELS: std::ops::RangeInclusive<i32> = 1..=19;
/// zstd's own default level.
pub const ZSTD_DEFAULT_LEVEL: i32 = 3;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LayerFormat {
    Gzip { level: u32 },
    Zstd { level: i32 },
}

impl Default for LayerFormat {
    fn default() -> Self {
        LayerFormat::Gzip {
            level: berth_compress::DEFAULT_LEVEL,
        }
    }
}

impl LayerFormat {
    /// The OCI media type of a layer written so.
    pub fn media_type(self) -> oci_spec::image::MediaType {
        match self {
            LayerFormat::Gzip { .. } => oci_spec::image::MediaType::ImageLayerGzip,
            LayerFormat::Zstd { .. } => oci_spec::image::MediaType::ImageLayerZstd,
        }
    }

    /// What decides the bytes besides the input: the encoder, its version and level
    /// (a cached layer is reused only when this is what it was).
    pub fn encoder_id(self) -> String {
        match self {
            LayerFormat::Gzip { level } => format!("{}-level-{level}", berth_compress::FORMAT_ID),
            LayerFormat::Zstd { level } => format!(
                "zstd-{}-mt-level-{level}",
                zstd::zstd_safe::version_string()
            ),
        }
    }

    /// The content written so is what `compression` reads.
    pub fn compression(self) -> crate::layer::Compression {
        match self {
            LayerFormat::Gzip { .. } => crate::layer::Compression::Gzip,
            LayerFormat::Zstd { .. } => crate::layer::Compression::Zstd,
        }
    }

    /// An encoder writing into `out` on `threads` cores.
    pub fn encoder<W: Write>(self, out: W, threads: usize) -> io::Result<LayerEncoder<W>> {
        Ok(match self {
            LayerFormat::Gzip { level } => LayerEncoder::Gzip(
                berth_compress::ParallelGzipWriter::new(out, level, threads)?,
            ),
            LayerFormat::Zstd { level } => {
                let mut z = zstd::stream::write::Encoder::new(out, level)?;
                // Workers ≥ 1 always: the multi-threaded format is the same for any
                // count, and differs from the single-threaded one.
                z.multithread(threads.clamp(1, 256) as u32)?;
                z.include_checksum(true)?;
                LayerEncoder::Zstd(z)
            }
        })
    }
}

impl fmt::Display for LayerFormat {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            LayerFormat::Gzip { level } => write!(f, "gzip:{level}"),
            LayerFormat::Zstd { level } => write!(f, "zstd:{level}"),
        }
    }
}

impl FromStr for LayerFormat {
    type Err = String;

    /// `gzip`, `gzip:LEVEL` (1-12), `zstd` or `zstd:LEVEL` (1-19).
    fn from_str(s: &str) -> Result<Self, String> {
        let (name, level) = match s.split_once(':') {
            Some((name, level)) => (name, Some(level)),
            None => (s, None),
        };
        let gzip = berth_compress::LEVELS;
        match name {
            "gzip" => Ok(LayerFormat::Gzip {
                level: level_in(
                    name,
                    level,
                    berth_compress::DEFAULT_LEVEL.into(),
                    *gzip.start() as i64..=*gzip.end() as i64,
                )? as u32,
            }),
            "zstd" => Ok(LayerFormat::Zstd {
                level: level_in(
                    name,
                    level,
                    ZSTD_DEFAULT_LEVEL.into(),
                    *ZSTD_LEVELS.start() as i64..=*ZSTD_LEVELS.end() as i64,
                )? as i32,
            }),
            other => Err(format!(
                "{other:?} is not a layer compression (gzip[:LEVEL] or zstd[:LEVEL])"
            )),
        }
    }
}

/// `level` (a number in `range`), or `default` when absent.
fn level_in(
    name: &str,
    level: Option<&str>,
    default: i64,
    range: std::ops::RangeInclusive<i64>,
) -> Result<i64, String> {
    let Some(text) = level else {
        return Ok(default);
    };
    let range_text = format!("{name}: {}-{}", range.start(), range.end());
    let n: i64 = text
        .parse()
        .map_err(|_| format!("level {text:?} is not a number ({range_text})"))?;
    match range.contains(&n) {
        true => Ok(n),
        false => Err(format!("level {n} is out of range ({range_text})")),
    }
}

/// A layer being compressed; `finish` ends the stream and gives the output back.
pub enum LayerEncoder<W: Write> {
    Gzip(berth_compress::ParallelGzipWriter<W>),
    Zstd(zstd::stream::write::Encoder<'static, W>),
}

impl<W: Write> Write for LayerEncoder<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match self {
            LayerEncoder::Gzip(g) => g.write(buf),
            LayerEncoder::Zstd(z) => z.write(buf),
        }
    }
    fn flush(&mut self) -> io::Result<()> {
        match self {
            LayerEncoder::Gzip(g) => g.flush(),
            LayerEncoder::Zstd(z) => z.flush(),
        }
    }
}

impl<W: Write> LayerEncoder<W> {
    pub fn finish(self) -> io::Result<W> {
        match self {
            LayerEncoder::Gzip(g) => g.finish(),
            LayerEncoder::Zstd(z) => z.finish(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_are_parsed_with_their_levels_and_defaults() {
        assert_eq!("gzip".parse(), Ok(LayerFormat::Gzip { level: 5 }));
        assert_eq!("gzip:9".parse(), Ok(LayerFormat::Gzip { level: 9 }));
        assert_eq!("zstd".parse(), Ok(LayerFormat::Zstd { level: 3 }));
        assert_eq!("zstd:19".parse(), Ok(LayerFormat::Zstd { level: 19 }));
        let err = "zstd:20".parse::<LayerFormat>().unwrap_err();
        assert!(
            err.contains("level 20 is out of range (zstd: 1-19)"),
            "{err}"
        );
        let err = "gzip:0".parse::<LayerFormat>().unwrap_err();
        assert!(
            err.contains("level 0 is out of range (gzip: 1-12)"),
            "{err}"
        );
        let err = "xz".parse::<LayerFormat>().unwrap_err();
        assert!(err.contains("\"xz\" is not a layer compression"), "{err}");
        let err = "zstd:fast".parse::<LayerFormat>().unwrap_err();
        assert!(err.contains("level \"fast\" is not a number"), "{err}");
    }

    fn compressed(format: LayerFormat, data: &[u8], threads: usize) -> Vec<u8> {
        let mut e = format.encoder(Vec::new(), threads).unwrap();
        // In pieces, as a tar writer hands them over.
        for chunk in data.chunks(100_000) {
            e.write_all(chunk).unwrap();
        }
        e.finish().unwrap()
    }

    #[test]
    fn zstd_layers_are_the_same_bytes_for_any_thread_count_and_read_back() {
        // Enough input for several zstd jobs (a job at level 3 is a few MiB).
        let mut data = Vec::new();
        let mut x: u64 = 7;
        while data.len() < 24 << 20 {
            x = x
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            let word = format!("{} ", x >> 52);
            data.extend_from_slice(word.as_bytes());
        }
        let format = LayerFormat::Zstd { level: 3 };
        let one = compressed(format, &data, 1);
        assert_eq!(one, compressed(format, &data, 2));
        assert_eq!(one, compressed(format, &data, 5));
        assert_eq!(zstd::decode_all(&one[..]).unwrap(), data);
        assert_eq!(crate::layer::Compression::sniff(&one), format.compression());
    }
}
