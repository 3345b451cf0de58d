//! Container logs: reading, following, rotating, the console and json-file pumps.

use super::*;
use std::io::Write;

#[test]
fn reads_both_files_with_since_tail_and_partial_lines() {
    let dir = tempfile::tempdir().unwrap();
    fs::create_dir_all(super::dir(dir.path())).unwrap();
    let p = path(dir.path(), "web");
    let mut old = File::create(rotated(&p)).unwrap();
    k8s(&mut old, "2026-01-01T00:00:00.100000000+00:00", "F", "one");
    let mut cur = File::create(&p).unwrap();
    k8s(&mut cur, "2026-01-01T00:00:01.500000000+00:00", "P", "two-");
    k8s(
        &mut cur,
        "2026-01-01T00:00:01.600000000+00:00",
        "F",
        "and-a-half",
    );
    k8s(
        &mut cur,
        "2026-01-01T00:00:02.000000000+00:00",
        "F",
        "three",
    );
    let (all, _) = read(dir.path(), "web", None, None).unwrap();
    assert_eq!(all, b"one\ntwo-and-a-half\nthree\n");
    let since = humantime::parse_rfc3339("2026-01-01T00:00:01.550Z").unwrap();
    let (later, _) = read(dir.path(), "web", Some(since), None).unwrap();
    assert_eq!(later, b"and-a-half\nthree\n");
    let (last, _) = read(dir.path(), "web", None, Some(1)).unwrap();
    assert_eq!(last, b"three\n");
}

