//! Integration tests of the provisioning crate, in one binary.

mod constraints;
mod crds;
mod fuzzish;
mod invariants;
