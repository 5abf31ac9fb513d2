//! Kubernetes core objects, the fields scheduling reads.

use serde::Deserialize;
use std::collections::BTreeMap;

use super::{ResourceList, null_as_default, scalar_string_map};
use crate::taints::{Effect, Taint};

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ObjectMeta {
    pub name: Option<String>,
    pub namespace: Option<String>,
    #[serde(default, deserialize_with = "scalar_string_map")]
    pub labels: BTreeMap<String, String>,
    #[serde(default, deserialize_with = "null_as_default")]
    pub owner_references: Vec<OwnerReference>,
    pub deletion_timestamp: Option<serde_json::Value>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct OwnerReference {
    #[serde(default)]
    pub kind: String,
    #[serde(default)]
    pub name: String,
}

#[derive(Debug, Clone, Default, Deserialize)]
pub struct Pod {
    #[serde(default)]
    pub metadata: ObjectMeta,
    #[serde(default, deserialize_with = "null_as_default")]
    pub spec: PodSpec,
    #[serde(default, deserialize_with = "null_as_default")]
    pub status: PodStatus,
}

#[derive(Debug, Clone, Default, Deserialize)]
pub struct PodStatus {
    pub phase: Option<String>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PodSpec {
    pub node_name: Option<String>,
    #[serde(default, deserialize_with = "scalar_string_map")]
    pub node_selector: BTreeMap<String, String>,
    pub affinity: Option<Affinity>,
    #[serde(default, deserialize_with = "null_as_default")]
    pub tolerations: Vec<Toleration>,
    #[serde(default, deserialize_with = "null_as_default")]
    pub containers: Vec<Container>,
    #[serde(default, deserialize_with = "null_as_default")]
    pub init_containers: Vec<Container>,
    #[serde(default, deserialize_with = "null_as_default")]
    pub overhead: ResourceList,
    #[serde(default, deserialize_with = "null_as_default")]
    pub topology_spread_constraints: Vec<TopologySpreadConstraint>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Container {
    #[serde(default)]
    pub name: String,
    #[serde(default, deserialize_with = "null_as_default")]
    pub resources: ResourceRequirements,
    #[serde(default, deserialize_with = "null_as_default")]
    pub ports: Vec<ContainerPort>,
    /// `Always` on an init container makes it a sidecar.
    pub restart_policy: Option<String>,
}

#[derive(Debug, Clone, Default, Deserialize)]
pub struct ResourceRequirements {
    #[serde(default, deserialize_with = "null_as_default")]
    pub requests: ResourceList,
    #[serde(default, deserialize_with = "null_as_default")]
    pub limits: ResourceList,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ContainerPort {
    pub host_port: Option<i32>,
    pub container_port: Option<i32>,
    pub protocol: Option<String>,
    #[serde(rename = "hostIP")]
    pub host_ip: Option<String>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Affinity {
    pub node_affinity: Option<NodeAffinity>,
    pub pod_affinity: Option<PodAffinity>,
    pub pod_anti_affinity: Option<PodAffinity>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct NodeAffinity {
    pub required_during_scheduling_ignored_during_execution: Option<NodeSelector>,
    #[serde(default, deserialize_with = "null_as_default")]
    pub preferred_during_scheduling_ignored_during_execution: Vec<PreferredSchedulingTerm>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct NodeSelector {
    #[serde(default, deserialize_with = "null_as_default")]
    pub node_selector_terms: Vec<NodeSelectorTerm>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct NodeSelectorTerm {
    #[serde(default, deserialize_with = "null_as_default")]
    pub match_expressions: Vec<NodeSelectorRequirement>,
    #[serde(default, deserialize_with = "null_as_default")]
    pub match_fields: Vec<NodeSelectorRequirement>,
}

/// Operators are checked when converted, so the error can say which are allowed where.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct NodeSelectorRequirement {
    pub key: String,
    pub operator: String,
    #[serde(default, deserialize_with = "null_as_default")]
    pub values: Vec<ScalarString>,
    pub min_values: Option<usize>,
}

#[derive(Debug, Clone, Default, Deserialize)]
pub struct PreferredSchedulingTerm {
    #[serde(default)]
    pub weight: i32,
    #[serde(default)]
    pub preference: NodeSelectorTerm,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PodAffinity {
    #[serde(default, deserialize_with = "null_as_default")]
    pub required_during_scheduling_ignored_during_execution: Vec<PodAffinityTerm>,
    #[serde(default, deserialize_with = "null_as_default")]
    pub preferred_during_scheduling_ignored_during_execution: Vec<WeightedPodAffinityTerm>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct WeightedPodAffinityTerm {
    #[serde(default)]
    pub weight: i32,
    pub pod_affinity_term: PodAffinityTerm,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PodAffinityTerm {
    pub label_selector: Option<LabelSelector>,
    #[serde(default, deserialize_with = "null_as_default")]
    pub namespaces: Vec<String>,
    pub namespace_selector: Option<LabelSelector>,
    #[serde(default)]
    pub topology_key: String,
    #[serde(default, deserialize_with = "null_as_default")]
    pub match_label_keys: Vec<String>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct LabelSelector {
    #[serde(default, deserialize_with = "scalar_string_map")]
    pub match_labels: BTreeMap<String, String>,
    #[serde(default, deserialize_with = "null_as_default")]
    pub match_expressions: Vec<LabelSelectorRequirement>,
}

#[derive(Debug, Clone, Default, Deserialize)]
pub struct LabelSelectorRequirement {
    pub key: String,
    pub operator: String,
    #[serde(default, deserialize_with = "null_as_default")]
    pub values: Vec<ScalarString>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TopologySpreadConstraint {
    #[serde(default = "one")]
    pub max_skew: i32,
    #[serde(default)]
    pub topology_key: String,
    #[serde(default)]
    pub when_unsatisfiable: String,
    pub label_selector: Option<LabelSelector>,
    pub min_domains: Option<i32>,
    pub node_affinity_policy: Option<String>,
    pub node_taints_policy: Option<String>,
    #[serde(default, deserialize_with = "null_as_default")]
    pub match_label_keys: Vec<String>,
}

fn one() -> i32 {
    1
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Toleration {
    pub key: Option<String>,
    pub operator: Option<String>,
    pub value: Option<ScalarString>,
    pub effect: Option<String>,
}

/// A string that YAML may have typed as a number or bool (`value: true`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ScalarString(pub String);

impl<'de> Deserialize<'de> for ScalarString {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        match serde_json::Value::deserialize(d)? {
            serde_json::Value::String(s) => Ok(ScalarString(s)),
            serde_json::Value::Number(n) => Ok(ScalarString(n.to_string())),
            serde_json::Value::Bool(b) => Ok(ScalarString(b.to_string())),
            serde_json::Value::Null => Ok(ScalarString(String::new())),
            other => Err(serde::de::Error::custom(format!(
                "expected a string, got {other}"
            ))),
        }
    }
}

/// A taint as written in a manifest (the effect is validated).
#[derive(Debug, Clone, Deserialize)]
pub struct RawTaint {
    pub key: String,
    pub value: Option<ScalarString>,
    pub effect: Effect,
}

impl From<&RawTaint> for Taint {
    fn from(t: &RawTaint) -> Taint {
        Taint {
            key: t.key.clone(),
            value: t.value.as_ref().map(|v| v.0.clone()),
            effect: t.effect,
        }
    }
}

#[derive(Debug, Clone, Default, Deserialize)]
pub struct PodTemplate {
    #[serde(default)]
    pub metadata: ObjectMeta,
    #[serde(default, deserialize_with = "null_as_default")]
    pub spec: PodSpec,
}

/// Deployment, ReplicaSet, StatefulSet, Job and DaemonSet share this shape.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct Workload {
    #[serde(default)]
    pub metadata: ObjectMeta,
    #[serde(default, deserialize_with = "null_as_default")]
    pub spec: WorkloadSpec,
}

#[derive(Debug, Clone, Default, Deserialize)]
pub struct WorkloadSpec {
    pub replicas: Option<u32>,
    pub parallelism: Option<u32>,
    #[serde(default, deserialize_with = "null_as_default")]
    pub template: PodTemplate,
}

#[derive(Debug, Clone, Default, Deserialize)]
pub struct Node {
    #[serde(default)]
    pub metadata: ObjectMeta,
    #[serde(default, deserialize_with = "null_as_default")]
    pub spec: NodeSpec,
    #[serde(default, deserialize_with = "null_as_default")]
    pub status: NodeStatus,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct NodeSpec {
    #[serde(default, deserialize_with = "null_as_default")]
    pub taints: Vec<RawTaint>,
    #[serde(default)]
    pub unschedulable: bool,
    #[serde(rename = "providerID")]
    pub provider_id: Option<String>,
}

#[derive(Debug, Clone, Default, Deserialize)]
pub struct NodeStatus {
    #[serde(default, deserialize_with = "null_as_default")]
    pub allocatable: ResourceList,
    #[serde(default, deserialize_with = "null_as_default")]
    pub capacity: ResourceList,
}
