//! Integration tests of the package format, built as one binary.

mod hostile;
mod props;
mod roundtrip;
mod sink;
