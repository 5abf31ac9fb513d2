//! The filters and scoring that pick a pod's node, in kube-scheduler's default order.

use std::collections::BTreeMap;

use provisioning::api::k8s as pk;
use provisioning::model::pod::PodModel;
use provisioning::requirements::Requirements;
use provisioning::resources::{CPU, MEMORY};
use provisioning::taints::{Effect, Taint, first_untolerated};

use super::{NodeInfo, Placed, Reason};

/// The best feasible node, or kube-scheduler's FitError message.
pub(super) fn choose(
    pod: &PodModel,
    spec: &pk::PodSpec,
    nodes: &[NodeInfo],
    placed: &[Placed],
) -> std::result::Result<usize, String> {
    if nodes.is_empty() {
        return Err("no nodes available to schedule pods".into());
    }
    let mut feasible = Vec::new();
    let mut reasons: BTreeMap<String, usize> = BTreeMap::new();
    let mut preemption: BTreeMap<&str, usize> = BTreeMap::new();
    for (i, node) in nodes.iter().enumerate() {
        match filter(pod, spec, node, nodes, placed) {
            Ok(()) => feasible.push(i),
            Err(rs) => {
                let resolvable = rs.iter().all(|r| r.resolvable);
                for r in rs {
                    *reasons.entry(r.text).or_default() += 1;
                }
                let p = if resolvable {
                    "No preemption victims found for incoming pod"
                } else {
                    "Preemption is not helpful for scheduling"
                };
                *preemption.entry(p).or_default() += 1;
            }
        }
    }
    if let Some(best) = feasible.into_iter().max_by(|&a, &b| {
        score(pod, &nodes[a])
            .total_cmp(&score(pod, &nodes[b]))
            .then_with(|| nodes[b].name.cmp(&nodes[a].name))
    }) {
        return Ok(best);
    }
    let histogram = |m: BTreeMap<String, usize>| {
        let mut v: Vec<String> = m.into_iter().map(|(k, n)| format!("{n} {k}")).collect();
        v.sort();
        v.join(", ")
    };
    let total = nodes.len();
    let pre = histogram(
        preemption
            .into_iter()
            .map(|(k, v)| (k.to_string(), v))
            .collect(),
    );
    Err(format!(
        "0/{total} nodes are available: {}. preemption: 0/{total} nodes are available: {pre}.",
        histogram(reasons)
    ))
}

/// NodeResourcesLeastAllocated over cpu and memory: the free share after placing.
fn score(pod: &PodModel, node: &NodeInfo) -> f64 {
    let free = |r: usize| {
        let alloc = node.allocatable.fixed(r);
        if alloc <= 0 {
            return 0.0;
        }
        let used = node.requested.fixed(r) + pod.requests.fixed(r);
        (alloc - used).max(0) as f64 / alloc as f64
    };
    (free(CPU) + free(MEMORY)) / 2.0
}

