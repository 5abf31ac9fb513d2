//! What a node's bootstrap reads from its EC2 user data: the cluster it joins, the labels
//! and taints kubelet registers with, its max pods and reservations. Pure functions, one
//! per AMI family as Karpenter (and users) write them:
//!
//! * AL2023: `nodeadm` `NodeConfig` documents (`apiVersion: node.eks.aws/v1alpha1`), in
//!   `application/node.eks.aws` parts of a MIME multipart document or bare YAML; several
//!   documents merge in order (later scalars win, lists append), as nodeadm merges them.
//!   `spec.kubelet.config` is a KubeletConfiguration fragment (`maxPods`, `kubeReserved`,
//!   `systemReserved`, `evictionHard`, `registerWithTaints`); `spec.kubelet.flags` are
//!   kubelet command-line flags, which win over the config (`--node-labels`,
//!   `--register-with-taints`, `--max-pods`, ...).
//! * AL2: a shell script (bare, or a `text/x-shellscript` MIME part) calling
//!   `/etc/eks/bootstrap.sh <cluster> [--opt value]...`; `--kubelet-extra-args` holds
//!   kubelet flags, `--use-max-pods false` drops the ENI-based max pods (kubelet's
//!   default of 110 then applies unless `--max-pods` is given).
//! * Bottlerocket: TOML `[settings.kubernetes]` with `cluster-name`, `max-pods`,
//!   `[settings.kubernetes.node-labels]`, `[settings.kubernetes.node-taints]` (values
//!   `"value:Effect"` or lists of them), `kube-reserved`, `system-reserved`,
//!   `eviction-hard`.
//!
//! [`node_restriction_violations`] says which labels the NodeRestriction admission plugin
//! (and kubelet's own `--node-labels` check) refuses a kubelet to set on itself.

mod al2;
mod al2023;
mod bottlerocket;
mod kubelet;
mod mime;
pub mod samples;

use std::collections::BTreeMap;

use base64::Engine as _;
use k8s_openapi::api::core::v1::Taint;

use crate::error::{Error, Result};
use mime::mime_parts;

pub use al2::{parse_bootstrap_script, shell_words};
pub use al2023::parse_nodeadm;
pub use bottlerocket::parse_bottlerocket;
pub use kubelet::parse_taints;

/// kubelet's default `maxPods` when neither the config nor a flag sets one.
pub const KUBELET_DEFAULT_MAX_PODS: u32 = 110;

/// Which bootstrap the user data is written for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum AmiFamily {
    /// Amazon Linux 2023 (`nodeadm`).
    Al2023,
    /// Amazon Linux 2 (`/etc/eks/bootstrap.sh`).
    Al2,
    /// Bottlerocket (TOML settings).
    Bottlerocket,
}

impl AmiFamily {
    /// The OS image a node of this family reports in `status.nodeInfo.osImage`.
    pub fn os_image(self) -> &'static str {
        match self {
            AmiFamily::Al2023 => "Amazon Linux 2023.6.20241121",
            AmiFamily::Al2 => "Amazon Linux 2",
            AmiFamily::Bottlerocket => "Bottlerocket OS 1.28.0 (aws-k8s-1.31)",
        }
    }

    /// The kernel a node of this family reports.
    pub fn kernel_version(self) -> &'static str {
        match self {
            AmiFamily::Al2023 => "6.1.115-126.197.amzn2023.x86_64",
            AmiFamily::Al2 => "5.10.228-219.884.amzn2.x86_64",
            AmiFamily::Bottlerocket => "6.1.115",
        }
    }

    /// The container runtime a node of this family reports.
    pub fn container_runtime(self) -> &'static str {
        match self {
            AmiFamily::Al2023 | AmiFamily::Al2 => "containerd://1.7.23",
            AmiFamily::Bottlerocket => "containerd://1.7.22+bottlerocket",
        }
    }
}

