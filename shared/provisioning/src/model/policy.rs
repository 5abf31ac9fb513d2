//! NodePools (v1, v1beta1) and Provisioners (v1alpha5) as one provisioning policy.

use std::collections::BTreeMap;

use super::pod::node_requirements;
use crate::api::karpenter::Kubelet;
use crate::api::to_resources;
use crate::catalog::KubeletConfig;
use crate::error::Result;
use crate::input::{Manifests, PoolVersion};
use crate::labels;
use crate::requirements::{Operator, Requirement, Requirements};
use crate::resources::Resources;
use crate::taints::Taint;

#[derive(Debug, Clone)]
pub struct Policy {
    pub name: String,
    pub weight: i32,
    /// A v1alpha5 Provisioner (labels its nodes with provisioner-name too).
    pub provisioner: bool,
    /// Requirements of every node: the pool's, its template labels, its own name.
    pub requirements: Requirements,
    /// Labels every node of the pool gets.
    pub labels: BTreeMap<String, String>,
    pub taints: Vec<Taint>,
    pub startup_taints: Vec<Taint>,
    /// Only the resources named have a limit.
    pub limits: Option<Resources>,
    pub kubelet: KubeletConfig,
}

pub(super) fn build_pools(m: &Manifests, notes: &mut Vec<String>) -> Result<Vec<Policy>> {
    let class_kubelet = |kind: &str, name: &str| -> Option<KubeletConfig> {
        m.node_classes
            .iter()
            .find(|(_, k, c)| k == kind && c.metadata.name.as_deref() == Some(name))
            .map(|(_, _, c)| {
                c.spec
                    .kubelet
                    .as_ref()
                    .map(kubelet_config)
                    .unwrap_or_default()
            })
    };
    let mut pools = Vec::new();
    for (loc, version, np) in &m.node_pools {
        let name = np.metadata.name.clone().unwrap_or_default();
        let spec = &np.spec.template.spec;
        let mut requirements = node_requirements(
            loc,
            "spec.template.spec.requirements",
            &spec.requirements,
            true,
        )?;
        let mut kubelet = KubeletConfig::default();
        match &spec.node_class_ref {
            Some(r) => {
                let kind = if r.kind.is_empty() {
                    "EC2NodeClass"
                } else {
                    r.kind.as_str()
                };
                match class_kubelet(kind, &r.name) {
                    Some(k) => kubelet = k,
                    None => notes.push(format!("{loc}: NodePool {name}: nodeClassRef {kind}/{} is not in the input; using the pool without it", r.name)),
                }
            }
            None => notes.push(format!("{loc}: NodePool {name} has no nodeClassRef")),
        }
        if *version == PoolVersion::V1beta1
            && let Some(k) = &spec.kubelet
        {
            kubelet = kubelet_config(k).merged_over(&kubelet);
        }
        let mut labels = np.spec.template.metadata.labels.clone();
        labels.insert(labels::NODEPOOL.to_string(), name.clone());
        for (k, v) in &labels {
            requirements.add(k, Requirement::exactly(v));
        }
        pools.push(Policy {
            weight: np.spec.weight.unwrap_or(0),
            provisioner: false,
            requirements,
            labels,
            taints: spec.taints.iter().map(Taint::from).collect(),
            startup_taints: spec.startup_taints.iter().map(Taint::from).collect(),
            limits: (!np.spec.limits.is_empty()).then(|| to_resources(&np.spec.limits)),
            kubelet,
            name,
        });
    }
    for (loc, p) in &m.provisioners {
        let name = p.metadata.name.clone().unwrap_or_default();
        let mut requirements =
            node_requirements(loc, "spec.requirements", &p.spec.requirements, true)?;
        add_v1alpha5_defaults(&mut requirements);
        let mut labels = p.spec.labels.clone();
        labels.insert(labels::PROVISIONER_NAME.to_string(), name.clone());
        labels.insert(labels::NODEPOOL.to_string(), name.clone());
        for (k, v) in &labels {
            requirements.add(k, Requirement::exactly(v));
        }
        if let Some(r) = &p.spec.provider_ref
            && !m.node_classes.iter().any(|(_, k, c)| {
                k == "AWSNodeTemplate" && c.metadata.name.as_deref() == Some(r.name.as_str())
            })
        {
            notes.push(format!("{loc}: Provisioner {name}: providerRef AWSNodeTemplate/{} is not in the input; using the provisioner without it", r.name));
        }
        pools.push(Policy {
            weight: p.spec.weight.unwrap_or(0),
            provisioner: true,
            requirements,
            labels,
            taints: p.spec.taints.iter().map(Taint::from).collect(),
            startup_taints: p.spec.startup_taints.iter().map(Taint::from).collect(),
            limits: (!p.spec.limits.resources.is_empty())
                .then(|| to_resources(&p.spec.limits.resources)),
            kubelet: p
                .spec
                .kubelet_configuration
                .as_ref()
                .map(kubelet_config)
                .unwrap_or_default(),
            name,
        });
    }
    // Higher weight first; equal weights by name so the outcome does not depend on file order.
    pools.sort_by(|a, b| b.weight.cmp(&a.weight).then_with(|| a.name.cmp(&b.name)));
    Ok(pools)
}

/// Karpenter v0.27's defaults for a Provisioner: linux, amd64, on-demand, and, unless a
/// requirement already narrows the instance types, categories c/m/r of generation > 2.
fn add_v1alpha5_defaults(reqs: &mut Requirements) {
    let defaults = [
        (labels::OS, "linux"),
        (labels::ARCH, "amd64"),
        (labels::CAPACITY_TYPE, "on-demand"),
    ];
    for (key, value) in defaults {
        if reqs.get(key).is_none() {
            reqs.add(key, Requirement::exactly(value));
        }
    }
    let narrows = [
        labels::INSTANCE_TYPE,
        labels::INSTANCE_FAMILY,
        labels::INSTANCE_CATEGORY,
        labels::INSTANCE_GENERATION,
    ];
    if !narrows.iter().any(|k| reqs.get(k).is_some()) {
        reqs.add(
            labels::INSTANCE_CATEGORY,
            Requirement::one_of(["c", "m", "r"].map(String::from)),
        );
        if let Ok(generation) = Requirement::new(Operator::Gt, &["2".to_string()]) {
            reqs.add(labels::INSTANCE_GENERATION, generation);
        }
    }
}

fn kubelet_config(k: &Kubelet) -> KubeletConfig {
    KubeletConfig {
        max_pods: k.max_pods,
        pods_per_core: k.pods_per_core,
        kube_reserved: k.kube_reserved.as_ref().map(to_resources),
        system_reserved: k.system_reserved.as_ref().map(to_resources),
        eviction_memory: k.eviction_hard.get("memory.available").map(|t| t.0),
        eviction_nodefs: k.eviction_hard.get("nodefs.available").map(|t| t.0),
    }
}
