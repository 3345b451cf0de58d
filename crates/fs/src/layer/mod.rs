//! Untrusted tar streams applied to a root: an image layer (whiteouts applied or
//! kept as overlayfs marks) or a bundle's archive, each within `LayerLimits`.

mod apply;
mod guard;

pub use apply::{apply, Applied, EntryError, Options, Whiteouts};
pub use guard::{LayerLimits, Refusal, TarGuard};