/// What kubelet on the node registers with, as the bootstrap derives it from user data.
#[derive(Debug, Clone, PartialEq)]
pub struct NodeBootstrap {
    pub family: AmiFamily,
    /// The cluster the node joins (`None` if the user data does not say).
    pub cluster_name: Option<String>,
    /// `--node-labels` (or Bottlerocket `node-labels`).
    pub labels: BTreeMap<String, String>,
    /// `--register-with-taints` / `registerWithTaints` / Bottlerocket `node-taints`.
    pub taints: Vec<Taint>,
    /// Max pods; `None` means the AMI's ENI-based default for the instance type.
    pub max_pods: Option<u32>,
    /// `kubeReserved` (resource name -> quantity).
    pub kube_reserved: BTreeMap<String, String>,
    /// `systemReserved` (resource name -> quantity).
    pub system_reserved: BTreeMap<String, String>,
    /// `evictionHard` (signal, e.g. `memory.available` -> `100Mi` or `10%`).
    pub eviction_hard: BTreeMap<String, String>,
}

impl NodeBootstrap {
    pub(super) fn new(family: AmiFamily) -> Self {
        Self {
            family,
            cluster_name: None,
            labels: BTreeMap::new(),
            taints: Vec::new(),
            max_pods: None,
            kube_reserved: BTreeMap::new(),
            system_reserved: BTreeMap::new(),
            eviction_hard: BTreeMap::new(),
        }
    }
}

pub(super) fn invalid(message: impl Into<String>) -> Error {
    Error::UserData(message.into())
}

/// Decodes the base64 user data EC2 returns (whitespace tolerated).
pub fn decode_base64(encoded: &str) -> Result<String> {
    let compact: String = encoded.split_whitespace().collect();
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(compact.as_bytes())
        .map_err(|e| invalid(format!("user data is not base64: {e}")))?;
    String::from_utf8(bytes).map_err(|e| invalid(format!("user data is not UTF-8: {e}")))
}

/// Parses decoded user data of any supported family. `Ok(None)`: nothing a bootstrap would
/// act on (no NodeConfig, no bootstrap.sh call, no Bottlerocket settings), so the node
/// would never join.
pub fn parse(user_data: &str) -> Result<Option<NodeBootstrap>> {
    let text = user_data.replace("\r\n", "\n");
    if let Some(parts) = mime_parts(&text)? {
        let nodeadm: Vec<&str> = parts
            .iter()
            .filter(|p| p.content_type == "application/node.eks.aws")
            .map(|p| p.body.as_str())
            .collect();
        if !nodeadm.is_empty() {
            return parse_nodeadm(&nodeadm).map(Some);
        }
        for part in &parts {
            if part.content_type.starts_with("text/x-shellscript") || part.content_type.is_empty() {
                if let Some(found) = parse_bootstrap_script(&part.body)? {
                    return Ok(Some(found));
                }
            }
        }
        return Ok(None);
    }
    if text.contains("/etc/eks/bootstrap.sh") {
        return parse_bootstrap_script(&text);
    }
    if looks_like_node_config(&text) {
        return parse_nodeadm(&[text.as_str()]).map(Some);
    }
    if let Ok(table) = text.parse::<toml::Table>() {
        if table.contains_key("settings") {
            return parse_bottlerocket(&text).map(Some);
        }
    }
    Ok(None)
}

/// Test helpers shared by the per-family tests.
#[cfg(test)]
impl NodeBootstrap {
    /// Parses user data that must join a cluster.
    fn parsed(user_data: &str) -> Self {
        parse(user_data)
            .expect("parse")
            .expect("user data that joins")
    }

    /// The taints as `(key, value, effect)`.
    fn taint_triples(&self) -> Vec<(&str, Option<&str>, &str)> {
        self.taints
            .iter()
            .map(|t| (t.key.as_str(), t.value.as_deref(), t.effect.as_str()))
            .collect()
    }
}

fn looks_like_node_config(text: &str) -> bool {
    text.lines().any(|l| {
        let l = l.trim();
        l.starts_with("apiVersion:") && l.contains("node.eks.aws/")
    })
}

// ---------------------------------------------------------------------------------------
// NodeRestriction

