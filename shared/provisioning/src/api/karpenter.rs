//! Karpenter's CRDs: karpenter.sh NodePool (v1, v1beta1), NodeClaim (v1), Provisioner
//! (v1alpha5) and karpenter.k8s.aws EC2NodeClass (v1, v1beta1), AWSNodeTemplate (v1alpha1).

use serde::{Deserialize, Deserializer};
use std::collections::BTreeMap;

use super::k8s::{NodeSelectorRequirement, ObjectMeta, RawTaint};
use super::{ResourceList, null_as_default, scalar_string_map};
use crate::catalog::EvictionThreshold;

#[derive(Debug, Clone, Default, Deserialize)]
pub struct NodePool {
    #[serde(default)]
    pub metadata: ObjectMeta,
    #[serde(default, deserialize_with = "null_as_default")]
    pub spec: NodePoolSpec,
}

#[derive(Debug, Clone, Default, Deserialize)]
pub struct NodePoolSpec {
    #[serde(default, deserialize_with = "null_as_default")]
    pub template: NodeClaimTemplate,
    #[serde(default, deserialize_with = "null_as_default")]
    pub limits: ResourceList,
    pub weight: Option<i32>,
}

#[derive(Debug, Clone, Default, Deserialize)]
pub struct NodeClaimTemplate {
    #[serde(default, deserialize_with = "null_as_default")]
    pub metadata: TemplateMeta,
    #[serde(default, deserialize_with = "null_as_default")]
    pub spec: NodeClaimTemplateSpec,
}

#[derive(Debug, Clone, Default, Deserialize)]
pub struct TemplateMeta {
    #[serde(default, deserialize_with = "scalar_string_map")]
    pub labels: BTreeMap<String, String>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct NodeClaimTemplateSpec {
    pub node_class_ref: Option<NodeClassRef>,
    #[serde(default, deserialize_with = "null_as_default")]
    pub requirements: Vec<NodeSelectorRequirement>,
    #[serde(default, deserialize_with = "null_as_default")]
    pub taints: Vec<RawTaint>,
    #[serde(default, deserialize_with = "null_as_default")]
    pub startup_taints: Vec<RawTaint>,
    /// v1beta1 only (moved to EC2NodeClass in v1); published v1 manifests still carry it.
    pub kubelet: Option<Kubelet>,
}

#[derive(Debug, Clone, Default, Deserialize)]
pub struct NodeClassRef {
    #[serde(default)]
    pub group: String,
    #[serde(default)]
    pub kind: String,
    #[serde(default)]
    pub name: String,
}

/// Kubelet settings that change allocatable.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Kubelet {
    pub max_pods: Option<u32>,
    pub pods_per_core: Option<u32>,
    pub system_reserved: Option<ResourceList>,
    pub kube_reserved: Option<ResourceList>,
    #[serde(default, deserialize_with = "null_as_default")]
    pub eviction_hard: BTreeMap<String, Threshold>,
}

/// An eviction threshold: `100Mi` or `5%`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Threshold(pub EvictionThreshold);

impl<'de> Deserialize<'de> for Threshold {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = super::k8s::ScalarString::deserialize(d)?.0;
        if let Some(p) = s.trim().strip_suffix('%') {
            return p
                .trim()
                .parse::<f64>()
                .ok()
                .filter(|p| (0.0..=100.0).contains(p))
                .map(|p| Threshold(EvictionThreshold::Percent(p)))
                .ok_or_else(|| serde::de::Error::custom(format!("invalid percentage {s:?}")));
        }
        crate::quantity::parse_units(&s)
            .map(|v| Threshold(EvictionThreshold::Absolute(v)))
            .map_err(|e| serde::de::Error::custom(e.to_string()))
    }
}

#[derive(Debug, Clone, Default, Deserialize)]
pub struct NodeClass {
    #[serde(default)]
    pub metadata: ObjectMeta,
    #[serde(default, deserialize_with = "null_as_default")]
    pub spec: NodeClassSpec,
}

#[derive(Debug, Clone, Default, Deserialize)]
pub struct NodeClassSpec {
    pub kubelet: Option<Kubelet>,
}

#[derive(Debug, Clone, Default, Deserialize)]
pub struct Provisioner {
    #[serde(default)]
    pub metadata: ObjectMeta,
    #[serde(default, deserialize_with = "null_as_default")]
    pub spec: ProvisionerSpec,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ProvisionerSpec {
    #[serde(default, deserialize_with = "null_as_default")]
    pub requirements: Vec<NodeSelectorRequirement>,
    #[serde(default, deserialize_with = "scalar_string_map")]
    pub labels: BTreeMap<String, String>,
    #[serde(default, deserialize_with = "null_as_default")]
    pub taints: Vec<RawTaint>,
    #[serde(default, deserialize_with = "null_as_default")]
    pub startup_taints: Vec<RawTaint>,
    #[serde(default, deserialize_with = "null_as_default")]
    pub limits: ProvisionerLimits,
    pub weight: Option<i32>,
    pub provider_ref: Option<NodeClassRef>,
    pub kubelet_configuration: Option<Kubelet>,
}

/// v1alpha5 limits live under `limits.resources`; fields beside it (a published
/// example writes `limits.cpu`) are pruned by the API server, so they are ignored here.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct ProvisionerLimits {
    #[serde(default, deserialize_with = "null_as_default")]
    pub resources: ResourceList,
}

#[derive(Debug, Clone, Default, Deserialize)]
pub struct NodeClaim {
    #[serde(default)]
    pub metadata: ObjectMeta,
    #[serde(default, deserialize_with = "null_as_default")]
    pub spec: NodeClaimSpec,
    #[serde(default, deserialize_with = "null_as_default")]
    pub status: NodeClaimStatus,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct NodeClaimSpec {
    #[serde(default, deserialize_with = "null_as_default")]
    pub requirements: Vec<NodeSelectorRequirement>,
    #[serde(default, deserialize_with = "null_as_default")]
    pub taints: Vec<RawTaint>,
    #[serde(default, deserialize_with = "null_as_default")]
    pub startup_taints: Vec<RawTaint>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct NodeClaimStatus {
    pub node_name: Option<String>,
    #[serde(rename = "providerID")]
    pub provider_id: Option<String>,
    #[serde(default, deserialize_with = "null_as_default")]
    pub allocatable: ResourceList,
    #[serde(default, deserialize_with = "null_as_default")]
    pub capacity: ResourceList,
}
