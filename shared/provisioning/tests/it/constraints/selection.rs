//! Node selection: nodeSelector, required and preferred node affinity.

use super::*;

#[test]
fn node_selector_narrows_types_and_zones() {
    // m6g.large (arm64) is the cheapest, but the selector asks for amd64 in z-b.
    let s = run_default(
        vec![pod_with(
            "web",
            "500m",
            "512Mi",
            json!({"nodeSelector": {"kubernetes.io/arch": "amd64", "topology.kubernetes.io/zone": "z-b"}}),
        )],
        &[m6g_large(), c5_large(), m5_large()],
    );
    all_scheduled(&s);
    let c = claim_of(&s, "web");
    assert_eq!(c.instance_types, strs(&["c5.large", "m5.large"]));
    assert_eq!(c.zones, strs(&["z-b"]));
    assert_eq!(
        c.labels
            .get("topology.kubernetes.io/zone")
            .map(String::as_str),
        Some("z-b")
    );
    assert_eq!(c.cheapest.instance_type, "c5.large");
}

#[test]
fn node_selector_on_a_label_no_pool_offers_is_unschedulable() {
    let s = run_default(
        vec![pod_with(
            "web",
            "500m",
            "512Mi",
            json!({"nodeSelector": {"team": "blue"}}),
        )],
        &[c5_large()],
    );
    assert!(s.claims.is_empty());
    assert!(reason(&s, "web").is_some(), "{s:#?}");
}

#[test]
fn required_node_affinity_is_an_or_of_terms() {
    // Term 1 names a type that does not exist; term 2 (arm64) holds, so the pod lands on
    // m6g.large, the only arm64 type.
    let no_such_type = || json!([expr("node.kubernetes.io/instance-type", "In", &["x9.huge"])]);
    let affinity = required_node_affinity(&[
        no_such_type(),
        json!([expr("kubernetes.io/arch", "In", &["arm64"])]),
    ]);
    // A pod whose every term fails stays unschedulable.
    let impossible = required_node_affinity(&[
        no_such_type(),
        json!([expr("karpenter.k8s.aws/instance-cpu", "Gt", &["64"])]),
    ]);
    let s = run_default(
        vec![
            pod_with("either", "500m", "512Mi", affinity),
            pod_with("neither", "500m", "512Mi", impossible),
        ],
        &[c5_large(), m6g_large()],
    );
    assert_eq!(types_of(&s, "either"), strs(&["m6g.large"]));
    assert!(reason(&s, "neither").is_some(), "{s:#?}");
    assert_eq!(s.unschedulable.len(), 1);
}

#[test]
fn required_node_affinity_not_in_and_gt() {
    // NotIn amd64 leaves m6g.large; Gt 1 on instance-cpu keeps 2-vCPU types.
    let affinity = required_node_affinity(&[json!([
        expr("kubernetes.io/arch", "NotIn", &["amd64"]),
        expr("karpenter.k8s.aws/instance-cpu", "Gt", &["1"])
    ])]);
    let s = run_default(
        vec![pod_with("p", "500m", "512Mi", affinity)],
        &[c5_large(), m6g_large()],
    );
    assert_eq!(types_of(&s, "p"), strs(&["m6g.large"]));
}

#[test]
fn preferred_node_affinity_is_honoured_when_possible() {
    // amd64 types are cheaper here, yet the preference for arm64 wins.
    let prefer_arm =
        preferred_node_affinity(&[(50, json!([expr("kubernetes.io/arch", "In", &["arm64"])]))]);
    let s = run_default(
        vec![pod_with("p", "500m", "512Mi", prefer_arm)],
        &[c5_large(), arm_large_at(0.2)],
    );
    all_scheduled(&s);
    assert_eq!(types_of(&s, "p"), strs(&["m6g.large"]));
}

#[test]
fn preferred_node_affinity_is_relaxed_when_impossible() {
    let prefer_missing = preferred_node_affinity(&[(
        50,
        json!([expr("node.kubernetes.io/instance-type", "In", &["x9.huge"])]),
    )]);
    let s = run_default(
        vec![pod_with("p", "500m", "512Mi", prefer_missing)],
        &[c5_large(), m5_large()],
    );
    all_scheduled(&s);
    // Relaxed: the claim is as if there were no preference.
    assert_eq!(types_of(&s, "p"), strs(&["c5.large", "m5.large"]));
}

#[test]
fn heaviest_preferred_term_is_tried_first() {
    // weight 1: arm64 (listed first); weight 100: zone z-b. The heavier one is honoured.
    let pref = preferred_node_affinity(&[
        (1, json!([expr("kubernetes.io/arch", "In", &["arm64"])])),
        (
            100,
            json!([expr("topology.kubernetes.io/zone", "In", &["z-b"])]),
        ),
    ]);
    let s = run_default(
        vec![pod_with("p", "500m", "512Mi", pref)],
        &[c5_large(), arm_large_at(0.2)],
    );
    assert_eq!(claim_of(&s, "p").zones, strs(&["z-b"]));
}

#[test]
fn custom_label_from_pool_requirement_is_selectable() {
    let s = run_with_pool(
        default_pool_with(requirement("team", "In", &["a", "b"])),
        vec![pod_with(
            "p",
            "100m",
            "128Mi",
            json!({"nodeSelector": {"team": "b"}}),
        )],
        &[c5_large()],
    );
    assert_eq!(
        claim_of(&s, "p").labels.get("team").map(String::as_str),
        Some("b")
    );
}

#[test]
fn not_in_and_does_not_exist_pass_on_undefined_labels() {
    let aff = required_node_affinity(&[json!([
        expr("team", "NotIn", &["x"]),
        {"key": "other", "operator": "DoesNotExist"}
    ])]);
    let s = run_default(vec![pod_with("p", "100m", "128Mi", aff)], &[c5_large()]);
    all_scheduled(&s);
    claim_of(&s, "p");
}