/// The filter plugins in kube-scheduler's order; the first failing one's reasons.
fn filter(
    pod: &PodModel,
    spec: &pk::PodSpec,
    node: &NodeInfo,
    nodes: &[NodeInfo],
    placed: &[Placed],
) -> std::result::Result<(), Vec<Reason>> {
    // NodeUnschedulable.
    if node.unschedulable {
        let cordon = Taint {
            key: "node.kubernetes.io/unschedulable".into(),
            value: None,
            effect: Effect::NoSchedule,
        };
        if first_untolerated(std::slice::from_ref(&cordon), &pod.tolerations, false).is_some() {
            return Err(vec![Reason::hard("node(s) were unschedulable")]);
        }
    }
    // TaintToleration (NoSchedule and NoExecute; PreferNoSchedule only scores).
    if let Some(t) = first_untolerated(&node.taints, &pod.tolerations, false) {
        return Err(vec![Reason::hard(format!(
            "node(s) had untolerated taint {{{}: {}}}",
            t.key,
            t.value.as_deref().unwrap_or("")
        ))]);
    }
    // NodeAffinity.
    if !node_affinity_matches(pod, spec, node) {
        return Err(vec![Reason::hard(
            "node(s) didn't match Pod's node affinity/selector",
        )]);
    }
    // NodePorts.
    if pod
        .host_ports
        .iter()
        .any(|p| node.host_ports.iter().any(|q| p.conflicts(q)))
    {
        return Err(vec![Reason::soft(
            "node(s) didn't have free ports for the requested pod ports",
        )]);
    }
    // NodeResourcesFit.
    let mut insufficient = Vec::new();
    for (name, want) in pod.requests.iter() {
        if want > 0 && node.requested.get(name) + want > node.allocatable.get(name) {
            insufficient.push(Reason::soft(if name == "pods" {
                "Too many pods".to_string()
            } else {
                format!("Insufficient {name}")
            }));
        }
    }
    if !insufficient.is_empty() {
        return Err(insufficient);
    }
    // PodTopologySpread (DoNotSchedule).
    for c in pod.spreads.iter().filter(|c| c.required) {
        let Some(domain) = node.labels.get(&c.topology_key) else {
            return Err(vec![Reason::hard(
                "node(s) didn't match pod topology spread constraints (missing required label)",
            )]);
        };
        let eligible = |n: &NodeInfo| {
            n.labels.contains_key(&c.topology_key)
                && (!c.honor_node_affinity || node_affinity_matches(pod, spec, n))
                && (!c.honor_taints
                    || first_untolerated(&n.taints, &pod.tolerations, false).is_none())
        };
        let mut counts: BTreeMap<&str, usize> = BTreeMap::new();
        for n in nodes.iter().filter(|n| eligible(n)) {
            counts
                .entry(n.labels[&c.topology_key].as_str())
                .or_default();
        }
        for p in placed.iter().filter(|p| !p.terminating) {
            let n = &nodes[p.node];
            if eligible(n) && c.selects(&p.namespace, &p.labels) {
                *counts
                    .entry(n.labels[&c.topology_key].as_str())
                    .or_default() += 1;
            }
        }
        let mut min = counts.values().copied().min().unwrap_or(0);
        if c.min_domains.is_some_and(|m| (counts.len() as u32) < m) {
            min = 0;
        }
        let own = counts.get(domain.as_str()).copied().unwrap_or(0);
        let self_match = usize::from(c.selects(&pod.namespace, &pod.labels));
        if own + self_match > min + c.max_skew as usize {
            return Err(vec![Reason::soft(
                "node(s) didn't match pod topology spread constraints",
            )]);
        }
    }
    // InterPodAffinity, in its order: the pod's affinity, its anti-affinity, then the
    // anti-affinity of the pods already placed.
    let same_domain = |key: &str, other: usize| {
        node.labels
            .get(key)
            .is_some_and(|v| nodes[other].labels.get(key) == Some(v))
    };
    for t in &pod.affinity {
        let matching: Vec<&Placed> = placed
            .iter()
            .filter(|p| t.selects(&p.namespace, &p.labels))
            .collect();
        let ok = if matching.is_empty() {
            // The first pod of a group that selects itself may go anywhere the key exists.
            t.selects(&pod.namespace, &pod.labels) && node.labels.contains_key(&t.topology_key)
        } else {
            matching
                .iter()
                .any(|p| same_domain(&t.topology_key, p.node))
        };
        if !ok {
            return Err(vec![Reason::hard(
                "node(s) didn't match pod affinity rules",
            )]);
        }
    }
    for t in &pod.anti_affinity {
        if placed
            .iter()
            .any(|p| t.selects(&p.namespace, &p.labels) && same_domain(&t.topology_key, p.node))
        {
            return Err(vec![Reason::soft(
                "node(s) didn't match pod anti-affinity rules",
            )]);
        }
    }
    for p in placed {
        for t in &p.anti_affinity {
            if t.selects(&pod.namespace, &pod.labels) && same_domain(&t.topology_key, p.node) {
                return Err(vec![Reason::soft(
                    "node(s) didn't satisfy existing pods anti-affinity rules",
                )]);
            }
        }
    }
    Ok(())
}

/// nodeSelector, and any one required node-affinity term (its expressions on labels, its
/// `matchFields` on `metadata.name`; an empty term matches nothing).
fn node_affinity_matches(pod: &PodModel, spec: &pk::PodSpec, node: &NodeInfo) -> bool {
    if pod.node_selector.matches_labels(&node.labels).is_err() {
        return false;
    }
    let Some(required) = spec
        .affinity
        .as_ref()
        .and_then(|a| a.node_affinity.as_ref())
        .and_then(|na| {
            na.required_during_scheduling_ignored_during_execution
                .as_ref()
        })
    else {
        return true;
    };
    required
        .node_selector_terms
        .iter()
        .zip(&pod.required_terms)
        .any(|(term, exprs): (_, &Requirements)| {
            if term.match_expressions.is_empty() && term.match_fields.is_empty() {
                return false;
            }
            exprs.matches_labels(&node.labels).is_ok()
                && term.match_fields.iter().all(|f| {
                    let values: Vec<&str> = f.values.iter().map(|v| v.0.as_str()).collect();
                    f.key == "metadata.name"
                        && match f.operator.as_str() {
                            "In" => values.contains(&node.name.as_str()),
                            "NotIn" => !values.contains(&node.name.as_str()),
                            _ => false,
                        }
                })
        })
}
