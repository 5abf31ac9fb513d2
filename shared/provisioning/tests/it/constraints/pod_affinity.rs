//! Inter-pod affinity and anti-affinity, and host ports.

use super::*;

#[test]
fn hostname_anti_affinity_puts_one_pod_per_claim() {
    // Three tiny replicas that would share one c5.large without the anti-affinity.
    let anti = pod_affinity_to("podAntiAffinity", "kubernetes.io/hostname", "web");
    let s = run_default(
        vec![
            deployment("web", 3, "100m", "128Mi", anti),
            deployment("other", 2, "100m", "128Mi", json!({})),
        ],
        &[c5_large()],
    );
    all_scheduled(&s);
    let web_per_claim: Vec<usize> = s
        .claims
        .iter()
        .map(|c| {
            c.pods
                .iter()
                .filter(|p| p.starts_with("default/web-"))
                .count()
        })
        .collect();
    assert_eq!(web_per_claim.iter().sum::<usize>(), 3);
    assert!(web_per_claim.iter().all(|n| *n <= 1), "{:#?}", s.claims);
    assert_eq!(
        s.claims.len(),
        3,
        "the other pods join existing claims: {:#?}",
        s.claims
    );
}

#[test]
fn zone_pod_affinity_keeps_all_pods_in_one_zone() {
    // 1500m each: only one fits a c5.large (1930m), so 4 claims, all in one zone.
    let affinity = pod_affinity_to("podAffinity", "topology.kubernetes.io/zone", "web");
    let s = run_default(
        vec![deployment("web", 4, "1500m", "512Mi", affinity)],
        &[c5_large()],
    );
    all_scheduled(&s);
    assert_eq!(s.claims.len(), 4);
    let zone = &s.claims[0].zones;
    assert_eq!(zone.len(), 1, "{:#?}", s.claims);
    for c in &s.claims {
        assert_eq!(&c.zones, zone, "{:#?}", s.claims);
    }
}

#[test]
fn zone_pod_affinity_follows_a_bound_pod() {
    // A bound pod labelled app=db on a node in z-c: the web pods follow it to z-c.
    let db = bound_to(
        pod("db", json!({"app": "db"}), "100m", "128Mi", json!({})),
        "n1",
    );
    let affinity = pod_affinity_to("podAffinity", "topology.kubernetes.io/zone", "db");
    let s = run_default(
        vec![
            private_node("n1", "z-c"),
            db,
            deployment("web", 2, "100m", "128Mi", affinity),
        ],
        &[c5_large()],
    );
    all_scheduled(&s);
    assert_eq!(claim_of(&s, "web-0").zones, strs(&["z-c"]));
}

#[test]
fn zone_anti_affinity_one_pod_per_zone() {
    // 3 zones, 4 mutually anti-affine replicas: 3 placed in distinct zones, 1 pending.
    let anti = pod_affinity_to("podAntiAffinity", "topology.kubernetes.io/zone", "web");
    let s = run_default(
        vec![deployment("web", 4, "100m", "128Mi", anti)],
        &[c5_large()],
    );
    assert_eq!(s.claims.len(), 3, "{s:#?}");
    let per_zone = pods_per_zone(&s);
    assert_eq!(per_zone.len(), 3);
    assert!(per_zone.values().all(|n| *n == 1), "{per_zone:?}");
    assert_eq!(s.unschedulable.len(), 1);
}

#[test]
fn hostname_anti_affinity_keeps_off_a_node_with_a_matching_bound_pod() {
    let db = bound_to(
        pod("db", json!({"app": "db"}), "100m", "128Mi", json!({})),
        "n1",
    );
    let anti = pod_affinity_to("podAntiAffinity", "kubernetes.io/hostname", "db");
    let s = run_default(
        vec![
            node("n1", false),
            db,
            pod_with("web", "100m", "128Mi", anti),
        ],
        &[c5_large()],
    );
    all_scheduled(&s);
    claim_of(&s, "web");
    assert_eq!(existing(&s, "n1"), &["default/db".to_string()]);
}

#[test]
fn host_port_conflicts_split_pods() {
    let s = run_default(
        vec![
            pod_with("a", "100m", "128Mi", host_port(8080)),
            pod_with("b", "100m", "128Mi", host_port(8080)),
            pod_with("c", "100m", "128Mi", host_port(8081)),
        ],
        &[c5_large()],
    );
    all_scheduled(&s);
    assert_eq!(s.claims.len(), 2, "{:#?}", s.claims);
    assert_ne!(claim_of(&s, "a").pods, claim_of(&s, "b").pods);
}

#[test]
fn host_port_in_use_on_an_existing_node() {
    let bound = bound_to(pod_with("bound", "100m", "128Mi", host_port(80)), "n1");
    let s = run_default(
        vec![
            node("n1", false),
            bound,
            pod_with("p", "100m", "128Mi", host_port(80)),
            plain("q", "100m", "128Mi"),
        ],
        &[c5_large()],
    );
    all_scheduled(&s);
    claim_of(&s, "p");
    assert!(
        existing(&s, "n1").contains(&"default/q".to_string()),
        "a pod without the port still fits n1"
    );
}
