//! DaemonSet overhead: which DaemonSets count against a pool's types.

use super::*;

/// The 1500m pod "p" that fits c5.large (1930m) alone, but not with a 500m DaemonSet.
fn p_1500m(spec: Value) -> Value {
    pod_with("p", "1500m", "512Mi", spec)
}

/// An "agent" DaemonSet of 500m with `spec`.
fn agent(spec: Value) -> Value {
    daemonset("agent", "500m", "128Mi", spec)
}

#[test]
fn daemonset_overhead_pushes_to_a_bigger_type() {
    // Pod 1500m + DaemonSet 500m = 2000m > c5.large's 1930m: only c5.xlarge (3920m) fits.
    let s = run_default(
        vec![agent(json!({})), p_1500m(json!({}))],
        &[c5_large(), c5_xlarge()],
    );
    all_scheduled(&s);
    assert_eq!(types_of(&s, "p"), strs(&["c5.xlarge"]));
}

#[test]
fn daemonset_that_does_not_match_the_pool_is_not_counted() {
    // The arm64-only DaemonSet never runs on this amd64 pool, and the untolerating one
    // is repelled by its taint: 1500m fits c5.large (1930m), which stays first.
    let p = default_pool_with(
        json!({"requirements": [{"key": "kubernetes.io/arch", "operator": "In", "values": ["amd64"]}], "taints": [{"key": "team", "value": "a", "effect": "NoSchedule"}]}),
    );
    let toleration = json!({"tolerations": [{"key": "team", "operator": "Exists"}]});
    let mut arm_only = json!({"nodeSelector": {"kubernetes.io/arch": "arm64"}});
    merge(&mut arm_only, toleration.clone());
    let s = run_with_pool(
        p,
        vec![
            daemonset("arm-agent", "500m", "128Mi", arm_only),
            daemonset("untolerating", "500m", "128Mi", json!({})),
            p_1500m(toleration.clone()),
        ],
        &[c5_large(), c5_xlarge()],
    );
    all_scheduled(&s);
    assert_eq!(types_of(&s, "p"), strs(&["c5.large", "c5.xlarge"]));

    // Control: a DaemonSet that tolerates the taint is counted.
    let s = run_with_pool(
        default_pool_with(
            json!({"taints": [{"key": "team", "value": "a", "effect": "NoSchedule"}]}),
        ),
        vec![
            daemonset("tolerating", "500m", "128Mi", toleration.clone()),
            p_1500m(toleration),
        ],
        &[c5_large(), c5_xlarge()],
    );
    assert_eq!(types_of(&s, "p"), strs(&["c5.xlarge"]));
}

#[test]
fn daemonset_required_affinity_is_an_or_of_terms() {
    // Terms [arm64] OR [amd64]: the DaemonSet runs on this amd64 pool (its second term
    // holds; Karpenter's isDaemonPodCompatible relaxes the terms one by one), so its 500m
    // counts: 1500m + 500m = 2000m > c5.large's 1930m, only c5.xlarge (3920m) fits.
    let aff = required_node_affinity(&[
        json!([expr("kubernetes.io/arch", "In", &["arm64"])]),
        json!([expr("kubernetes.io/arch", "In", &["amd64"])]),
    ]);
    let s = run_with_pool(
        default_pool_with(requirement("kubernetes.io/arch", "In", &["amd64"])),
        vec![agent(aff), p_1500m(json!({}))],
        &[c5_large(), c5_xlarge()],
    );
    assert_eq!(types_of(&s, "p"), strs(&["c5.xlarge"]));
}

#[test]
fn daemonset_takes_a_pods_slot() {
    // maxPods 3 (memory 4096-308-(11x3+255=288)-100 = 3400 MiB, plenty): the DaemonSet
    // pod takes one slot, so each claim holds 2 of the 4 tiny pods.
    let s = run_default(
        vec![
            daemonset("agent", "10m", "16Mi", json!({})),
            deployment("web", 4, "10m", "16Mi", json!({})),
        ],
        &[ty("c5.large", 2, 4096, 3, 0.085)],
    );
    all_scheduled(&s);
    assert_eq!(s.claims.len(), 2, "{:#?}", s.claims);
    assert!(
        s.claims.iter().all(|c| c.pods.len() == 2),
        "{:#?}",
        s.claims
    );
}

#[test]
fn daemonset_selecting_a_label_the_pool_lacks_is_not_counted() {
    // nodeSelector gpu=true: not a label of the default pool, so no overhead (c5.large
    // stays first); a pool whose template labels gpu=true gets the 500m (only c5.xlarge).
    let docs = || {
        vec![
            agent(json!({"nodeSelector": {"gpu": "true"}})),
            p_1500m(json!({})),
        ]
    };
    let s = run_default(docs(), &[c5_large(), c5_xlarge()]);
    assert_eq!(types_of(&s, "p"), strs(&["c5.large", "c5.xlarge"]));
    let labelled = pool(
        "default",
        json!({"template": {"metadata": {"labels": {"gpu": "true"}}, "spec": {"requirements": []}}}),
        json!({}),
    );
    let s = run_with_pool(labelled, docs(), &[c5_large(), c5_xlarge()]);
    assert_eq!(types_of(&s, "p"), strs(&["c5.xlarge"]));
}

#[test]
fn daemonset_ignores_startup_and_prefer_no_schedule_taints() {
    // Neither taint keeps the untolerating DaemonSet off the pool: 1500m + 500m > 1930m.
    for taints in [
        json!({"startupTaints": [{"key": "init", "effect": "NoSchedule"}]}),
        json!({"taints": [{"key": "soft", "effect": "PreferNoSchedule"}]}),
    ] {
        let s = run_with_pool(
            default_pool_with(taints.clone()),
            vec![agent(json!({})), p_1500m(json!({}))],
            &[c5_large(), c5_xlarge()],
        );
        assert_eq!(types_of(&s, "p"), strs(&["c5.xlarge"]), "{taints}");
    }
}
