//! The simulation's input, converted from manifests into one internal policy: pools
//! (NodePools and Provisioners alike), existing capacity, DaemonSets and pods.

pub mod pod;
mod policy;

pub use pod::PodModel;
pub use policy::Policy;

use std::collections::{BTreeMap, HashMap, HashSet};

use crate::api::to_resources;
use crate::catalog::{Catalog, allocatable};
use crate::error::Result;
use crate::input::{Manifests, WorkloadKind};
use crate::labels;
use crate::requirements::Requirements;
use crate::resources::Resources;
use crate::taints::Taint;

/// The most pods one simulation takes: Kubernetes allows 2^31 replicas, but expanding
/// them would exhaust memory long before answering (found by fuzzing).
pub const MAX_PODS: usize = 1_000_000;

/// A Fargate profile selector: a namespace and labels that must all match.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FargateProfile {
    pub namespace: String,
    pub labels: BTreeMap<String, String>,
}

impl FargateProfile {
    pub fn selects(&self, pod: &PodModel) -> bool {
        self.namespace == pod.namespace
            && self
                .labels
                .iter()
                .all(|(k, v)| pod.labels.get(k) == Some(v))
    }
}

/// Capacity that exists or is on its way: a Node, or a NodeClaim without one yet.
#[derive(Debug, Clone)]
pub struct ExistingNode {
    pub name: String,
    pub labels: BTreeMap<String, String>,
    pub taints: Vec<Taint>,
    pub allocatable: Resources,
    /// False for cordoned, deleting or disrupted nodes: their pods stay, no new ones come.
    pub accepts_pods: bool,
    /// The pool it counts against for limits, and what it counts.
    pub pool: Option<String>,
    pub capacity: Resources,
}

#[derive(Debug)]
pub struct Problem {
    pub catalog: Catalog,
    pub pools: Vec<Policy>,
    pub nodes: Vec<ExistingNode>,
    pub daemonsets: Vec<PodModel>,
    /// Pending pods to place, in input order.
    pub pending: Vec<PodModel>,
    /// Pods with spec.nodeName.
    pub bound: Vec<PodModel>,
    pub fargate: Vec<String>,
    pub notes: Vec<String>,
}

impl Problem {
    pub fn build(
        manifests: Manifests,
        catalog: Catalog,
        fargate: &[FargateProfile],
    ) -> Result<Problem> {
        let mut notes = manifests.notes.clone();
        let pools = policy::build_pools(&manifests, &mut notes)?;

        let mut pods = Vec::new();
        let mut seen: HashMap<String, String> = HashMap::new();
        let mut push =
            |pod: PodModel, loc: &crate::input::Location, pods: &mut Vec<PodModel>| -> Result<()> {
                let key = pod.key();
                if let Some(first) = seen.get(&key) {
                    return Err(loc.error(
                        "metadata.name",
                        format!("duplicate pod {key} (also defined at {first})"),
                    ));
                }
                seen.insert(key, loc.to_string());
                pods.push(pod);
                Ok(())
            };
        for (loc, p) in &manifests.pods {
            if matches!(p.status.phase.as_deref(), Some("Succeeded" | "Failed")) {
                continue;
            }
            let name = p.metadata.name.clone().unwrap_or_default();
            let pod = PodModel::from_manifest(loc, "spec", &p.metadata, &p.spec, name)?;
            push(pod, loc, &mut pods)?;
        }
        let deployments: HashSet<(String, String)> = manifests
            .workloads
            .iter()
            .filter(|(_, k, _)| *k == WorkloadKind::Deployment)
            .map(|(_, _, w)| {
                (
                    namespace_of(&w.metadata),
                    w.metadata.name.clone().unwrap_or_default(),
                )
            })
            .collect();
        for (loc, kind, w) in &manifests.workloads {
            let ns = namespace_of(&w.metadata);
            let owned_by_input_deployment = *kind == WorkloadKind::ReplicaSet
                && w.metadata.owner_references.iter().any(|o| {
                    o.kind == "Deployment" && deployments.contains(&(ns.clone(), o.name.clone()))
                });
            if owned_by_input_deployment {
                continue;
            }
            let (count, field) = match kind {
                WorkloadKind::Job => (w.spec.parallelism.unwrap_or(1), "spec.parallelism"),
                _ => (w.spec.replicas.unwrap_or(1), "spec.replicas"),
            };
            if pods.len() + count as usize > MAX_PODS {
                return Err(loc.error(
                    field,
                    format!("{count} pods would take the input past {MAX_PODS} pods, more than one simulation handles"),
                ));
            }
            let mut meta = w.spec.template.metadata.clone();
            meta.namespace = Some(ns.clone());
            let base = w.metadata.name.clone().unwrap_or_default();
            // Converted once, then renamed: replicas share everything but the name.
            let template = PodModel::from_manifest(
                loc,
                "spec.template.spec",
                &meta,
                &w.spec.template.spec,
                base.clone(),
            )?;
            for i in 0..count {
                let mut pod = template.clone();
                pod.name = format!("{base}-{i}");
                push(pod, loc, &mut pods)?;
            }
        }

        let mut daemonsets = Vec::new();
        for (loc, ds) in &manifests.daemonsets {
            let mut meta = ds.spec.template.metadata.clone();
            meta.namespace = Some(namespace_of(&ds.metadata));
            let name = ds.metadata.name.clone().unwrap_or_default();
            daemonsets.push(PodModel::from_manifest(
                loc,
                "spec.template.spec",
                &meta,
                &ds.spec.template.spec,
                name,
            )?);
        }

        let nodes = build_nodes(&manifests, &catalog, &pools, &mut notes)?;

        let mut pending = Vec::new();
        let mut bound = Vec::new();
        let mut on_fargate = Vec::new();
        for pod in pods {
            if pod.node_name.is_some() {
                bound.push(pod);
            } else if !pod.daemonset_owned && fargate.iter().any(|f| f.selects(&pod)) {
                on_fargate.push(pod.key());
            } else {
                pending.push(pod);
            }
        }
        Ok(Problem {
            catalog,
            pools,
            nodes,
            daemonsets,
            pending,
            bound,
            fargate: on_fargate,
            notes,
        })
    }
}

