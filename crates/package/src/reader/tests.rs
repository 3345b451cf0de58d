//! The reader's unit tests.

use super::verdict::parse_sums;
use super::*;

#[test]
fn names_are_checked() {
    assert_eq!(
        checked_name(b"./payload/image.tar").unwrap(),
        "payload/image.tar"
    );
    assert_eq!(checked_name(b"checksums/").unwrap(), "checksums");
    assert!(checked_name(b"/etc/passwd").is_err());
    assert!(checked_name(b"payload/../../x").is_err());
    assert!(checked_name(b"a//b").is_err());
    assert!(checked_name(b"\xff\xfe").is_err());
}

#[test]
fn sums_lines_in_both_modes() {
    let h = "a".repeat(64);
    let text = format!("{h}  payload/image.tar\n{h} *metadata/README.txt\n");
    let lines = parse_sums(text.as_bytes()).unwrap();
    assert_eq!(lines[0].1, "payload/image.tar");
    assert_eq!(lines[1].1, "metadata/README.txt");
    assert!(parse_sums(b"nonsense\n").is_err());
}