#[test]
fn dockers_json_log_is_moved_with_its_times_and_streams_whole_lines_only() {
    let dir = tempfile::tempdir().unwrap();
    fs::create_dir_all(super::dir(dir.path())).unwrap();
    let source = dir.path().join("c-json.log");
    let append = |text: &str| {
        let mut f = File::options()
            .create(true)
            .append(true)
            .open(&source)
            .unwrap();
        f.write_all(text.as_bytes()).unwrap();
    };
    append(concat!(
        r#"{"log":"one\n","stream":"stdout","time":"2026-01-01T00:00:01.5Z"}"#,
        "\n",
        r#"{"log":"a long line cut by docker ","stream":"stderr","time":"2026-01-01T00:00:02Z"}"#,
        "\n",
        r#"{"log":"ends here\n","stream":"stderr","time":"2026-01-01T00:00:02.1Z"}"#,
        "\n",
        "not docker's json\n",
        r#"{"log":"half-writ"#,
    ));
    // The line being written stays for the next move; the rest goes.
    let reached = pump_json_log(dir.path(), "web", &source, 0).unwrap();
    assert!(reached > 0);
    let (all, _) = read(dir.path(), "web", None, None).unwrap();
    assert_eq!(all, b"one\na long line cut by docker ends here\n");
    let since = humantime::parse_rfc3339("2026-01-01T00:00:02Z").unwrap();
    let (later, _) = read(dir.path(), "web", Some(since), None).unwrap();
    assert_eq!(later, b"a long line cut by docker ends here\n");
    let log = fs::read_to_string(path(dir.path(), "web")).unwrap();
    assert!(log.contains(" stderr P a long line"), "{log}");
    // Once whole, it moves, and the source is emptied (Docker appends).
    append(r#"ten\n","stream":"stdout","time":"2026-01-01T00:00:03Z"}"#);
    append("\n");
    assert_eq!(
        pump_json_log(dir.path(), "web", &source, reached).unwrap(),
        0
    );
    assert_eq!(fs::metadata(&source).unwrap().len(), 0);
    let (all, _) = read(dir.path(), "web", None, Some(1)).unwrap();
    assert_eq!(all, b"half-written\n");
    // Zeros where an emptied file was written at its old offset are skipped.
    append("\0\0\0");
    append(r#"{"log":"after\n","stream":"stdout","time":"2026-01-01T00:00:04Z"}"#);
    append("\n");
    pump_json_log(dir.path(), "web", &source, 0).unwrap();
    let (all, _) = read(dir.path(), "web", None, Some(1)).unwrap();
    assert_eq!(all, b"after\n");
}

#[test]
fn console_output_is_moved_into_the_log_with_times() {
    let dir = tempfile::tempdir().unwrap();
    fs::create_dir_all(console_dir(dir.path())).unwrap();
    let console = console_path(dir.path(), "box");
    let append = |text: &str| {
        let mut f = File::options()
            .create(true)
            .append(true)
            .open(&console)
            .unwrap();
        std::io::Write::write_all(&mut f, text.as_bytes()).unwrap();
    };
    let before = SystemTime::now();
    append("hello\r\nhalf a ");
    assert_eq!(pump_console(dir.path(), "box", 0).unwrap(), 0);
    assert_eq!(
        fs::metadata(&console).unwrap().len(),
        0,
        "emptied once moved"
    );
    append("line\r\n");
    assert_eq!(pump_console(dir.path(), "box", 0).unwrap(), 0);
    let (all, _) = read(dir.path(), "box", None, None).unwrap();
    assert_eq!(all, b"hello\nhalf a line\n");
    let (since, _) = read(dir.path(), "box", Some(before), None).unwrap();
    assert_eq!(since, all, "stamped when moved, not before");
    let later = SystemTime::now() + Duration::from_secs(1);
    assert!(read(dir.path(), "box", Some(later), None)
        .unwrap()
        .0
        .is_empty());
    // No console log (yet): nothing to do.
    assert_eq!(pump_console(dir.path(), "none", 0).unwrap(), 0);
}

/// A log of `web` just past the rotation size: its path, the file open for
/// appending, and how many lines it has.
fn log_past_rotation(working_path: &Path) -> (PathBuf, File, usize) {
    fs::create_dir_all(super::dir(working_path)).unwrap();
    let p = path(working_path, "web");
    let mut f = File::create(&p).unwrap();
    let lines = ROTATE_AT as usize / 40 + 1;
    for i in 0..lines {
        let text = format!("line {i:08}");
        k8s(&mut f, "2026-01-01T00:00:00.000000000+00:00", "F", &text);
    }
    (p, f, lines)
}

#[test]
fn rotation_keeps_one_old_file_and_reading_skips_the_hole() {
    let dir = tempfile::tempdir().unwrap();
    let (_, mut f, lines) = log_past_rotation(dir.path());
    assert!(rotate_if_needed(dir.path(), "web").unwrap());
    assert!(
        !rotate_if_needed(dir.path(), "web").unwrap(),
        "nothing left to rotate"
    );
    k8s(&mut f, "2026-01-01T00:00:01.000000000+00:00", "F", "after");
    let (text, _) = read(dir.path(), "web", None, None).unwrap();
    let text = String::from_utf8(text).unwrap();
    assert_eq!(
        text.lines().count(),
        lines + 1,
        "every line once, none lost"
    );
    assert!(text.ends_with(&format!("line {:08}\nafter\n", lines - 1)));
    assert!(!text.contains('\0'));
    assert!(!rotate_if_needed(dir.path(), "nothing").unwrap());
}

#[test]
fn on_a_filesystem_without_holes_rotation_keeps_the_partial_line_and_empties_the_rest() {
    let dir = tempfile::tempdir().unwrap();
    let (p, mut f, lines) = log_past_rotation(dir.path());
    f.write_all(b"2026-01-01T00:00:01.000000000+00:00 stdout P half")
        .unwrap();
    let unsupported = |_: &File, _: u64| Err(io::Error::from(io::ErrorKind::Unsupported));
    assert!(rotate(&p, unsupported).unwrap());
    let live = fs::read(&p).unwrap();
    assert_eq!(live, b"2026-01-01T00:00:01.000000000+00:00 stdout P half");
    let (text, _) = read(dir.path(), "web", None, None).unwrap();
    let text = String::from_utf8(text).unwrap();
    assert_eq!(text.lines().count(), lines + 1);
    assert!(text.ends_with("half"), "{text}");
}

/// Regression: rotation copied the file and then truncated it, losing what the
/// container wrote in between.
#[test]
fn rotation_loses_nothing_a_writer_appends_meanwhile() {
    let dir = tempfile::tempdir().unwrap();
    fs::create_dir_all(super::dir(dir.path())).unwrap();
    let p = path(dir.path(), "web");
    let writer = {
        let p = p.clone();
        std::thread::spawn(move || {
            let mut f = File::options().create(true).append(true).open(&p).unwrap();
            for i in 0..100_000 {
                k8s(
                    &mut f,
                    "2026-01-01T00:00:00.000000000+00:00",
                    "F",
                    &format!("n {i}"),
                );
            }
        })
    };
    let mut rotations = 0;
    let mut seen = Vec::new();
    while !writer.is_finished() {
        if rotate_if_needed(dir.path(), "web").unwrap() {
            rotations += 1;
            // Only the newest rotated file is kept: collect what it held.
            seen.extend(render(&fs::read(rotated(&p)).unwrap(), None));
        }
    }
    writer.join().unwrap();
    assert!(rotations >= 1, "the test rotated {rotations} times");
    let (rest, _) = read(dir.path(), "web", None, None).unwrap();
    let rotated_now = fs::read(rotated(&p)).unwrap();
    // What the last read returned includes the newest rotated file again.
    let rest = &rest[render(&rotated_now, None).len()..];
    seen.extend_from_slice(rest);
    let all = String::from_utf8(seen).unwrap();
    let numbers: Vec<u32> = all
        .lines()
        .map(|l| l.trim_start_matches("n ").parse().unwrap())
        .collect();
    assert_eq!(numbers, (0..100_000).collect::<Vec<u32>>());
}

/// Regression: the log was read as a string, so output that is not UTF-8 broke
/// `logs` and stalled `logs --follow`.
#[test]
fn output_that_is_not_utf8_is_read_and_followed() {
    let dir = tempfile::tempdir().unwrap();
    fs::create_dir_all(super::dir(dir.path())).unwrap();
    let p = path(dir.path(), "bin");
    let mut f = File::create(&p).unwrap();
    f.write_all(b"2026-01-01T00:00:00.000000000+00:00 stdout F \xff\xfe raw\n")
        .unwrap();
    let (text, end) = read(dir.path(), "bin", None, None).unwrap();
    assert_eq!(text, b"\xff\xfe raw\n");
    f.write_all(b"2026-01-01T00:00:01.000000000+00:00 stdout F more \xc3\n")
        .unwrap();
    f.write_all(b"2026-01-01T00:00:02.000000000+00:00 stdout F last\n")
        .unwrap();
    let mut got = Vec::new();
    follow(dir.path(), "bin", end, |more| {
        got.extend(more);
        !got.ends_with(b"last\n")
    });
    assert_eq!(got, b"more \xc3\nlast\n");
}

#[test]
fn since_takes_times_and_durations() {
    assert!(parse_since("2026-01-01T00:00:00Z").is_ok());
    let t = parse_since("10m").unwrap();
    let ago = SystemTime::now().duration_since(t).unwrap();
    assert!(ago >= Duration::from_secs(600) && ago < Duration::from_secs(700));
    assert!(parse_since("yesterday-ish").is_err());
    // Regression: a huge duration panicked ("overflow when subtracting").
    assert!(parse_since("400000000000y").is_err());
}

/// Writes `text` to `out`, for tests of the format.
fn k8s(out: &mut impl Write, time: &str, tag: &str, text: &str) {
    writeln!(out, "{time} stdout {tag} {text}").unwrap();
}
