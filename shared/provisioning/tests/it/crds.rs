//! The Karpenter CRDs we install (infra/crds, verbatim upstream) have every field our API
//! types read, so a manifest the cluster accepts is one the simulation understands.

use serde_json::Value;

fn crd(file: &str) -> Value {
    let path = format!("{}/../../infra/crds/{file}", env!("CARGO_MANIFEST_DIR"));
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
    serde_yaml_ng::from_str(&text).unwrap_or_else(|e| panic!("{path}: {e}"))
}

fn schema<'a>(crd: &'a Value, version: &str) -> &'a Value {
    crd["spec"]["versions"]
        .as_array()
        .and_then(|vs| vs.iter().find(|v| v["name"] == version))
        .map(|v| &v["schema"]["openAPIV3Schema"])
        .unwrap_or_else(|| panic!("version {version} not served"))
}

/// Walks `a.b.c` through properties, stepping into array items and map values.
fn has_path(mut node: &Value, path: &str) -> bool {
    for seg in path.split('.') {
        while let Some(inner) = node
            .get("items")
            .or_else(|| node.get("additionalProperties").filter(|v| v.is_object()))
        {
            node = inner;
        }
        match node.get("properties").and_then(|p| p.get(seg)) {
            Some(next) => node = next,
            None => return false,
        }
    }
    true
}

fn assert_paths(file: &str, version: &str, paths: &[&str]) {
    let c = crd(file);
    let s = schema(&c, version);
    let missing: Vec<&&str> = paths.iter().filter(|p| !has_path(s, p)).collect();
    assert!(missing.is_empty(), "{file} {version} lacks {missing:?}");
}

const REQUIREMENT: [&str; 4] = ["key", "operator", "values", "minValues"];
const TAINT: [&str; 3] = ["key", "value", "effect"];

fn with(prefix: &str, fields: &[&str]) -> Vec<String> {
    fields.iter().map(|f| format!("{prefix}.{f}")).collect()
}

#[test]
fn nodepool_v1_has_the_fields_we_read() {
    let mut paths = vec![
        "spec.template.metadata.labels".to_string(),
        "spec.template.spec.nodeClassRef.group".into(),
        "spec.template.spec.nodeClassRef.kind".into(),
        "spec.template.spec.nodeClassRef.name".into(),
        "spec.limits".into(),
        "spec.weight".into(),
    ];
    paths.extend(with("spec.template.spec.requirements", &REQUIREMENT));
    paths.extend(with("spec.template.spec.taints", &TAINT));
    paths.extend(with("spec.template.spec.startupTaints", &TAINT));
    let refs: Vec<&str> = paths.iter().map(String::as_str).collect();
    assert_paths("karpenter.sh_nodepools.yaml", "v1", &refs);
}

#[test]
fn nodeclaim_v1_has_the_fields_we_read() {
    let mut paths = vec![
        "status.nodeName".to_string(),
        "status.providerID".into(),
        "status.allocatable".into(),
        "status.capacity".into(),
    ];
    paths.extend(with("spec.requirements", &REQUIREMENT));
    paths.extend(with("spec.taints", &TAINT));
    paths.extend(with("spec.startupTaints", &TAINT));
    let refs: Vec<&str> = paths.iter().map(String::as_str).collect();
    assert_paths("karpenter.sh_nodeclaims.yaml", "v1", &refs);
}

#[test]
fn ec2nodeclass_v1_kubelet_fields() {
    let paths = with(
        "spec.kubelet",
        &[
            "maxPods",
            "podsPerCore",
            "systemReserved",
            "kubeReserved",
            "evictionHard",
        ],
    );
    let refs: Vec<&str> = paths.iter().map(String::as_str).collect();
    assert_paths("karpenter.k8s.aws_ec2nodeclasses.yaml", "v1", &refs);
}

#[test]
fn provisioner_v1alpha5_has_the_fields_we_read() {
    let mut paths = vec![
        "spec.labels".to_string(),
        "spec.limits.resources".into(),
        "spec.weight".into(),
        "spec.providerRef.name".into(),
    ];
    paths.extend(with("spec.requirements", &["key", "operator", "values"]));
    paths.extend(with("spec.taints", &TAINT));
    paths.extend(with("spec.startupTaints", &TAINT));
    paths.extend(with(
        "spec.kubeletConfiguration",
        &[
            "maxPods",
            "podsPerCore",
            "systemReserved",
            "kubeReserved",
            "evictionHard",
        ],
    ));
    let refs: Vec<&str> = paths.iter().map(String::as_str).collect();
    assert_paths("karpenter.sh_provisioners.yaml", "v1alpha5", &refs);
}

#[test]
fn a_missing_field_is_caught() {
    let c = crd("karpenter.sh_nodepools.yaml");
    assert!(!has_path(
        schema(&c, "v1"),
        "spec.template.spec.noSuchField"
    ));
}
