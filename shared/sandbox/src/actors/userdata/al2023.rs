//! AL2023: `nodeadm` `NodeConfig` documents.

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::Taint;
use serde_json::Value;

use super::al2::arg_words;
use super::kubelet::{check_effect, parse_kubelet_flags};
use super::{AmiFamily, NodeBootstrap, invalid};
use crate::error::Result;

/// Merges the NodeConfig documents in `parts` (each may hold several YAML documents) and
/// reads what kubelet registers with.
pub fn parse_nodeadm(parts: &[&str]) -> Result<NodeBootstrap> {
    use serde::Deserialize as _;
    let mut merged = Value::Null;
    let mut found = false;
    for part in parts {
        for document in serde_yaml_ng::Deserializer::from_str(part) {
            let doc = Value::deserialize(document)
                .map_err(|e| invalid(format!("NodeConfig is not valid YAML: {e}")))?;
            if doc.is_null() {
                continue;
            }
            let kind = doc.get("kind").and_then(Value::as_str);
            let api_version = doc.get("apiVersion").and_then(Value::as_str);
            if kind != Some("NodeConfig")
                || !api_version.is_some_and(|v| v.starts_with("node.eks.aws/"))
            {
                return Err(invalid(format!(
                    "nodeadm accepts only node.eks.aws NodeConfig documents, got \
                     apiVersion {api_version:?} kind {kind:?}"
                )));
            }
            merge_nodeadm(&mut merged, doc);
            found = true;
        }
    }
    if !found {
        return Err(invalid(
            "no NodeConfig in the application/node.eks.aws parts",
        ));
    }
    let mut out = NodeBootstrap::new(AmiFamily::Al2023);
    let spec = &merged["spec"];
    out.cluster_name = spec["cluster"]["name"].as_str().map(str::to_owned);
    let config = &spec["kubelet"]["config"];
    if let Some(max) = config.get("maxPods") {
        out.max_pods = Some(
            max.as_u64()
                .and_then(|m| u32::try_from(m).ok())
                .ok_or_else(|| invalid(format!("kubelet config maxPods {max} is not a count")))?,
        );
    }
    out.kube_reserved = string_map(&config["kubeReserved"], "kubeReserved")?;
    out.system_reserved = string_map(&config["systemReserved"], "systemReserved")?;
    out.eviction_hard = string_map(&config["evictionHard"], "evictionHard")?;
    if let Some(taints) = config.get("registerWithTaints") {
        let taints: Vec<Taint> = serde_json::from_value(taints.clone())
            .map_err(|e| invalid(format!("kubelet config registerWithTaints: {e}")))?;
        for taint in &taints {
            check_effect(&taint.effect)?;
        }
        out.taints = taints;
    }
    let mut args = Vec::new();
    if let Some(flags) = spec["kubelet"]["flags"].as_array() {
        for flag in flags {
            let flag = flag
                .as_str()
                .ok_or_else(|| invalid(format!("kubelet flag {flag} is not a string")))?;
            args.extend(arg_words(flag)?);
        }
    }
    parse_kubelet_flags(&args)?.apply(&mut out);
    Ok(out)
}

/// nodeadm's merge: objects merge key by key, later scalars win, lists append.
fn merge_nodeadm(into: &mut Value, from: Value) {
    match (into, from) {
        (Value::Object(a), Value::Object(b)) => {
            for (k, v) in b {
                merge_nodeadm(a.entry(k).or_insert(Value::Null), v);
            }
        }
        (Value::Array(a), Value::Array(b)) => a.extend(b),
        (slot, v) => *slot = v,
    }
}

fn string_map(v: &Value, what: &str) -> Result<BTreeMap<String, String>> {
    match v {
        Value::Null => Ok(BTreeMap::new()),
        Value::Object(map) => map
            .iter()
            .map(|(k, v)| match v {
                Value::String(s) => Ok((k.clone(), s.clone())),
                Value::Number(n) => Ok((k.clone(), n.to_string())),
                other => Err(invalid(format!("{what}.{k}: {other} is not a quantity"))),
            })
            .collect(),
        other => Err(invalid(format!("{what}: {other} is not a map"))),
    }
}

#[cfg(test)]
mod tests {
    use base64::Engine as _;

    use super::*;
    use crate::actors::userdata::{AmiFamily, samples};

