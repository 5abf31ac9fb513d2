//! Pool policy: weights, limits, minValues, and v1alpha5 Provisioner defaults.

use super::*;

/// The default pool allowing families c5 and m5 with minValues 2.
fn two_families_pool() -> Value {
    default_pool_with(
        json!({"requirements": [{"key": "karpenter.k8s.aws/instance-family", "operator": "In", "values": ["c5", "m5"], "minValues": 2}]}),
    )
}

/// A karpenter.sh/v1alpha5 Provisioner "legacy" with `spec`.
fn provisioner(spec: Value) -> Value {
    json!({"apiVersion": "karpenter.sh/v1alpha5", "kind": "Provisioner", "metadata": {"name": "legacy"}, "spec": spec})
}

#[test]
fn higher_weight_pool_is_tried_first() {
    // Names sort against the weights, so only the weight can explain the outcome.
    let low = pool("a-low", json!({"weight": 1}), json!({}));
    let high = pool(
        "z-high",
        json!({"weight": 50}),
        requirement("kubernetes.io/arch", "In", &["arm64"]),
    );
    let s = run_with_pool(
        low,
        vec![
            high,
            plain("any", "100m", "128Mi"),
            pod_with(
                "amd",
                "100m",
                "128Mi",
                json!({"nodeSelector": {"kubernetes.io/arch": "amd64"}}),
            ),
        ],
        &[c5_large(), m6g_large()],
    );
    all_scheduled(&s);
    assert_eq!(claim_of(&s, "any").pool, "z-high");
    // The heavier pool cannot take an amd64 pod: the lighter one does.
    assert_eq!(claim_of(&s, "amd").pool, "a-low");
}

#[test]
fn limits_stop_provisioning() {
    // Limit 6 cpu, only c5.xlarge (capacity 4 cpu, 3000m fits its 3920m): the first claim
    // is charged 4 cpu, leaving 2 < 4, so the second pod is not provisioned.
    let s = run_with_pool(
        limited_pool(json!({"cpu": "6"})),
        vec![deployment("web", 2, "3000m", "512Mi", json!({}))],
        &[c5_xlarge()],
    );
    assert_eq!(s.claims.len(), 1);
    assert_eq!(s.unschedulable.len(), 1, "{s:#?}");
    let r = &s.unschedulable[0].reason;
    assert!(r.contains("limit"), "reason mentions limits: {r}");
}

#[test]
fn memory_limit_stops_provisioning() {
    // Limit 10Gi of memory; each c5.xlarge is charged its 8Gi capacity: 8 + 8 > 10.
    let s = run_with_pool(
        limited_pool(json!({"memory": "10Gi"})),
        vec![deployment("web", 2, "3000m", "512Mi", json!({}))],
        &[c5_xlarge()],
    );
    assert_eq!(s.claims.len(), 1);
    assert_eq!(s.unschedulable.len(), 1);
    assert!(
        s.unschedulable[0].reason.contains("limit"),
        "{}",
        s.unschedulable[0].reason
    );
}

#[test]
fn limits_leave_out_types_that_would_break_them() {
    // Limit 3 cpu: c5.xlarge (4 cpu capacity) would break it, c5.large (2) does not.
    let s = run_with_pool(
        limited_pool(json!({"cpu": "3"})),
        vec![plain("p", "500m", "512Mi")],
        &[c5_large(), c5_xlarge()],
    );
    all_scheduled(&s);
    assert_eq!(types_of(&s, "p"), strs(&["c5.large"]));
}

#[test]
fn limits_count_existing_nodes_of_the_pool() {
    // A Node of the pool with 4 cpu capacity against a limit of 4: nothing new launches.
    let mut n = node("n1", true);
    n["metadata"]["labels"]["karpenter.sh/nodepool"] = json!("default");
    n["status"]["capacity"] = json!({"cpu": "4", "memory": "8Gi", "pods": "58"});
    let s = run_with_pool(
        limited_pool(json!({"cpu": "4"})),
        vec![n, plain("p", "100m", "128Mi")],
        &[c5_large()],
    );
    assert!(s.claims.is_empty(), "{:#?}", s.claims);
    let r = reason(&s, "p").expect("p is unschedulable");
    assert!(r.contains("limit"), "{r}");
}

