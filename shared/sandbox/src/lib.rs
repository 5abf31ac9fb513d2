//! The nodeless sandbox: a Kubernetes API emulator served over HTTPS on 127.0.0.1, which
//! the functions, the tests, `kubectl` and the CLI reach exactly as they would reach EKS.
pub mod actors;
pub mod aws;
pub mod crds;
mod error;
pub mod kube;

pub use error::{Error, Result};
