use super::*;
use std::io::{Read, Write};

fn gunzip_flate2(bytes: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    flate2::read::MultiGzDecoder::new(bytes)
        .read_to_end(&mut out)
        .unwrap();
    out
}

fn gunzip_parallel(bytes: &[u8], threads: usize) -> std::io::Result<Vec<u8>> {
    let mut out = Vec::new();
    ParallelGunzip::with_threads(bytes, threads).read_to_end(&mut out)?;
    Ok(out)
}

fn sample(n: usize) -> Vec<u8> {
    let mut v = Vec::with_capacity(n);
    let mut i = 0u64;
    while v.len() < n {
        v.extend_from_slice(format!("line {i} of the sample data {}\n", i % 7).as_bytes());
        i += 1;
    }
    v.truncate(n);
    v
}

fn par_gzip(data: &[u8], threads: usize) -> Vec<u8> {
    let mut w = ParallelGzipWriter::new(Vec::new(), DEFAULT_LEVEL, threads).unwrap();
    w.write_all(data).unwrap();
    w.finish().unwrap()
}

fn stream_gzip(data: &[u8]) -> Vec<u8> {
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::new(6));
    e.write_all(data).unwrap();
    e.finish().unwrap()
}

#[test]
fn output_round_trips_and_does_not_depend_on_thread_count() {
    for n in [0, 1, PAR_BLOCK - 1, PAR_BLOCK, 3 * PAR_BLOCK + 17] {
        let data = sample(n);
        let one = par_gzip(&data, 1);
        let three = par_gzip(&data, 3);
        assert_eq!(one, three, "n={n}");
        assert!(gunzip_flate2(&one) == data, "n={n}");
        assert!(gunzip_parallel(&one, 3).unwrap() == data, "n={n}");
    }
}

#[test]
fn gnu_gzip_reads_the_members_as_one_stream() {
    let data = sample(2 * PAR_BLOCK + 99);
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("x.gz");
    std::fs::write(&path, par_gzip(&data, 2)).unwrap();
    let out = std::process::Command::new("gzip")
        .arg("-dc")
        .arg(&path)
        .output()
        .expect("gzip must be installed (scripts/setup.sh)");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.stdout == data);
}

#[test]
fn output_is_no_larger_than_one_zlib_stream() {
    let data = sample(4 * PAR_BLOCK);
    let par = par_gzip(&data, 2).len() as f64;
    let single = stream_gzip(&data).len() as f64;
    assert!(par / single < 1.01, "parallel {par} vs single {single}");
}

#[test]
fn write_sizes_change_nothing() {
    let data = sample(3 * PAR_BLOCK + 5);
    let mut w = ParallelGzipWriter::new(Vec::new(), DEFAULT_LEVEL, 2).unwrap();
    for chunk in data.chunks(7777) {
        w.write_all(chunk).unwrap();
    }
    assert_eq!(w.finish().unwrap(), par_gzip(&data, 1));
}

#[test]
fn every_member_declares_its_own_length() {
    let stream = par_gzip(&sample(3 * PAR_BLOCK + 5), 2);
    let mut at = 0;
    let mut members = 0;
    while at < stream.len() {
        let len = member::indexed_len(&stream[at..]).expect("an indexed member") as usize;
        at += len;
        members += 1;
    }
    assert_eq!((at, members), (stream.len(), 4));
}

#[test]
fn the_reader_reads_streams_of_any_members() {
    let head = sample(70_000);
    let body = sample(2 * PAR_BLOCK + 3);
    let tail = sample(5000);
    let mut mixed = stream_gzip(&head);
    mixed.extend(par_gzip(&body, 2));
    mixed.extend(stream_gzip(&tail));
    mixed.extend(par_gzip(&head, 1));
    let mut expected = head.clone();
    expected.extend(&body);
    expected.extend(&tail);
    expected.extend(&head);
    for threads in [1, 4] {
        let got = gunzip_parallel(&mixed, threads).unwrap();
        assert!(got == expected, "{} bytes of {}", got.len(), expected.len());
    }
    let got = gunzip_parallel(&stream_gzip(&body), 2).unwrap();
    assert!(
        got == body,
        "stream member: {} bytes of {}",
        got.len(),
        body.len()
    );
    assert_eq!(gunzip_parallel(&[], 2).unwrap(), b"");
}

