pub mod bundle;
pub mod check;
pub mod image;
pub mod keygen;
pub mod pack;
pub mod pack_image;
pub mod pull;
pub mod push;