#[test]
fn min_values_unmet_is_unschedulable() {
    // Families c5 and m5 allowed, minValues 2. A 100m pod fits both families; a 3000m pod
    // fits only c5.xlarge (m5.large has 1930m), one family < 2.
    let types = [c5_large(), m5_large(), c5_xlarge()];
    let s = run_with_pool(
        two_families_pool(),
        vec![plain("small", "100m", "128Mi")],
        &types,
    );
    all_scheduled(&s);
    assert_eq!(
        types_of(&s, "small"),
        strs(&["c5.large", "m5.large", "c5.xlarge"])
    );

    let s = run_with_pool(
        two_families_pool(),
        vec![plain("big", "3000m", "512Mi")],
        &types,
    );
    assert!(s.claims.is_empty(), "{:#?}", s.claims);
    let r = reason(&s, "big").expect("big is unschedulable");
    assert!(r.contains("minValues"), "{r}");
}

#[test]
fn small_pods_keep_a_min_values_claim_diverse() {
    // Many small pods on one claim must not narrow it below 2 families.
    let s = run_with_pool(
        two_families_pool(),
        vec![deployment("web", 6, "500m", "256Mi", json!({}))],
        &[c5_large(), m5_large(), c5_xlarge(), c5_2xlarge()],
    );
    all_scheduled(&s);
    for c in &s.claims {
        let families: std::collections::BTreeSet<&str> = c
            .instance_types
            .iter()
            .map(|t| t.split('.').next().unwrap())
            .collect();
        assert!(families.len() >= 2, "{c:#?}");
    }
}

#[test]
fn v1alpha5_provisioner_defaults() {
    // Cheaper alternatives that the v0.27 defaults rule out: arm64 (m6g), category t (t3),
    // generation 2 (c2: not > 2), and a spot offering of c5.large.
    let types = [
        with_spot(c5_large(), 0.03),
        m6g_large(),
        t3_large(),
        ty("c2.large", 2, 4096, 29, 0.04),
        ty("r5.large", 2, 16384, 29, 0.126),
    ];
    let s = run(
        &[provisioner(json!({})), plain("p", "500m", "512Mi")],
        &types,
    );
    all_scheduled(&s);
    let c = claim_of(&s, "p");
    assert_eq!(c.pool, "legacy");
    assert_eq!(c.instance_types, strs(&["c5.large", "r5.large"]));
    assert_eq!(c.capacity_types, strs(&["on-demand"]));
    assert_eq!(c.cheapest.capacity_type, "on-demand");
    assert_eq!(c.cheapest.price, 0.085);
    assert_eq!(
        c.labels
            .get("karpenter.sh/provisioner-name")
            .map(String::as_str),
        Some("legacy")
    );
    assert_eq!(
        c.labels
            .get("karpenter.sh/capacity-type")
            .map(String::as_str),
        Some("on-demand")
    );
}

#[test]
fn v1alpha5_provisioner_naming_a_family_drops_the_category_default() {
    // instance-family In [t3, c5]: the c/m/r and generation defaults no longer apply, so
    // t3.large is allowed; arm64 (m6g) is still out by the arch default.
    let prov = provisioner(requirement(
        "karpenter.k8s.aws/instance-family",
        "In",
        &["t3", "c5", "m6g"],
    ));
    let s = run(
        &[prov, plain("p", "500m", "512Mi")],
        &[c5_large(), t3_large(), m6g_large()],
    );
    assert_eq!(types_of(&s, "p"), strs(&["t3.large", "c5.large"]));
}

#[test]
fn v1_nodepool_has_no_defaults() {
    // Same catalog as above, v1 NodePool: everything is allowed, spot c5.large is cheapest.
    let s = run_default(
        vec![plain("p", "500m", "512Mi")],
        &[with_spot(c5_large(), 0.03), m6g_large(), t3_large()],
    );
    let c = claim_of(&s, "p");
    assert_eq!(c.instance_types.len(), 3);
    assert_eq!(c.cheapest.instance_type, "c5.large");
    assert_eq!(c.cheapest.capacity_type, "spot");
}