fn error_of(bytes: &[u8]) -> String {
    gunzip_parallel(bytes, 2)
        .expect_err("a broken stream must not read")
        .to_string()
}

#[test]
fn broken_members_are_refused_with_their_offset() {
    let data = sample(2 * PAR_BLOCK);
    let good = par_gzip(&data, 2);
    let first = member::indexed_len(&good).unwrap() as usize;

    let truncated = &good[..good.len() - 100];
    assert!(error_of(truncated).contains(&format!("member at byte {first}: truncated")));

    let mut flipped = good.clone();
    flipped[first + 40] ^= 0x55;
    let e = error_of(&flipped);
    assert!(e.contains(&format!("member at byte {first}")), "{e}");

    let mut bad_crc = good.clone();
    bad_crc[first - 8] ^= 1;
    assert!(error_of(&bad_crc).contains("byte 0: CRC-32 mismatch"));

    let mut huge_len = good.clone();
    huge_len[16..20].copy_from_slice(&u32::MAX.to_le_bytes());
    assert!(error_of(&huge_len).contains("byte 0: declares a length of"));

    let mut huge_size = good.clone();
    huge_size[first - 4..first].copy_from_slice(&u32::MAX.to_le_bytes());
    assert!(error_of(&huge_size).contains("more than 1048576"));

    let mut small_size = good.clone();
    small_size[first - 4..first].copy_from_slice(&1000u32.to_le_bytes());
    assert!(error_of(&small_size).contains("inflates to more than the 1000 bytes"));

    let mut garbage = good;
    garbage.extend_from_slice(b"not gzip at all");
    assert!(gunzip_parallel(&garbage, 2).is_err());
}

/// Issue 21, finding 8: an indexed member whose deflate data ends before its
/// trailer. berth read the member by its declared length; GNU gzip and Python read a
/// trailer where the deflate data ends, and the rest as more members: one layer,
/// three tars. Here it is refused.
#[test]
fn a_member_whose_deflate_data_ends_before_its_trailer_is_refused() {
    let data = sample(1000);
    let mut c = libdeflater::Compressor::new(libdeflater::CompressionLvl::default());
    let mut deflated = vec![0; c.deflate_compress_bound(data.len())];
    let n = c.deflate_compress(&data, &mut deflated).unwrap();
    deflated.truncate(n);
    let crc = libdeflater::crc32(&data).to_le_bytes();
    let size = (data.len() as u32).to_le_bytes();
    // [header][deflate][a trailer others read][hidden bytes][the trailer berth reads]
    let hidden = b"\x1f\x8b more members, for other readers";
    let len = member::INDEXED_HEADER_LEN + n + 8 + hidden.len() + 8;
    let mut crafted = member::indexed_header(len as u32).to_vec();
    crafted.extend_from_slice(&deflated);
    crafted.extend_from_slice(&crc);
    crafted.extend_from_slice(&size);
    crafted.extend_from_slice(hidden);
    crafted.extend_from_slice(&crc);
    crafted.extend_from_slice(&size);
    assert_eq!(crafted.len(), len);
    let e = error_of(&crafted);
    let gap = 8 + hidden.len();
    assert!(
        e.contains(&format!(
            "byte 0: its deflate data ends {gap} bytes before its trailer"
        )),
        "{e}"
    );
    // The same member made honestly reads.
    let mut honest = member::indexed_header((member::INDEXED_HEADER_LEN + n + 8) as u32).to_vec();
    honest.extend_from_slice(&deflated);
    honest.extend_from_slice(&crc);
    honest.extend_from_slice(&size);
    assert_eq!(gunzip_parallel(&honest, 2).unwrap(), data);
}
