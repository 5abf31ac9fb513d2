//! `--output table`: the decision for people.

use std::io::{self, Write};

use provisioning::report::Report;

pub fn write(out: &mut impl Write, r: &Report) -> io::Result<()> {
    writeln!(
        out,
        "NODE CLAIMS ({}), ${:.4}/hour",
        r.summary.node_claims, r.summary.hourly_cost
    )?;
    if !r.node_claims.is_empty() {
        writeln!(
            out,
            "{:<16} {:<20} {:<14} {:<10} {:>9} {:>5}  OTHER TYPES",
            "NODEPOOL", "CHEAPEST", "ZONE", "CAPACITY", "$/HOUR", "PODS"
        )?;
    }
    for c in &r.node_claims {
        let others = c.instance_types.len().saturating_sub(1);
        writeln!(
            out,
            "{:<16} {:<20} {:<14} {:<10} {:>9.4} {:>5}  {}",
            c.node_pool,
            c.cheapest.instance_type,
            c.cheapest.zone,
            c.cheapest.capacity_type,
            c.cheapest.price,
            c.pods.len(),
            others
        )?;
    }
    if !r.existing_nodes.is_empty() {
        writeln!(out, "\nEXISTING NODES")?;
        for n in &r.existing_nodes {
            writeln!(out, "{:<40} {} pods", n.name, n.pods.len())?;
        }
    }
    if !r.fargate.is_empty() {
        writeln!(out, "\nFARGATE ({} pods)", r.fargate.len())?;
    }
    if !r.unschedulable.is_empty() {
        writeln!(out, "\nUNSCHEDULABLE ({})", r.unschedulable.len())?;
        for u in &r.unschedulable {
            writeln!(out, "{:<40} {}", u.pod, u.reason)?;
        }
    }
    writeln!(out, "\n{} pods", r.summary.pods)
}
