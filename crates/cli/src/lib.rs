//! What the three binaries (berth, berthd, berthctl) share: exit codes and the way
//! errors are printed.

pub mod exit;