/// Labels kubelet may set on its own Node whatever their namespace.
const KUBELET_LABELS: [&str; 12] = [
    "kubernetes.io/hostname",
    "kubernetes.io/arch",
    "kubernetes.io/os",
    "beta.kubernetes.io/arch",
    "beta.kubernetes.io/os",
    "beta.kubernetes.io/instance-type",
    "node.kubernetes.io/instance-type",
    "topology.kubernetes.io/zone",
    "topology.kubernetes.io/region",
    "failure-domain.beta.kubernetes.io/zone",
    "failure-domain.beta.kubernetes.io/region",
    "node.kubernetes.io/windows-build",
];
/// Label namespaces (and their subdomains) kubelet may set.
const KUBELET_NAMESPACES: [&str; 2] = ["kubelet.kubernetes.io", "node.kubernetes.io"];

/// Whether kubelet may set `key` on its own Node (kubelet's `IsKubeletLabel`).
pub fn is_kubelet_label(key: &str) -> bool {
    if KUBELET_LABELS.contains(&key) {
        return true;
    }
    let namespace = label_namespace(key);
    KUBELET_NAMESPACES
        .iter()
        .any(|ns| namespace == *ns || namespace.ends_with(&format!(".{ns}")))
}

fn label_namespace(key: &str) -> &str {
    key.split_once('/').map_or("", |(prefix, _)| prefix)
}

fn in_namespace(namespace: &str, domain: &str) -> bool {
    namespace == domain || namespace.ends_with(&format!(".{domain}"))
}

/// The labels a kubelet may not set on itself, sorted: those in the `kubernetes.io` or
/// `k8s.io` namespaces (or their subdomains) that are not kubelet labels, which include
/// everything under `node-restriction.kubernetes.io/`. kubelet refuses to start with such
/// `--node-labels` and the NodeRestriction admission plugin refuses the Node, so the node
/// never joins.
pub fn node_restriction_violations(labels: &BTreeMap<String, String>) -> Vec<String> {
    labels
        .keys()
        .filter(|key| {
            let ns = label_namespace(key);
            (in_namespace(ns, "kubernetes.io") || in_namespace(ns, "k8s.io"))
                && !is_kubelet_label(key)
        })
        .cloned()
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unknown_user_data_joins_nothing() {
        assert_eq!(parse("").expect("empty"), None);
        assert_eq!(parse("hello world").expect("text"), None);
        assert_eq!(parse("[other]\nx = 1\n").expect("toml"), None);
    }

    #[test]
    fn decodes_base64_with_line_breaks() {
        let encoded = base64::engine::general_purpose::STANDARD.encode("#!/bin/bash\n");
        let wrapped = format!("{}\n{}", &encoded[..4], &encoded[4..]);
        assert_eq!(decode_base64(&wrapped).expect("decode"), "#!/bin/bash\n");
        assert!(decode_base64("***").is_err());
    }

    #[test]
    fn node_restriction_allows_kubelet_labels_only() {
        let labels: BTreeMap<String, String> = [
            "team",
            "karpenter.sh/nodepool",
            "example.com/x",
            "kubernetes.io/hostname",
            "kubernetes.io/arch",
            "node.kubernetes.io/instance-type",
            "node.kubernetes.io/custom",
            "sub.node.kubernetes.io/custom",
            "kubelet.kubernetes.io/foo",
            "topology.kubernetes.io/zone",
            "failure-domain.beta.kubernetes.io/region",
            "beta.kubernetes.io/os",
            // Forbidden:
            "kubernetes.io/role",
            "node-role.kubernetes.io/worker",
            "node-restriction.kubernetes.io/trusted",
            "topology.kubernetes.io/rack",
            "beta.kubernetes.io/fluentd",
            "example.k8s.io/thing",
            "k8s.io/thing",
        ]
        .iter()
        .map(|k| ((*k).to_owned(), "v".to_owned()))
        .collect();
        assert_eq!(
            node_restriction_violations(&labels),
            [
                "beta.kubernetes.io/fluentd",
                "example.k8s.io/thing",
                "k8s.io/thing",
                "kubernetes.io/role",
                "node-restriction.kubernetes.io/trusted",
                "node-role.kubernetes.io/worker",
                "topology.kubernetes.io/rack",
            ]
        );
    }
}