fn namespace_of(meta: &crate::api::k8s::ObjectMeta) -> String {
    meta.namespace
        .clone()
        .filter(|n| !n.is_empty())
        .unwrap_or_else(|| "default".into())
}

fn build_nodes(
    manifests: &Manifests,
    catalog: &Catalog,
    pools: &[Policy],
    notes: &mut Vec<String>,
) -> Result<Vec<ExistingNode>> {
    let mut nodes = Vec::new();
    let mut node_names = HashSet::new();
    let mut provider_ids = HashSet::new();
    for (_, n) in &manifests.nodes {
        let name = n.metadata.name.clone().unwrap_or_default();
        let mut labels = n.metadata.labels.clone();
        labels
            .entry(labels::HOSTNAME.to_string())
            .or_insert_with(|| name.clone());
        let taints: Vec<Taint> = n.spec.taints.iter().map(Taint::from).collect();
        let disrupted = taints.iter().any(|t| t.key == labels::DISRUPTED_TAINT);
        let allocatable = if n.status.allocatable.is_empty() {
            &n.status.capacity
        } else {
            &n.status.allocatable
        };
        let capacity = if n.status.capacity.is_empty() {
            allocatable
        } else {
            &n.status.capacity
        };
        let pool = labels
            .get(labels::NODEPOOL)
            .or_else(|| labels.get(labels::PROVISIONER_NAME))
            .cloned();
        node_names.insert(name.clone());
        if let Some(id) = &n.spec.provider_id {
            provider_ids.insert(id.clone());
        }
        nodes.push(ExistingNode {
            accepts_pods: !n.spec.unschedulable
                && n.metadata.deletion_timestamp.is_none()
                && !disrupted,
            allocatable: to_resources(allocatable),
            capacity: to_resources(capacity),
            name,
            labels,
            taints,
            pool,
        });
    }
    for (loc, c) in &manifests.node_claims {
        let has_node = c
            .status
            .node_name
            .as_ref()
            .is_some_and(|n| node_names.contains(n))
            || c.status
                .provider_id
                .as_ref()
                .is_some_and(|p| provider_ids.contains(p));
        if has_node {
            continue;
        }
        let name = c.metadata.name.clone().unwrap_or_default();
        let reqs = pod::node_requirements(loc, "spec.requirements", &c.spec.requirements, true)?;
        let mut labels = c.metadata.labels.clone();
        for (k, r) in reqs.iter() {
            if let Some(v) = r.single_value() {
                labels.entry(k.clone()).or_insert_with(|| v.to_string());
            }
        }
        let pool_name = labels
            .get(labels::NODEPOOL)
            .or_else(|| labels.get(labels::PROVISIONER_NAME))
            .cloned();
        let kubelet = pool_name
            .as_ref()
            .and_then(|p| pools.iter().find(|pool| &pool.name == p))
            .map(|p| p.kubelet.clone())
            .unwrap_or_default();
        let it = match labels.get(labels::INSTANCE_TYPE) {
            Some(t) => catalog.instance_types.iter().find(|it| &it.name == t),
            None => cheapest_allowed(catalog, &reqs),
        };
        let Some(it) = it else {
            notes.push(format!(
                "{loc}: NodeClaim {name}: no catalog instance type matches it; it adds no capacity"
            ));
            continue;
        };
        labels
            .entry(labels::INSTANCE_TYPE.to_string())
            .or_insert_with(|| it.name.clone());
        labels
            .entry(labels::HOSTNAME.to_string())
            .or_insert_with(|| name.clone());
        let alloc = if c.status.allocatable.is_empty() {
            allocatable(it, &kubelet)
        } else {
            to_resources(&c.status.allocatable)
        };
        let capacity = if c.status.capacity.is_empty() {
            it.capacity(kubelet.max_pods(it))
        } else {
            to_resources(&c.status.capacity)
        };
        nodes.push(ExistingNode {
            name,
            labels,
            taints: c.spec.taints.iter().map(Taint::from).collect(),
            allocatable: alloc,
            accepts_pods: c.metadata.deletion_timestamp.is_none(),
            pool: pool_name,
            capacity,
        });
    }
    Ok(nodes)
}

fn cheapest_allowed<'a>(
    catalog: &'a Catalog,
    reqs: &Requirements,
) -> Option<&'a crate::catalog::InstanceType> {
    use crate::scheduling::{labels_satisfy, offering_allowed, type_labels};
    catalog
        .instance_types
        .iter()
        .filter(|it| labels_satisfy(&type_labels(it, &catalog.region), reqs))
        .filter_map(|it| {
            let o = it.cheapest_offering(|o| offering_allowed(o, reqs))?;
            Some((o.price, it))
        })
        .min_by(|a, b| a.0.total_cmp(&b.0).then_with(|| a.1.name.cmp(&b.1.name)))
        .map(|(_, it)| it)
}
