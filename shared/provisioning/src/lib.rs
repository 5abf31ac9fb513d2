//! nodeless provisioning: Karpenter-compatible policy, the instance-type catalog and the
//! scheduling simulation that decides what to launch. Pure: no I/O, no async, no clients;
//! the functions and the CLI feed it objects and act on its decisions.

pub mod catalog;
pub mod error;
pub mod quantity;
pub mod resources;

pub use error::{Error, Result};
