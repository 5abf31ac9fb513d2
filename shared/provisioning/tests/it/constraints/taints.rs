//! Taints and tolerations: NoSchedule, startup taints, PreferNoSchedule.

use super::*;

#[test]
fn taints_repel_pods_without_a_toleration() {
    let tainted = pool(
        "gpu",
        json!({}),
        json!({"taints": [{"key": "dedicated", "value": "gpu", "effect": "NoSchedule"}]}),
    );
    let tolerating = |name: &str, toleration: Value| {
        pod_with(name, "500m", "512Mi", json!({"tolerations": [toleration]}))
    };
    let s = run_with_pool(
        tainted,
        vec![
            plain("plain", "500m", "512Mi"),
            tolerating(
                "equal",
                json!({"key": "dedicated", "operator": "Equal", "value": "gpu", "effect": "NoSchedule"}),
            ),
            // Exists with no effect tolerates every effect of the key.
            tolerating("exists", json!({"key": "dedicated", "operator": "Exists"})),
            tolerating(
                "wrong-value",
                json!({"key": "dedicated", "operator": "Equal", "value": "cpu", "effect": "NoSchedule"}),
            ),
        ],
        &[c5_large()],
    );
    let r = reason(&s, "plain").expect("plain is unschedulable");
    assert!(r.contains("dedicated"), "reason names the taint: {r}");
    assert!(reason(&s, "wrong-value").is_some(), "{s:#?}");
    let c = claim_of(&s, "equal");
    assert_eq!(c.pool, "gpu");
    assert!(
        c.taints.iter().any(|t| t.key == "dedicated"),
        "{:?}",
        c.taints
    );
    claim_of(&s, "exists");
    assert_eq!(s.unschedulable.len(), 2);
}

#[test]
fn startup_taints_do_not_repel_and_are_reported() {
    let p = default_pool_with(
        json!({"startupTaints": [{"key": "node.cilium.io/agent-not-ready", "value": "true", "effect": "NoExecute"}]}),
    );
    let s = run_with_pool(p, vec![plain("p", "500m", "512Mi")], &[c5_large()]);
    all_scheduled(&s);
    let c = claim_of(&s, "p");
    assert!(
        c.taints
            .iter()
            .any(|t| t.key == "node.cilium.io/agent-not-ready"),
        "{:?}",
        c.taints
    );
}

#[test]
fn prefer_no_schedule_pool_avoided_when_another_fits() {
    // The tainted pool has the higher weight, so it is tried first; the pod has no
    // toleration and goes to the untainted pool.
    let soft = pool(
        "soft",
        json!({"weight": 50}),
        json!({"taints": [{"key": "spot-only", "effect": "PreferNoSchedule"}]}),
    );
    let plain_pool = pool("plain", json!({}), json!({}));
    let s = run_with_pool(
        soft.clone(),
        vec![plain_pool, plain("p", "500m", "512Mi")],
        &[c5_large()],
    );
    all_scheduled(&s);
    assert_eq!(claim_of(&s, "p").pool, "plain");

    // With no other pool, the soft taint is tolerated in the end.
    let s = run_with_pool(soft, vec![plain("p", "500m", "512Mi")], &[c5_large()]);
    all_scheduled(&s);
    assert_eq!(claim_of(&s, "p").pool, "soft");
}
