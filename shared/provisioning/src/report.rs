//! The simulation's answer in the contract's JSON shape (`nodeless simulate --output json`).

use serde::Serialize;
use std::collections::BTreeMap;

use crate::scheduling::Solution;
use crate::taints::Taint;

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Report {
    pub node_claims: Vec<ClaimReport>,
    pub existing_nodes: Vec<ExistingReport>,
    pub fargate: Vec<String>,
    pub unschedulable: Vec<UnschedulableReport>,
    pub summary: Summary,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ClaimReport {
    pub node_pool: String,
    pub instance_types: Vec<String>,
    pub zones: Vec<String>,
    pub capacity_types: Vec<String>,
    pub cheapest: Cheapest,
    pub labels: BTreeMap<String, String>,
    pub taints: Vec<Taint>,
    pub pods: Vec<String>,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Cheapest {
    pub instance_type: String,
    pub zone: String,
    pub capacity_type: String,
    pub price: f64,
}

#[derive(Debug, Serialize)]
pub struct ExistingReport {
    pub name: String,
    pub pods: Vec<String>,
}

#[derive(Debug, Serialize)]
pub struct UnschedulableReport {
    pub pod: String,
    pub reason: String,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Summary {
    pub pods: usize,
    pub node_claims: usize,
    pub hourly_cost: f64,
}

impl From<&Solution> for Report {
    fn from(s: &Solution) -> Report {
        Report {
            node_claims: s
                .claims
                .iter()
                .map(|c| ClaimReport {
                    node_pool: c.pool.clone(),
                    instance_types: c.instance_types.clone(),
                    zones: c.zones.clone(),
                    capacity_types: c.capacity_types.clone(),
                    cheapest: Cheapest {
                        instance_type: c.cheapest.instance_type.clone(),
                        zone: c.cheapest.zone.clone(),
                        capacity_type: c.cheapest.capacity_type.clone(),
                        price: c.cheapest.price,
                    },
                    labels: c.labels.clone(),
                    taints: c.taints.clone(),
                    pods: c.pods.clone(),
                })
                .collect(),
            existing_nodes: s
                .existing
                .iter()
                .map(|e| ExistingReport {
                    name: e.name.clone(),
                    pods: e.pods.clone(),
                })
                .collect(),
            fargate: s.fargate.clone(),
            unschedulable: s
                .unschedulable
                .iter()
                .map(|u| UnschedulableReport {
                    pod: u.pod.clone(),
                    reason: u.reason.clone(),
                })
                .collect(),
            summary: Summary {
                pods: s.pod_count(),
                node_claims: s.claims.len(),
                // Rounded to micro-dollars so float sums print cleanly.
                hourly_cost: (s.hourly_cost() * 1e6).round() / 1e6,
            },
        }
    }
}
