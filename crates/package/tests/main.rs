//! Integration tests of the package format, built as one binary.

mod delta;
mod hostile;
mod props;
mod roundtrip;
mod sink;
