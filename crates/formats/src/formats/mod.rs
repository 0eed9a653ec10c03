//! One parser per export format.

pub mod mht;
pub mod qce;
pub mod qq_txt;
