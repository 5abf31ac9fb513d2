//! nodeless provisioning: Karpenter-compatible policy, the instance-type catalog and the
//! scheduling simulation that decides what to launch. Pure: no I/O, no async, no clients;
//! the functions and the CLI feed it objects and act on its decisions.

pub mod api;
pub mod catalog;
pub mod error;
pub mod input;
pub mod labels;
pub mod model;
pub mod quantity;
pub mod report;
pub mod requirements;
pub mod resources;
pub mod scheduling;
pub mod selector;
pub mod taints;

pub use error::{Error, Result};

use catalog::Catalog;
use input::Manifests;
use model::{FargateProfile, Problem};
use scheduling::Solution;

/// The whole decision: what would be launched for these manifests on this catalog.
/// Returns the solution and notes worth showing the user (ignored kinds, missing classes).
pub fn simulate(
    manifests: Manifests,
    catalog: Catalog,
    fargate: &[FargateProfile],
) -> Result<(Solution, Vec<String>)> {
    let problem = Problem::build(manifests, catalog, fargate)?;
    let solution = scheduling::solve(&problem);
    Ok((solution, problem.notes))
}
