//! libdeflate's inflate that also says where the deflate data ended. An indexed
//! member is read by berth as [header][deflate][trailer] cut by its declared length;
//! GNU gzip and Python read the trailer where the deflate data ends. If those two
//! places differ, the same bytes are two different streams to two readers (a crafted
//! layer read as three different tars, issue 21, finding 8), so a member whose
//! deflate data does not end exactly at its trailer is refused. libdeflater has no
//! call that reports the input consumed; libdeflate's `_ex` function does.

use std::ptr::NonNull;

/// Why an inflate failed.
#[derive(Debug, PartialEq, Eq)]
pub enum InflateError {
    BadData,
    /// The output did not fit in the buffer given.
    InsufficientSpace,
}

/// One libdeflate decompressor, used by one thread at a time.
pub struct ExactInflater {
    decompressor: NonNull<libdeflate_sys::libdeflate_decompressor>,
}

#[allow(unsafe_code)]
// SAFETY: a libdeflate decompressor holds no thread-local state; it may move
// between threads, and `&mut self` keeps it to one at a time.
unsafe impl Send for ExactInflater {}

impl Default for ExactInflater {
    fn default() -> Self {
        Self::new()
    }
}

#[allow(unsafe_code)]
impl ExactInflater {
    pub fn new() -> ExactInflater {
        // SAFETY: no arguments; the result is checked for NULL (out of memory).
        let p = unsafe { libdeflate_sys::libdeflate_alloc_decompressor() };
        ExactInflater {
            decompressor: NonNull::new(p).expect("libdeflate: out of memory"),
        }
    }

    /// Inflates the raw deflate data at the start of `input` into `out`; returns the
    /// input bytes the deflate data took and the bytes written.
    pub fn inflate(
        &mut self,
        input: &[u8],
        out: &mut [u8],
    ) -> Result<(usize, usize), InflateError> {
        let (mut taken, mut written) = (0usize, 0usize);
        // SAFETY: both buffers are valid for the lengths passed and do not overlap
        // (one is shared, one exclusive); libdeflate writes at most `out.len()`
        // bytes and the two counts.
        let result = unsafe {
            libdeflate_sys::libdeflate_deflate_decompress_ex(
                self.decompressor.as_ptr(),
                input.as_ptr().cast(),
                input.len(),
                out.as_mut_ptr().cast(),
                out.len(),
                &mut taken,
                &mut written,
            )
        };
        match result {
            libdeflate_sys::libdeflate_result_LIBDEFLATE_SUCCESS => Ok((taken, written)),
            libdeflate_sys::libdeflate_result_LIBDEFLATE_INSUFFICIENT_SPACE => {
                Err(InflateError::InsufficientSpace)
            }
            _ => Err(InflateError::BadData),
        }
    }
}

#[allow(unsafe_code)]
impl Drop for ExactInflater {
    fn drop(&mut self) {
        // SAFETY: allocated by libdeflate_alloc_decompressor, freed once.
        unsafe { libdeflate_sys::libdeflate_free_decompressor(self.decompressor.as_ptr()) }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn deflate(data: &[u8]) -> Vec<u8> {
        let mut c = libdeflater::Compressor::new(libdeflater::CompressionLvl::default());
        let mut out = vec![0; c.deflate_compress_bound(data.len())];
        let n = c.deflate_compress(data, &mut out).unwrap();
        out.truncate(n);
        out
    }

    #[test]
    fn reports_where_the_deflate_data_ends() {
        let data = b"hello hello hello hello".repeat(100);
        let mut input = deflate(&data);
        let len = input.len();
        input.extend_from_slice(b"junk after the end");
        let mut out = vec![0; data.len()];
        let mut d = ExactInflater::new();
        assert_eq!(d.inflate(&input, &mut out), Ok((len, data.len())));
        assert_eq!(out, data);
        let mut small = vec![0; 10];
        assert_eq!(
            d.inflate(&input, &mut small),
            Err(InflateError::InsufficientSpace)
        );
        assert_eq!(
            d.inflate(b"\xff\xff\xff", &mut out),
            Err(InflateError::BadData)
        );
    }
}
