//! Integration tests of the provisioning crate, in one binary.

mod crds;
mod fuzzish;
mod invariants;
