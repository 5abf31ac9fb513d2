//! The scheduling simulation: Karpenter's `Solve`. Pods, largest first, go to existing
//! nodes, then to node claims already opened, then to a new claim from the first pool
//! (by weight) that can take them; preferences are relaxed in Karpenter's order when a
//! pod fits nowhere. The result is a decision; acting on it is someone else's job.

mod solver;
mod topology;
mod types;

pub use solver::{CheapestOffering, ExistingPlacement, NewClaim, Solution, Unschedulable, solve};
pub use types::{TypeLabels, labels_satisfy, offering_allowed, type_labels};
