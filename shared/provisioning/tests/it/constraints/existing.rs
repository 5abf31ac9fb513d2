//! Existing capacity: Nodes and in-flight NodeClaims are filled before new claims.

use super::*;

#[test]
fn existing_node_is_filled_before_new_claims() {
    // n1 has 3920m: a bound 1000m pod leaves 2920m, enough for two 1000m pods; the third
    // goes to a new claim.
    let s = run_default(
        vec![
            node("n1", false),
            bound_to(plain("bound", "1000m", "512Mi"), "n1"),
            deployment("web", 3, "1000m", "512Mi", json!({})),
        ],
        &[c5_large()],
    );
    all_scheduled(&s);
    let on_node = existing(&s, "n1");
    assert_eq!(on_node.len(), 3, "{on_node:?}");
    assert!(on_node.contains(&"default/bound".to_string()));
    assert_eq!(s.claims.len(), 1);
    assert_eq!(s.claims[0].pods.len(), 1);
}

#[test]
fn cordoned_node_takes_no_new_pods() {
    let s = run_default(
        vec![
            node("n1", true),
            bound_to(plain("bound", "1000m", "512Mi"), "n1"),
            plain("new", "100m", "128Mi"),
        ],
        &[c5_large()],
    );
    all_scheduled(&s);
    assert_eq!(existing(&s, "n1"), &["default/bound".to_string()]);
    claim_of(&s, "new");
}

#[test]
fn in_flight_nodeclaim_absorbs_pods() {
    // A launched-but-not-registered c5.xlarge (3920m): two 1500m pods fit on it.
    let nc = json!({"apiVersion": "karpenter.sh/v1", "kind": "NodeClaim",
        "metadata": {"name": "default-abcde", "labels": {"karpenter.sh/nodepool": "default", "node.kubernetes.io/instance-type": "c5.xlarge", "topology.kubernetes.io/zone": "z-b"}},
        "spec": {"requirements": [{"key": "karpenter.sh/nodepool", "operator": "In", "values": ["default"]}], "nodeClassRef": {"group": "karpenter.k8s.aws", "kind": "EC2NodeClass", "name": "default"}}});
    let s = run_default(
        vec![nc, deployment("web", 2, "1500m", "512Mi", json!({}))],
        &[c5_large(), c5_xlarge()],
    );
    all_scheduled(&s);
    assert!(s.claims.is_empty(), "{:#?}", s.claims);
    assert_eq!(
        existing(&s, "default-abcde"),
        &strs(&["default/web-0", "default/web-1"])
    );
}

#[test]
fn deleting_nodeclaim_takes_no_pods() {
    let nc = json!({"apiVersion": "karpenter.sh/v1", "kind": "NodeClaim",
        "metadata": {"name": "nc1", "deletionTimestamp": "2024-01-01T00:00:00Z", "labels": {"karpenter.sh/nodepool": "default", "node.kubernetes.io/instance-type": "c5.xlarge"}},
        "spec": {"requirements": []}});
    let s = run_default(
        vec![nc, plain("p", "100m", "128Mi")],
        &[c5_large(), c5_xlarge()],
    );
    all_scheduled(&s);
    claim_of(&s, "p");
}

#[test]
fn unlaunched_nodeclaim_counts_as_its_cheapest_allowed_type() {
    // No instance-type label: its requirement allows c5.xlarge and c5.2xlarge, the cheapest
    // is c5.xlarge (3920m): two 1500m pods fit (3000m), the third needs a new claim.
    let nc = json!({"apiVersion": "karpenter.sh/v1", "kind": "NodeClaim",
        "metadata": {"name": "nc1", "labels": {"karpenter.sh/nodepool": "default"}},
        "spec": {"requirements": [{"key": "node.kubernetes.io/instance-type", "operator": "In", "values": ["c5.xlarge", "c5.2xlarge"]}]}});
    let s = run_default(
        vec![nc, deployment("web", 3, "1500m", "128Mi", json!({}))],
        &[c5_large(), c5_xlarge(), c5_2xlarge()],
    );
    all_scheduled(&s);
    assert_eq!(existing(&s, "nc1").len(), 2, "{s:#?}");
    assert_eq!(s.claims.len(), 1);
}