    /// Karpenter's AL2023 output (its own NodeConfig first, the user's after, then a
    /// user shell script), as in aws/karpenter-provider-aws's launch template goldens.
    fn al2023_mime() -> String {
        const KUBELET: &str = r#"    config:
      clusterDNS:
      - 10.0.100.10
      maxPods: 110
      kubeReserved:
        cpu: 80m
        memory: 893Mi
      evictionHard:
        memory.available: 5%
      registerWithTaints:
      - effect: NoExecute
        key: karpenter.sh/unregistered
    flags:
    - --node-labels="karpenter.k8s.aws/ec2nodeclass=default,karpenter.sh/capacity-type=on-demand,karpenter.sh/nodepool=default,team=a"
    - --register-with-taints="karpenter.sh/unregistered:NoExecute,dedicated=gpu:NoSchedule"
"#;
        const USER_CONFIG: &str = "Content-Type: application/node.eks.aws\n\napiVersion: node.eks.aws/v1alpha1\nkind: NodeConfig\nspec:\n  kubelet:\n    config:\n      maxPods: 42\n";
        const USER_SCRIPT: &str = "Content-Type: text/x-shellscript; charset=\"us-ascii\"\n\n#!/bin/bash\necho \"Hello, AL2023!\"\n";
        samples::karpenter_al2023(
            "https://test-cluster",
            "test-cluster",
            KUBELET,
            &[USER_CONFIG, USER_SCRIPT],
        )
    }

    #[test]
    fn al2023_nodeadm_mime_merges_documents_and_reads_flags() {
        let b = NodeBootstrap::parsed(&al2023_mime());
        assert_eq!(b.family, AmiFamily::Al2023);
        assert_eq!(b.cluster_name.as_deref(), Some("test-cluster"));
        assert_eq!(b.max_pods, Some(42), "the later document wins");
        assert_eq!(b.labels.len(), 4);
        assert_eq!(b.labels["karpenter.sh/nodepool"], "default");
        assert_eq!(b.labels["team"], "a");
        let taints = b.taint_triples();
        assert_eq!(
            taints,
            [
                ("karpenter.sh/unregistered", None, "NoExecute"),
                ("dedicated", Some("gpu"), "NoSchedule")
            ]
        );
        assert_eq!(b.kube_reserved["memory"], "893Mi");
        assert_eq!(b.eviction_hard["memory.available"], "5%");
    }

    #[test]
    fn al2023_bare_node_config_and_flag_over_config() {
        let yaml = "---\napiVersion: node.eks.aws/v1alpha1\nkind: NodeConfig\nspec:\n  cluster:\n    name: c1\n  kubelet:\n    config:\n      maxPods: 50\n      registerWithTaints:\n      - key: a\n        value: b\n        effect: NoSchedule\n    flags:\n      - --max-pods=17\n      - --node-labels=x=1\n      - --node-labels=y=2\n";
        let b = NodeBootstrap::parsed(yaml);
        assert_eq!(b.family, AmiFamily::Al2023);
        assert_eq!(b.cluster_name.as_deref(), Some("c1"));
        assert_eq!(b.max_pods, Some(17), "the flag wins over the config file");
        assert_eq!(b.labels.len(), 2, "repeated --node-labels add up");
        assert_eq!(b.taints.len(), 1);
        assert_eq!(b.taints[0].value.as_deref(), Some("b"));
    }

    #[test]
    fn al2023_without_max_pods_uses_the_eni_default_and_mime_base64_parts() {
        let config = "apiVersion: node.eks.aws/v1alpha1\nkind: NodeConfig\nspec:\n  cluster:\n    name: c2\n";
        let encoded = base64::engine::general_purpose::STANDARD.encode(config);
        let mime = format!(
            "MIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=BOUNDARY\r\n\r\n--BOUNDARY\r\nContent-Type: application/node.eks.aws\r\nContent-Transfer-Encoding: base64\r\n\r\n{encoded}\r\n--BOUNDARY--\r\n"
        );
        let b = NodeBootstrap::parsed(&mime);
        assert_eq!(b.cluster_name.as_deref(), Some("c2"));
        assert_eq!(b.max_pods, None);
        assert!(b.labels.is_empty() && b.taints.is_empty());
    }

    #[test]
    fn al2023_rejects_other_kinds_and_bad_effects() {
        let other = "apiVersion: node.eks.aws/v1alpha1\nkind: Pod\n";
        assert!(parse_nodeadm(&[other]).is_err());
        let bad = "apiVersion: node.eks.aws/v1alpha1\nkind: NodeConfig\nspec:\n  kubelet:\n    flags: ['--register-with-taints=a=b:Sometimes']\n";
        let err = parse_nodeadm(&[bad]).expect_err("bad effect");
        assert!(err.to_string().contains("Sometimes"), "{err}");
    }
}
