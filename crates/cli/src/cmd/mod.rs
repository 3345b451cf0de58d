pub mod check;
pub mod keygen;
pub mod pack;
