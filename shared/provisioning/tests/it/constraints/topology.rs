//! Topology spread constraints over zones and capacity types.

use super::*;

#[test]
fn zone_spread_max_skew_one_balances_zones() {
    // 6 small replicas, maxSkew 1 over 3 zones: 2 per zone.
    let s = run_default(
        vec![deployment("web", 6, "100m", "128Mi", zone_spread(1, None))],
        &[c5_large()],
    );
    all_scheduled(&s);
    assert_eq!(
        pods_per_zone(&s),
        counts(&[("z-a", 2), ("z-b", 2), ("z-c", 2)])
    );
    for c in &s.claims {
        assert_eq!(
            c.labels.get("topology.kubernetes.io/zone"),
            Some(&c.zones[0])
        );
    }
}

#[test]
fn zone_spread_larger_max_skew_allows_imbalance_within_it() {
    // Zone z-c is allowed only by the pool. 4 replicas, maxSkew 2 over zones {z-a, z-b}
    // (pool restricted): any split with |a - b| <= 2, all placed.
    let p = default_pool_with(requirement(
        "topology.kubernetes.io/zone",
        "In",
        &["z-a", "z-b"],
    ));
    let s = run_with_pool(
        p,
        vec![deployment("web", 4, "100m", "128Mi", zone_spread(2, None))],
        &[c5_large()],
    );
    all_scheduled(&s);
    let per_zone = pods_per_zone(&s);
    assert!(!per_zone.contains_key("z-c"), "{per_zone:?}");
    let a = per_zone.get("z-a").copied().unwrap_or(0) as i64;
    let b = per_zone.get("z-b").copied().unwrap_or(0) as i64;
    assert_eq!(a + b, 4);
    assert!((a - b).abs() <= 2, "{per_zone:?}");
}

#[test]
fn zone_spread_min_domains_caps_pods_when_too_few_zones() {
    // The pods may only use z-a and z-b (node selector, honoured by the default
    // nodeAffinityPolicy), but minDomains is 3: with fewer eligible domains than minDomains
    // the global minimum counts as 0, so maxSkew 1 allows one pod per zone. Of 4 replicas,
    // 2 are placed (one in each zone) and 2 stay pending.
    let web_in_a_or_b = |min_domains: Option<u32>| {
        let mut spec = zone_spread(1, min_domains);
        merge(
            &mut spec,
            required_node_affinity(&[json!([expr(
                "topology.kubernetes.io/zone",
                "In",
                &["z-a", "z-b"]
            )])]),
        );
        deployment("web", 4, "100m", "128Mi", spec)
    };
    let s = run_default(vec![web_in_a_or_b(Some(3))], &[c5_large()]);
    assert_eq!(pods_per_zone(&s), counts(&[("z-a", 1), ("z-b", 1)]));
    assert_eq!(s.unschedulable.len(), 2, "{s:#?}");

    // Without minDomains the same pods all fit, 2 per zone.
    let s = run_default(vec![web_in_a_or_b(None)], &[c5_large()]);
    all_scheduled(&s);
    assert_eq!(
        pods_per_zone(&s).values().copied().collect::<Vec<_>>(),
        vec![2, 2]
    );
}

#[test]
fn zone_spread_counts_pods_on_existing_nodes() {
    // n1 in z-a already runs 2 web pods (its taint keeps new ones off; the default
    // nodeTaintsPolicy Ignore still counts its domain). 4 new replicas, maxSkew 1: 2 in
    // z-b and 2 in z-c, for 2/2/2 overall.
    let mut docs = vec![private_node("n1", "z-a")];
    for i in 0..2 {
        let old = pod(
            &format!("old-{i}"),
            json!({"app": "web"}),
            "100m",
            "128Mi",
            json!({}),
        );
        docs.push(bound_to(old, "n1"));
    }
    docs.push(deployment("web", 4, "100m", "128Mi", zone_spread(1, None)));
    let s = run_default(docs, &[c5_large()]);
    all_scheduled(&s);
    assert_eq!(pods_per_zone(&s), counts(&[("z-b", 2), ("z-c", 2)]));
}

#[test]
fn schedule_anyway_spread_is_relaxed() {
    // Pinned to z-a by nodeSelector, ScheduleAnyway over zones: all 3 placed (one per
    // c5.large, 1500m of 1930m), all in z-a.
    let spread = json!({"topologySpreadConstraints": [{"maxSkew": 1, "topologyKey": "topology.kubernetes.io/zone", "whenUnsatisfiable": "ScheduleAnyway", "labelSelector": {"matchLabels": {"app": "web"}}}], "nodeSelector": {"topology.kubernetes.io/zone": "z-a"}});
    let s = run_default(
        vec![deployment("web", 3, "1500m", "128Mi", spread)],
        &[c5_large()],
    );
    all_scheduled(&s);
    assert_eq!(s.claims.len(), 3);
    assert_eq!(pods_per_zone(&s), counts(&[("z-a", 3)]));
}

#[test]
fn capacity_type_spread_pins_one_capacity_type_per_claim() {
    let mut o = offers(&ZONES, "on-demand", 0.085);
    o.extend(offers(&ZONES, "spot", 0.03));
    let spread = json!({"topologySpreadConstraints": [{"maxSkew": 1, "topologyKey": "karpenter.sh/capacity-type", "whenUnsatisfiable": "DoNotSchedule", "labelSelector": {"matchLabels": {"app": "web"}}}]});
    let s = run_default(
        vec![deployment("web", 4, "100m", "128Mi", spread)],
        &[ty_with("c5.large", "amd64", 2, 4096, 29, &o)],
    );
    all_scheduled(&s);
    let mut per: BTreeMap<String, usize> = BTreeMap::new();
    for c in &s.claims {
        assert_eq!(c.capacity_types.len(), 1, "{c:#?}");
        assert_eq!(
            c.labels.get("karpenter.sh/capacity-type"),
            Some(&c.capacity_types[0])
        );
        *per.entry(c.capacity_types[0].clone()).or_default() += c.pods.len();
    }
    assert_eq!(per, counts(&[("on-demand", 2), ("spot", 2)]));
}
