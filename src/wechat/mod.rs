//! The WeChat callback protocol, without I/O: signatures, message encryption, the
//! pushed XML and the passive replies.

pub mod crypto;
pub mod event;
pub mod push;
pub mod reply;
pub mod signature;
pub mod synth;
pub mod xml;

#[cfg(test)]
mod fixture;
