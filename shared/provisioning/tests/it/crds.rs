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

/// Asserts the schema of `version` in `file` has every one of `paths`, and every field of
/// each `(prefix, fields)` under its prefix.
fn assert_paths(file: &str, version: &str, paths: &[&str], nested: &[(&str, &[&str])]) {
    let mut all: Vec<String> = paths.iter().map(|p| p.to_string()).collect();
    for (prefix, fields) in nested {
        all.extend(fields.iter().map(|f| format!("{prefix}.{f}")));
    }
    let c = crd(file);
    let s = schema(&c, version);
    let missing: Vec<&String> = all.iter().filter(|p| !has_path(s, p)).collect();
    assert!(missing.is_empty(), "{file} {version} lacks {missing:?}");
}

const REQUIREMENT: [&str; 4] = ["key", "operator", "values", "minValues"];
const TAINT: [&str; 3] = ["key", "value", "effect"];
const KUBELET: [&str; 5] = [
    "maxPods",
    "podsPerCore",
    "systemReserved",
    "kubeReserved",
    "evictionHard",
];

#[test]
fn nodepool_v1_has_the_fields_we_read() {
    assert_paths(
        "karpenter.sh_nodepools.yaml",
        "v1",
        &[
            "spec.template.metadata.labels",
            "spec.template.spec.nodeClassRef.group",
            "spec.template.spec.nodeClassRef.kind",
            "spec.template.spec.nodeClassRef.name",
            "spec.limits",
            "spec.weight",
        ],
        &[
            ("spec.template.spec.requirements", &REQUIREMENT),
            ("spec.template.spec.taints", &TAINT),
            ("spec.template.spec.startupTaints", &TAINT),
        ],
    );
}

#[test]
fn nodeclaim_v1_has_the_fields_we_read() {
    assert_paths(
        "karpenter.sh_nodeclaims.yaml",
        "v1",
        &[
            "status.nodeName",
            "status.providerID",
            "status.allocatable",
            "status.capacity",
        ],
        &[
            ("spec.requirements", &REQUIREMENT),
            ("spec.taints", &TAINT),
            ("spec.startupTaints", &TAINT),
        ],
    );
}

#[test]
fn ec2nodeclass_v1_kubelet_fields() {
    assert_paths(
        "karpenter.k8s.aws_ec2nodeclasses.yaml",
        "v1",
        &[],
        &[("spec.kubelet", &KUBELET)],
    );
}

#[test]
fn provisioner_v1alpha5_has_the_fields_we_read() {
    assert_paths(
        "karpenter.sh_provisioners.yaml",
        "v1alpha5",
        &[
            "spec.labels",
            "spec.limits.resources",
            "spec.weight",
            "spec.providerRef.name",
        ],
        &[
            ("spec.requirements", &["key", "operator", "values"]),
            ("spec.taints", &TAINT),
            ("spec.startupTaints", &TAINT),
            ("spec.kubeletConfiguration", &KUBELET),
        ],
    );
}

#[test]
fn a_missing_field_is_caught() {
    let c = crd("karpenter.sh_nodepools.yaml");
    assert!(!has_path(
        schema(&c, "v1"),
        "spec.template.spec.noSuchField"
    ));
}
