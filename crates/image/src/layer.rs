//! Layer compression: told by the content's first bytes (as containers/image does,
//! whatever the media type says), and undone while streaming.

use std::io::{BufRead, Read};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Compression {
    None,
    Gzip,
    Zstd,
}

impl Compression {
    /// The compression `head` (a stream's first bytes) starts with.
    pub fn sniff(head: &[u8]) -> Compression {
        use berth_format::compression::{sniff, Compressed};
        match sniff(head) {
            Some(Compressed::Gzip) => Compression::Gzip,
            Some(Compressed::Zstd) => Compression::Zstd,
            None => Compression::None,
        }
    }

    /// `input` decompressed.
    pub fn reader<'a, R: BufRead + 'a>(self, input: R) -> Box<dyn Read + 'a> {
        match self {
            Compression::None => Box::new(input),
            // Every member of the stream (berth writes many, pigz may too); berth's
            // are inflated on several cores.
            Compression::Gzip => Box::new(berth_compress::ParallelGunzip::new(input)),
            Compression::Zstd => match zstd::stream::read::Decoder::with_buffer(input) {
                Ok(d) => Box::new(d),
                Err(e) => Box::new(ErrReader(Some(e))),
            },
        }
    }
}

/// Sniffs `input`'s compression and returns it decompressed.
pub fn decompressed<'a, R: Read + 'a>(input: R) -> std::io::Result<Box<dyn Read + 'a>> {
    let mut buffered = std::io::BufReader::with_capacity(256 * 1024, input);
    let compression = Compression::sniff(buffered.fill_buf()?);
    Ok(compression.reader(buffered))
}

/// `decompressed`, for a reader that may move to another thread.
pub fn decompressed_send<'a, R: Read + Send + 'a>(
    input: R,
) -> std::io::Result<Box<dyn Read + Send + 'a>> {
    let mut buffered = std::io::BufReader::with_capacity(256 * 1024, input);
    Ok(match Compression::sniff(buffered.fill_buf()?) {
        Compression::None => Box::new(buffered),
        Compression::Gzip => Box::new(berth_compress::ParallelGunzip::new(buffered)),
        Compression::Zstd => Box::new(zstd::stream::read::Decoder::with_buffer(buffered)?),
    })
}

struct ErrReader(Option<std::io::Error>);

impl Read for ErrReader {
    fn read(&mut self, _: &mut [u8]) -> std::io::Result<usize> {
        Err(self
            .0
            .take()
            .unwrap_or_else(|| std::io::Error::other("zstd")))
    }
}
