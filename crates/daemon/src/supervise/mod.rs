//! Supervision: exits noticed from each runtime's event stream and answered by the
//! restart policy (`events.rs`); the monitor tick samples state and statistics and
//! catches exits the stream missed (`monitor.rs`); the records kept per container
//! (`record.rs`); berthd's process group, so a killed berthd's commands can be ended
//! (`procs.rs`).

mod engine_logs;
pub mod events;
pub mod monitor;
pub mod procs;
pub mod record;
pub mod threads;

#[cfg(test)]
mod tests;

pub use events::{end_stale_event_stream, on_exit, watch_exits};
pub use monitor::{monitor, tick};
pub use procs::{end_orphaned_commands, lead_process_group};
