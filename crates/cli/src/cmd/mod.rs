pub mod check;
pub mod image;
pub mod keygen;
pub mod pack;
pub mod pull;
pub mod push;
