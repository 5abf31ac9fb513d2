//! One focused scenario per scheduling constraint of the contract (shared/spec/simulate.md),
//! each asserting what a user would notice in the output.
//!
//! Allocatable of the catalog types used below, by the contract's arithmetic (kube-reserved
//! CPU 6% of core 1, 1% of core 2, 0.5% of cores 3-4, 0.25% above, truncated; memory:
//! capacity - ceil(7.5% VM overhead) - (11 MiB x maxPods + 255 MiB) - 100 MiB eviction):
//!
//! | type       | vCPU | MiB   | maxPods | cpu alloc (m)          | memory alloc (MiB)                     |
//! |------------|------|-------|---------|------------------------|----------------------------------------|
//! | c5.large   | 2    | 4096  | 29      | 2000-60-10 = 1930      | 4096-308-574-100 = 3114                |
//! | m5.large   | 2    | 8192  | 29      | 1930                   | 8192-615-574-100 = 6903                |
//! | m6g.large  | 2    | 8192  | 29      | 1930                   | 6903                                   |
//! | c5.xlarge  | 4    | 8192  | 58      | 4000-60-10-10 = 3920   | 8192-615-893-100 = 6584                |
//! | c5.2xlarge | 8    | 16384 | 58      | 8000-80-10 = 7910      | 16384-1229-893-100 = 14162             |
//!
//! (ceil(7.5% of 4096) = ceil(307.2) = 308; of 8192 = ceil(614.4) = 615; of 16384 =
//! ceil(1228.8) = 1229; 11x29+255 = 574; 11x58+255 = 893; the 0.25% band of c5.2xlarge is
//! 4000m x 0.0025 = 10m.)

use std::collections::BTreeMap;

use provisioning::catalog::parse_catalog_json;
use provisioning::input::Manifests;
use provisioning::scheduling::{NewClaim, Solution};
use serde_json::{Value, json};

const ZONES: [&str; 3] = ["z-a", "z-b", "z-c"];

// ---------------------------------------------------------------------------------------
// Helpers

/// Runs the simulation on `docs` (one YAML document each, written as JSON) and a catalog
/// of `types` in region "test". No Fargate profile.
fn run(docs: &[Value], types: &[Value]) -> Solution {
    let text = docs
        .iter()
        .map(|d| serde_json::to_string(d).expect("doc serializes"))
        .collect::<Vec<_>>()
        .join("\n---\n");
    let mut m = Manifests::default();
    m.add_file("input.yaml", &text).expect("input parses");
    let catalog = json!({"region": "test", "instanceTypes": types});
    let catalog = parse_catalog_json("catalog.json", &catalog.to_string()).expect("catalog parses");
    let (solution, _notes) = provisioning::simulate(m, catalog, &[]).expect("simulation runs");
    solution
}

/// An amd64 type offered on-demand at `price` in every zone.
fn ty(name: &str, vcpu: u32, mem_mib: u32, max_pods: u32, price: f64) -> Value {
    ty_with(
        name,
        "amd64",
        vcpu,
        mem_mib,
        max_pods,
        &offers(&ZONES, "on-demand", price),
    )
}

fn ty_with(
    name: &str,
    arch: &str,
    vcpu: u32,
    mem_mib: u32,
    max_pods: u32,
    offerings: &[Value],
) -> Value {
    json!({"name": name, "architecture": arch, "vcpu": vcpu, "memoryMiB": mem_mib, "maxPods": max_pods, "offerings": offerings})
}

fn offers(zones: &[&str], capacity_type: &str, price: f64) -> Vec<Value> {
    zones
        .iter()
        .map(|z| json!({"zone": z, "capacityType": capacity_type, "price": price}))
        .collect()
}

fn c5_large() -> Value {
    ty("c5.large", 2, 4096, 29, 0.085)
}
fn m5_large() -> Value {
    ty("m5.large", 2, 8192, 29, 0.096)
}
fn c5_xlarge() -> Value {
    ty("c5.xlarge", 4, 8192, 58, 0.17)
}
fn c5_2xlarge() -> Value {
    ty("c5.2xlarge", 8, 16384, 58, 0.34)
}
/// arm64, and cheaper than every amd64 type above.
fn m6g_large() -> Value {
    ty_with(
        "m6g.large",
        "arm64",
        2,
        8192,
        29,
        &offers(&ZONES, "on-demand", 0.077),
    )
}

/// A karpenter.sh/v1 NodePool; `spec` is merged into `spec` (e.g. weight, limits) and
/// `template_spec` into `spec.template.spec` (requirements, taints, ...).
fn pool(name: &str, spec: Value, template_spec: Value) -> Value {
    let mut p = json!({
        "apiVersion": "karpenter.sh/v1", "kind": "NodePool", "metadata": {"name": name},
        "spec": {"template": {"spec": {
            "nodeClassRef": {"group": "karpenter.k8s.aws", "kind": "EC2NodeClass", "name": "default"},
            "requirements": []}}}
    });
    merge(&mut p["spec"], spec);
    merge(&mut p["spec"]["template"]["spec"], template_spec);
    p
}

fn default_pool() -> Value {
    pool("default", json!({}), json!({}))
}

fn node_class() -> Value {
    json!({"apiVersion": "karpenter.k8s.aws/v1", "kind": "EC2NodeClass", "metadata": {"name": "default"}, "spec": {}})
}

fn container(cpu: &str, mem: &str) -> Value {
    json!({"name": "c", "image": "x", "resources": {"requests": {"cpu": cpu, "memory": mem}}})
}

/// A pending pod; `spec` is merged into its spec (nodeSelector, affinity, ...).
fn pod(name: &str, labels: Value, cpu: &str, mem: &str, spec: Value) -> Value {
    let mut p = json!({
        "apiVersion": "v1", "kind": "Pod",
        "metadata": {"name": name, "labels": labels},
        "spec": {"containers": [container(cpu, mem)]}
    });
    merge(&mut p["spec"], spec);
    p
}

/// A Deployment of `replicas` pods `<name>-<i>` labelled app=<name>.
fn deployment(name: &str, replicas: u32, cpu: &str, mem: &str, spec: Value) -> Value {
    let mut d = json!({
        "apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": name},
        "spec": {"replicas": replicas, "selector": {"matchLabels": {"app": name}},
            "template": {"metadata": {"labels": {"app": name}},
                "spec": {"containers": [container(cpu, mem)]}}}
    });
    merge(&mut d["spec"]["template"]["spec"], spec);
    d
}

fn daemonset(name: &str, cpu: &str, mem: &str, spec: Value) -> Value {
    let mut d = json!({
        "apiVersion": "apps/v1", "kind": "DaemonSet", "metadata": {"name": name, "namespace": "kube-system"},
        "spec": {"selector": {"matchLabels": {"app": name}},
            "template": {"metadata": {"labels": {"app": name}},
                "spec": {"containers": [container(cpu, mem)]}}}
    });
    merge(&mut d["spec"]["template"]["spec"], spec);
    d
}

fn merge(into: &mut Value, from: Value) {
    if let (Value::Object(a), Value::Object(b)) = (into, from) {
        for (k, v) in b {
            a.insert(k, v);
        }
    }
}

fn claim_of<'a>(s: &'a Solution, pod: &str) -> &'a NewClaim {
    let key = format!("default/{pod}");
    s.claims
        .iter()
        .find(|c| c.pods.contains(&key))
        .unwrap_or_else(|| panic!("{key} is on no new claim: {s:#?}"))
}

fn reason<'a>(s: &'a Solution, pod: &str) -> Option<&'a str> {
    let key = format!("default/{pod}");
    s.unschedulable
        .iter()
        .find(|u| u.pod == key)
        .map(|u| u.reason.as_str())
}

fn all_scheduled(s: &Solution) {
    assert!(
        s.unschedulable.is_empty(),
        "unexpected unschedulable pods: {:#?}",
        s.unschedulable
    );
}

fn existing<'a>(s: &'a Solution, node: &str) -> &'a [String] {
    &s.existing
        .iter()
        .find(|e| e.name == node)
        .unwrap_or_else(|| panic!("no existing node {node}: {s:#?}"))
        .pods
}

fn strs(v: &[&str]) -> Vec<String> {
    v.iter().map(|s| s.to_string()).collect()
}

// ---------------------------------------------------------------------------------------
// Node selection

#[test]
fn node_selector_narrows_types_and_zones() {
    // m6g.large (arm64) is the cheapest, but the selector asks for amd64 in z-b.
    let s = run(
        &[
            node_class(),
            default_pool(),
            pod(
                "web",
                json!({}),
                "500m",
                "512Mi",
                json!({"nodeSelector": {"kubernetes.io/arch": "amd64", "topology.kubernetes.io/zone": "z-b"}}),
            ),
        ],
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
    let s = run(
        &[
            node_class(),
            default_pool(),
            pod(
                "web",
                json!({}),
                "500m",
                "512Mi",
                json!({"nodeSelector": {"team": "blue"}}),
            ),
        ],
        &[c5_large()],
    );
    assert!(s.claims.is_empty());
    assert!(reason(&s, "web").is_some(), "{s:#?}");
}

#[test]
fn required_node_affinity_is_an_or_of_terms() {
    // Term 1 names a type that does not exist; term 2 (arm64) holds, so the pod lands on
    // m6g.large, the only arm64 type.
    let affinity = json!({"affinity": {"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": {"nodeSelectorTerms": [
        {"matchExpressions": [{"key": "node.kubernetes.io/instance-type", "operator": "In", "values": ["x9.huge"]}]},
        {"matchExpressions": [{"key": "kubernetes.io/arch", "operator": "In", "values": ["arm64"]}]}
    ]}}}});
    // A pod whose every term fails stays unschedulable.
    let impossible = json!({"affinity": {"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": {"nodeSelectorTerms": [
        {"matchExpressions": [{"key": "node.kubernetes.io/instance-type", "operator": "In", "values": ["x9.huge"]}]},
        {"matchExpressions": [{"key": "karpenter.k8s.aws/instance-cpu", "operator": "Gt", "values": ["64"]}]}
    ]}}}});
    let s = run(
        &[
            node_class(),
            default_pool(),
            pod("either", json!({}), "500m", "512Mi", affinity),
            pod("neither", json!({}), "500m", "512Mi", impossible),
        ],
        &[c5_large(), m6g_large()],
    );
    assert_eq!(claim_of(&s, "either").instance_types, strs(&["m6g.large"]));
    assert!(reason(&s, "neither").is_some(), "{s:#?}");
    assert_eq!(s.unschedulable.len(), 1);
}

#[test]
fn required_node_affinity_not_in_and_gt() {
    // NotIn amd64 leaves m6g.large; Gt 1 on instance-cpu keeps 2-vCPU types.
    let affinity = json!({"affinity": {"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": {"nodeSelectorTerms": [
        {"matchExpressions": [
            {"key": "kubernetes.io/arch", "operator": "NotIn", "values": ["amd64"]},
            {"key": "karpenter.k8s.aws/instance-cpu", "operator": "Gt", "values": ["1"]}
        ]}
    ]}}}});
    let s = run(
        &[
            node_class(),
            default_pool(),
            pod("p", json!({}), "500m", "512Mi", affinity),
        ],
        &[c5_large(), m6g_large()],
    );
    assert_eq!(claim_of(&s, "p").instance_types, strs(&["m6g.large"]));
}

#[test]
fn preferred_node_affinity_is_honoured_when_possible() {
    // amd64 types are cheaper here, yet the preference for arm64 wins.
    let prefer_arm = json!({"affinity": {"nodeAffinity": {"preferredDuringSchedulingIgnoredDuringExecution": [
        {"weight": 50, "preference": {"matchExpressions": [{"key": "kubernetes.io/arch", "operator": "In", "values": ["arm64"]}]}}
    ]}}});
    let pricey_arm = ty_with(
        "m6g.large",
        "arm64",
        2,
        8192,
        29,
        &offers(&ZONES, "on-demand", 0.2),
    );
    let s = run(
        &[
            node_class(),
            default_pool(),
            pod("p", json!({}), "500m", "512Mi", prefer_arm),
        ],
        &[c5_large(), pricey_arm],
    );
    all_scheduled(&s);
    assert_eq!(claim_of(&s, "p").instance_types, strs(&["m6g.large"]));
}

#[test]
fn preferred_node_affinity_is_relaxed_when_impossible() {
    let prefer_missing = json!({"affinity": {"nodeAffinity": {"preferredDuringSchedulingIgnoredDuringExecution": [
        {"weight": 50, "preference": {"matchExpressions": [{"key": "node.kubernetes.io/instance-type", "operator": "In", "values": ["x9.huge"]}]}}
    ]}}});
    let s = run(
        &[
            node_class(),
            default_pool(),
            pod("p", json!({}), "500m", "512Mi", prefer_missing),
        ],
        &[c5_large(), m5_large()],
    );
    all_scheduled(&s);
    // Relaxed: the claim is as if there were no preference.
    assert_eq!(
        claim_of(&s, "p").instance_types,
        strs(&["c5.large", "m5.large"])
    );
}

// ---------------------------------------------------------------------------------------
// Taints

#[test]
fn taints_repel_pods_without_a_toleration() {
    let tainted = pool(
        "gpu",
        json!({}),
        json!({"taints": [{"key": "dedicated", "value": "gpu", "effect": "NoSchedule"}]}),
    );
    let s = run(
        &[
            node_class(),
            tainted,
            pod("plain", json!({}), "500m", "512Mi", json!({})),
            pod(
                "equal",
                json!({}),
                "500m",
                "512Mi",
                json!({"tolerations": [{"key": "dedicated", "operator": "Equal", "value": "gpu", "effect": "NoSchedule"}]}),
            ),
            // Exists with no effect tolerates every effect of the key.
            pod(
                "exists",
                json!({}),
                "500m",
                "512Mi",
                json!({"tolerations": [{"key": "dedicated", "operator": "Exists"}]}),
            ),
            pod(
                "wrong-value",
                json!({}),
                "500m",
                "512Mi",
                json!({"tolerations": [{"key": "dedicated", "operator": "Equal", "value": "cpu", "effect": "NoSchedule"}]}),
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
    let p = pool(
        "default",
        json!({}),
        json!({"startupTaints": [{"key": "node.cilium.io/agent-not-ready", "value": "true", "effect": "NoExecute"}]}),
    );
    let s = run(
        &[
            node_class(),
            p,
            pod("p", json!({}), "500m", "512Mi", json!({})),
        ],
        &[c5_large()],
    );
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
    let plain = pool("plain", json!({}), json!({}));
    let s = run(
        &[
            node_class(),
            soft.clone(),
            plain,
            pod("p", json!({}), "500m", "512Mi", json!({})),
        ],
        &[c5_large()],
    );
    all_scheduled(&s);
    assert_eq!(claim_of(&s, "p").pool, "plain");

    // With no other pool, the soft taint is tolerated in the end.
    let s = run(
        &[
            node_class(),
            soft,
            pod("p", json!({}), "500m", "512Mi", json!({})),
        ],
        &[c5_large()],
    );
    all_scheduled(&s);
    assert_eq!(claim_of(&s, "p").pool, "soft");
}

// ---------------------------------------------------------------------------------------
// Topology

fn zone_spread(max_skew: u32, min_domains: Option<u32>) -> Value {
    let mut c = json!({"maxSkew": max_skew, "topologyKey": "topology.kubernetes.io/zone", "whenUnsatisfiable": "DoNotSchedule", "labelSelector": {"matchLabels": {"app": "web"}}});
    if let Some(m) = min_domains {
        c["minDomains"] = json!(m);
    }
    json!({"topologySpreadConstraints": [c]})
}

fn pods_per_zone(s: &Solution) -> BTreeMap<String, usize> {
    let mut per_zone = BTreeMap::new();
    for c in &s.claims {
        assert_eq!(
            c.zones.len(),
            1,
            "a spread pod's claim is pinned to one zone: {c:#?}"
        );
        *per_zone.entry(c.zones[0].clone()).or_default() += c.pods.len();
    }
    per_zone
}

#[test]
fn zone_spread_max_skew_one_balances_zones() {
    // 6 small replicas, maxSkew 1 over 3 zones: 2 per zone.
    let s = run(
        &[
            node_class(),
            default_pool(),
            deployment("web", 6, "100m", "128Mi", zone_spread(1, None)),
        ],
        &[c5_large()],
    );
    all_scheduled(&s);
    let per_zone = pods_per_zone(&s);
    assert_eq!(
        per_zone,
        ZONES
            .iter()
            .map(|z| (z.to_string(), 2))
            .collect::<BTreeMap<_, _>>()
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
    let p = pool(
        "default",
        json!({}),
        json!({"requirements": [{"key": "topology.kubernetes.io/zone", "operator": "In", "values": ["z-a", "z-b"]}]}),
    );
    let s = run(
        &[
            node_class(),
            p,
            deployment("web", 4, "100m", "128Mi", zone_spread(2, None)),
        ],
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
    let mut spec = zone_spread(1, Some(3));
    spec["affinity"] = json!({"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": {"nodeSelectorTerms": [
        {"matchExpressions": [{"key": "topology.kubernetes.io/zone", "operator": "In", "values": ["z-a", "z-b"]}]}
    ]}}});
    let s = run(
        &[
            node_class(),
            default_pool(),
            deployment("web", 4, "100m", "128Mi", spec),
        ],
        &[c5_large()],
    );
    let per_zone = pods_per_zone(&s);
    assert_eq!(
        per_zone,
        [("z-a".to_string(), 1), ("z-b".to_string(), 1)]
            .into_iter()
            .collect::<BTreeMap<_, _>>()
    );
    assert_eq!(s.unschedulable.len(), 2, "{s:#?}");

    // Without minDomains the same pods all fit, 2 per zone.
    let mut spec = zone_spread(1, None);
    spec["affinity"] = json!({"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": {"nodeSelectorTerms": [
        {"matchExpressions": [{"key": "topology.kubernetes.io/zone", "operator": "In", "values": ["z-a", "z-b"]}]}
    ]}}});
    let s = run(
        &[
            node_class(),
            default_pool(),
            deployment("web", 4, "100m", "128Mi", spec),
        ],
        &[c5_large()],
    );
    all_scheduled(&s);
    assert_eq!(
        pods_per_zone(&s).values().copied().collect::<Vec<_>>(),
        vec![2, 2]
    );
}

#[test]
fn hostname_anti_affinity_puts_one_pod_per_claim() {
    // Three tiny replicas that would share one c5.large without the anti-affinity.
    let anti = json!({"affinity": {"podAntiAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": [
        {"topologyKey": "kubernetes.io/hostname", "labelSelector": {"matchLabels": {"app": "web"}}}
    ]}}});
    let s = run(
        &[
            node_class(),
            default_pool(),
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
    let affinity = json!({"affinity": {"podAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": [
        {"topologyKey": "topology.kubernetes.io/zone", "labelSelector": {"matchLabels": {"app": "web"}}}
    ]}}});
    let s = run(
        &[
            node_class(),
            default_pool(),
            deployment("web", 4, "1500m", "512Mi", affinity),
        ],
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
    let node = json!({"apiVersion": "v1", "kind": "Node", "metadata": {"name": "n1", "labels": {"topology.kubernetes.io/zone": "z-c"}},
        "spec": {"taints": [{"key": "private", "effect": "NoSchedule"}]},
        "status": {"allocatable": {"cpu": "2", "memory": "4Gi", "pods": "10"}}});
    let mut db = pod("db", json!({"app": "db"}), "100m", "128Mi", json!({}));
    db["spec"]["nodeName"] = json!("n1");
    let affinity = json!({"affinity": {"podAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": [
        {"topologyKey": "topology.kubernetes.io/zone", "labelSelector": {"matchLabels": {"app": "db"}}}
    ]}}});
    let s = run(
        &[
            node_class(),
            default_pool(),
            node,
            db,
            deployment("web", 2, "100m", "128Mi", affinity),
        ],
        &[c5_large()],
    );
    all_scheduled(&s);
    assert_eq!(claim_of(&s, "web-0").zones, strs(&["z-c"]));
}

#[test]
fn host_port_conflicts_split_pods() {
    let port = |p: i32| json!({"containers": [{"name": "c", "image": "x", "ports": [{"containerPort": 80, "hostPort": p}], "resources": {"requests": {"cpu": "100m", "memory": "128Mi"}}}]});
    let s = run(
        &[
            node_class(),
            default_pool(),
            pod("a", json!({}), "100m", "128Mi", port(8080)),
            pod("b", json!({}), "100m", "128Mi", port(8080)),
            pod("c", json!({}), "100m", "128Mi", port(8081)),
        ],
        &[c5_large()],
    );
    all_scheduled(&s);
    assert_eq!(s.claims.len(), 2, "{:#?}", s.claims);
    assert_ne!(claim_of(&s, "a").pods, claim_of(&s, "b").pods);
}

// ---------------------------------------------------------------------------------------
// DaemonSets

#[test]
fn daemonset_overhead_pushes_to_a_bigger_type() {
    // Pod 1500m + DaemonSet 500m = 2000m > c5.large's 1930m: only c5.xlarge (3920m) fits.
    let s = run(
        &[
            node_class(),
            default_pool(),
            daemonset("agent", "500m", "128Mi", json!({})),
            pod("p", json!({}), "1500m", "512Mi", json!({})),
        ],
        &[c5_large(), c5_xlarge()],
    );
    all_scheduled(&s);
    assert_eq!(claim_of(&s, "p").instance_types, strs(&["c5.xlarge"]));
}

#[test]
fn daemonset_that_does_not_match_the_pool_is_not_counted() {
    // The arm64-only DaemonSet never runs on this amd64 pool, and the untolerating one
    // is repelled by its taint: 1500m fits c5.large (1930m), which stays first.
    let p = pool(
        "default",
        json!({}),
        json!({"requirements": [{"key": "kubernetes.io/arch", "operator": "In", "values": ["amd64"]}], "taints": [{"key": "team", "value": "a", "effect": "NoSchedule"}]}),
    );
    let toleration = json!({"tolerations": [{"key": "team", "operator": "Exists"}]});
    let mut arm_only = json!({"nodeSelector": {"kubernetes.io/arch": "arm64"}});
    merge(&mut arm_only, toleration.clone());
    let s = run(
        &[
            node_class(),
            p,
            daemonset("arm-agent", "500m", "128Mi", arm_only),
            daemonset("untolerating", "500m", "128Mi", json!({})),
            pod("p", json!({}), "1500m", "512Mi", toleration.clone()),
        ],
        &[c5_large(), c5_xlarge()],
    );
    all_scheduled(&s);
    assert_eq!(
        claim_of(&s, "p").instance_types,
        strs(&["c5.large", "c5.xlarge"])
    );

    // Control: a DaemonSet that tolerates the taint is counted.
    let s = run(
        &[
            node_class(),
            pool(
                "default",
                json!({}),
                json!({"taints": [{"key": "team", "value": "a", "effect": "NoSchedule"}]}),
            ),
            daemonset("tolerating", "500m", "128Mi", toleration.clone()),
            pod("p", json!({}), "1500m", "512Mi", toleration),
        ],
        &[c5_large(), c5_xlarge()],
    );
    assert_eq!(claim_of(&s, "p").instance_types, strs(&["c5.xlarge"]));
}

// ---------------------------------------------------------------------------------------
// Existing capacity

fn node(name: &str, unschedulable: bool) -> Value {
    json!({"apiVersion": "v1", "kind": "Node",
        "metadata": {"name": name, "labels": {"topology.kubernetes.io/zone": "z-a", "kubernetes.io/arch": "amd64", "node.kubernetes.io/instance-type": "c5.xlarge"}},
        "spec": {"unschedulable": unschedulable},
        "status": {"allocatable": {"cpu": "3920m", "memory": "6584Mi", "pods": "58"}}})
}

#[test]
fn existing_node_is_filled_before_new_claims() {
    // n1 has 3920m: a bound 1000m pod leaves 2920m, enough for two 1000m pods; the third
    // goes to a new claim.
    let mut bound = pod("bound", json!({}), "1000m", "512Mi", json!({}));
    bound["spec"]["nodeName"] = json!("n1");
    let s = run(
        &[
            node_class(),
            default_pool(),
            node("n1", false),
            bound,
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
    let mut bound = pod("bound", json!({}), "1000m", "512Mi", json!({}));
    bound["spec"]["nodeName"] = json!("n1");
    let s = run(
        &[
            node_class(),
            default_pool(),
            node("n1", true),
            bound,
            pod("new", json!({}), "100m", "128Mi", json!({})),
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
    let s = run(
        &[
            node_class(),
            default_pool(),
            nc,
            deployment("web", 2, "1500m", "512Mi", json!({})),
        ],
        &[c5_large(), c5_xlarge()],
    );
    all_scheduled(&s);
    assert!(s.claims.is_empty(), "{:#?}", s.claims);
    assert_eq!(
        existing(&s, "default-abcde"),
        &strs(&["default/web-0", "default/web-1"])
    );
}

// ---------------------------------------------------------------------------------------
// Pool policy

#[test]
fn higher_weight_pool_is_tried_first() {
    // Names sort against the weights, so only the weight can explain the outcome.
    let low = pool("a-low", json!({"weight": 1}), json!({}));
    let high = pool(
        "z-high",
        json!({"weight": 50}),
        json!({"requirements": [{"key": "kubernetes.io/arch", "operator": "In", "values": ["arm64"]}]}),
    );
    let s = run(
        &[
            node_class(),
            low,
            high,
            pod("any", json!({}), "100m", "128Mi", json!({})),
            pod(
                "amd",
                json!({}),
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
    let p = pool("default", json!({"limits": {"cpu": "6"}}), json!({}));
    let s = run(
        &[
            node_class(),
            p,
            deployment("web", 2, "3000m", "512Mi", json!({})),
        ],
        &[c5_xlarge()],
    );
    assert_eq!(s.claims.len(), 1);
    assert_eq!(s.unschedulable.len(), 1, "{s:#?}");
    let r = &s.unschedulable[0].reason;
    assert!(r.contains("limit"), "reason mentions limits: {r}");
}

#[test]
fn limits_leave_out_types_that_would_break_them() {
    // Limit 3 cpu: c5.xlarge (4 cpu capacity) would break it, c5.large (2) does not.
    let p = pool("default", json!({"limits": {"cpu": "3"}}), json!({}));
    let s = run(
        &[
            node_class(),
            p,
            pod("p", json!({}), "500m", "512Mi", json!({})),
        ],
        &[c5_large(), c5_xlarge()],
    );
    all_scheduled(&s);
    assert_eq!(claim_of(&s, "p").instance_types, strs(&["c5.large"]));
}

#[test]
fn limits_count_existing_nodes_of_the_pool() {
    // A Node of the pool with 4 cpu capacity against a limit of 4: nothing new launches.
    let mut n = node("n1", true);
    n["metadata"]["labels"]["karpenter.sh/nodepool"] = json!("default");
    n["status"]["capacity"] = json!({"cpu": "4", "memory": "8Gi", "pods": "58"});
    let p = pool("default", json!({"limits": {"cpu": "4"}}), json!({}));
    let s = run(
        &[
            node_class(),
            p,
            n,
            pod("p", json!({}), "100m", "128Mi", json!({})),
        ],
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
    let p = pool(
        "default",
        json!({}),
        json!({"requirements": [{"key": "karpenter.k8s.aws/instance-family", "operator": "In", "values": ["c5", "m5"], "minValues": 2}]}),
    );
    let s = run(
        &[
            node_class(),
            p.clone(),
            pod("small", json!({}), "100m", "128Mi", json!({})),
        ],
        &[c5_large(), m5_large(), c5_xlarge()],
    );
    all_scheduled(&s);
    assert_eq!(
        claim_of(&s, "small").instance_types,
        strs(&["c5.large", "m5.large", "c5.xlarge"])
    );

    let s = run(
        &[
            node_class(),
            p,
            pod("big", json!({}), "3000m", "512Mi", json!({})),
        ],
        &[c5_large(), m5_large(), c5_xlarge()],
    );
    assert!(s.claims.is_empty(), "{:#?}", s.claims);
    let r = reason(&s, "big").expect("big is unschedulable");
    assert!(r.contains("minValues"), "{r}");
}

#[test]
fn small_pods_keep_a_min_values_claim_diverse() {
    // Many small pods on one claim must not narrow it below 2 families.
    let p = pool(
        "default",
        json!({}),
        json!({"requirements": [{"key": "karpenter.k8s.aws/instance-family", "operator": "In", "values": ["c5", "m5"], "minValues": 2}]}),
    );
    let s = run(
        &[
            node_class(),
            p,
            deployment("web", 6, "500m", "256Mi", json!({})),
        ],
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
    let mut c5 = c5_large();
    c5["offerings"]
        .as_array_mut()
        .unwrap()
        .extend(offers(&ZONES, "spot", 0.03));
    let types = [
        c5,
        m6g_large(),
        ty("t3.large", 2, 8192, 35, 0.05),
        ty("c2.large", 2, 4096, 29, 0.04),
        ty_with(
            "r5.large",
            "amd64",
            2,
            16384,
            29,
            &offers(&ZONES, "on-demand", 0.126),
        ),
    ];
    let prov = json!({"apiVersion": "karpenter.sh/v1alpha5", "kind": "Provisioner", "metadata": {"name": "legacy"}, "spec": {}});
    let s = run(
        &[prov, pod("p", json!({}), "500m", "512Mi", json!({}))],
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
fn v1_nodepool_has_no_defaults() {
    // Same catalog as above, v1 NodePool: everything is allowed, spot c5.large is cheapest.
    let mut c5 = c5_large();
    c5["offerings"]
        .as_array_mut()
        .unwrap()
        .extend(offers(&ZONES, "spot", 0.03));
    let s = run(
        &[
            node_class(),
            default_pool(),
            pod("p", json!({}), "500m", "512Mi", json!({})),
        ],
        &[c5, m6g_large(), ty("t3.large", 2, 8192, 35, 0.05)],
    );
    let c = claim_of(&s, "p");
    assert_eq!(c.instance_types.len(), 3);
    assert_eq!(c.cheapest.instance_type, "c5.large");
    assert_eq!(c.cheapest.capacity_type, "spot");
}

// ---------------------------------------------------------------------------------------
// Reasons and prices

#[test]
fn oversize_pod_reason_names_the_resource() {
    // Largest allocatable: c5.xlarge 3920m / 6584Mi.
    let s = run(
        &[
            node_class(),
            default_pool(),
            pod("cpu-hog", json!({}), "4", "512Mi", json!({})),
            pod("mem-hog", json!({}), "100m", "7Gi", json!({})),
        ],
        &[c5_large(), c5_xlarge()],
    );
    assert!(s.claims.is_empty(), "{:#?}", s.claims);
    let r = reason(&s, "cpu-hog").expect("cpu-hog is unschedulable");
    assert!(r.contains("cpu") && !r.contains("memory"), "{r}");
    let r = reason(&s, "mem-hog").expect("mem-hog is unschedulable");
    assert!(r.contains("memory"), "{r}");
}

#[test]
fn a_pod_requesting_all_vcpus_does_not_fit() {
    // 2 cpu on c5.large (1930m allocatable) does not fit; c5.xlarge takes it.
    let s = run(
        &[
            node_class(),
            default_pool(),
            pod("p", json!({}), "2", "512Mi", json!({})),
        ],
        &[c5_large(), c5_xlarge()],
    );
    assert_eq!(claim_of(&s, "p").instance_types, strs(&["c5.xlarge"]));
}

#[test]
fn unoffered_extended_resource_is_unschedulable() {
    let mut p = pod("gpu", json!({}), "100m", "128Mi", json!({}));
    p["spec"]["containers"][0]["resources"]["limits"] = json!({"nvidia.com/gpu": 1});
    let s = run(&[node_class(), default_pool(), p], &[c5_large()]);
    let r = reason(&s, "gpu").expect("gpu is unschedulable");
    assert!(r.contains("nvidia.com/gpu"), "{r}");
}

#[test]
fn cheapest_prefers_spot_at_equal_price() {
    // c5.large: on-demand and spot at the same price in z-a.
    let mut offerings = offers(&["z-a"], "on-demand", 0.05);
    offerings.extend(offers(&["z-a"], "spot", 0.05));
    let s = run(
        &[
            node_class(),
            default_pool(),
            pod("p", json!({}), "100m", "128Mi", json!({})),
        ],
        &[ty_with("c5.large", "amd64", 2, 4096, 29, &offerings)],
    );
    let c = claim_of(&s, "p");
    assert_eq!(c.capacity_types.len(), 2, "{c:#?}");
    assert_eq!(c.cheapest.capacity_type, "spot");
    assert_eq!(c.cheapest.price, 0.05);
}

#[test]
fn cheapest_ties_break_by_type_then_zone_name() {
    // Same price everywhere: the type then the zone that sort first.
    let s = run(
        &[
            node_class(),
            default_pool(),
            pod("p", json!({}), "100m", "128Mi", json!({})),
        ],
        &[
            ty_with(
                "m5.large",
                "amd64",
                2,
                8192,
                29,
                &offers(&["z-c", "z-b"], "on-demand", 0.1),
            ),
            ty_with(
                "c5.large",
                "amd64",
                2,
                4096,
                29,
                &offers(&["z-c", "z-b"], "on-demand", 0.1),
            ),
        ],
    );
    let c = claim_of(&s, "p");
    assert_eq!(c.cheapest.instance_type, "c5.large");
    assert_eq!(c.cheapest.zone, "z-b");
    assert_eq!(c.instance_types, strs(&["c5.large", "m5.large"]));
}

// ---------------------------------------------------------------------------------------
// More of the same constraints, at their edges

#[test]
fn daemonset_required_affinity_is_an_or_of_terms() {
    // Terms [arm64] OR [amd64]: the DaemonSet runs on this amd64 pool (its second term
    // holds; Karpenter's isDaemonPodCompatible relaxes the terms one by one), so its 500m
    // counts: 1500m + 500m = 2000m > c5.large's 1930m, only c5.xlarge (3920m) fits.
    let aff = json!({"affinity": {"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": {"nodeSelectorTerms": [
        {"matchExpressions": [{"key": "kubernetes.io/arch", "operator": "In", "values": ["arm64"]}]},
        {"matchExpressions": [{"key": "kubernetes.io/arch", "operator": "In", "values": ["amd64"]}]}
    ]}}}});
    let p = pool(
        "default",
        json!({}),
        json!({"requirements": [{"key": "kubernetes.io/arch", "operator": "In", "values": ["amd64"]}]}),
    );
    let s = run(
        &[
            node_class(),
            p,
            daemonset("agent", "500m", "128Mi", aff),
            pod("p", json!({}), "1500m", "512Mi", json!({})),
        ],
        &[c5_large(), c5_xlarge()],
    );
    assert_eq!(claim_of(&s, "p").instance_types, strs(&["c5.xlarge"]));
}

#[test]
fn daemonset_takes_a_pods_slot() {
    // maxPods 3 (memory 4096-308-(11x3+255=288)-100 = 3400 MiB, plenty): the DaemonSet
    // pod takes one slot, so each claim holds 2 of the 4 tiny pods.
    let s = run(
        &[
            node_class(),
            default_pool(),
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
    let ds = || {
        daemonset(
            "agent",
            "500m",
            "128Mi",
            json!({"nodeSelector": {"gpu": "true"}}),
        )
    };
    let s = run(
        &[
            node_class(),
            default_pool(),
            ds(),
            pod("p", json!({}), "1500m", "512Mi", json!({})),
        ],
        &[c5_large(), c5_xlarge()],
    );
    assert_eq!(
        claim_of(&s, "p").instance_types,
        strs(&["c5.large", "c5.xlarge"])
    );
    let labelled = pool(
        "default",
        json!({"template": {"metadata": {"labels": {"gpu": "true"}}, "spec": {"requirements": []}}}),
        json!({}),
    );
    let s = run(
        &[
            node_class(),
            labelled,
            ds(),
            pod("p", json!({}), "1500m", "512Mi", json!({})),
        ],
        &[c5_large(), c5_xlarge()],
    );
    assert_eq!(claim_of(&s, "p").instance_types, strs(&["c5.xlarge"]));
}

#[test]
fn daemonset_ignores_startup_and_prefer_no_schedule_taints() {
    // Neither taint keeps the untolerating DaemonSet off the pool: 1500m + 500m > 1930m.
    for taints in [
        json!({"startupTaints": [{"key": "init", "effect": "NoSchedule"}]}),
        json!({"taints": [{"key": "soft", "effect": "PreferNoSchedule"}]}),
    ] {
        let p = pool("default", json!({}), taints.clone());
        let s = run(
            &[
                node_class(),
                p,
                daemonset("agent", "500m", "128Mi", json!({})),
                pod("p", json!({}), "1500m", "512Mi", json!({})),
            ],
            &[c5_large(), c5_xlarge()],
        );
        assert_eq!(
            claim_of(&s, "p").instance_types,
            strs(&["c5.xlarge"]),
            "{taints}"
        );
    }
}

#[test]
fn heaviest_preferred_term_is_tried_first() {
    // weight 1: arm64 (listed first); weight 100: zone z-b. The heavier one is honoured.
    let pref = json!({"affinity": {"nodeAffinity": {"preferredDuringSchedulingIgnoredDuringExecution": [
        {"weight": 1, "preference": {"matchExpressions": [{"key": "kubernetes.io/arch", "operator": "In", "values": ["arm64"]}]}},
        {"weight": 100, "preference": {"matchExpressions": [{"key": "topology.kubernetes.io/zone", "operator": "In", "values": ["z-b"]}]}}
    ]}}});
    let pricey_arm = ty_with(
        "m6g.large",
        "arm64",
        2,
        8192,
        29,
        &offers(&ZONES, "on-demand", 0.2),
    );
    let s = run(
        &[
            node_class(),
            default_pool(),
            pod("p", json!({}), "500m", "512Mi", pref),
        ],
        &[c5_large(), pricey_arm],
    );
    assert_eq!(claim_of(&s, "p").zones, strs(&["z-b"]));
}

#[test]
fn custom_label_from_pool_requirement_is_selectable() {
    let p = pool(
        "default",
        json!({}),
        json!({"requirements": [{"key": "team", "operator": "In", "values": ["a", "b"]}]}),
    );
    let s = run(
        &[
            node_class(),
            p,
            pod(
                "p",
                json!({}),
                "100m",
                "128Mi",
                json!({"nodeSelector": {"team": "b"}}),
            ),
        ],
        &[c5_large()],
    );
    assert_eq!(
        claim_of(&s, "p").labels.get("team").map(String::as_str),
        Some("b")
    );
}

#[test]
fn not_in_and_does_not_exist_pass_on_undefined_labels() {
    let aff = json!({"affinity": {"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": {"nodeSelectorTerms": [
        {"matchExpressions": [{"key": "team", "operator": "NotIn", "values": ["x"]}, {"key": "other", "operator": "DoesNotExist"}]}
    ]}}}});
    let s = run(
        &[
            node_class(),
            default_pool(),
            pod("p", json!({}), "100m", "128Mi", aff),
        ],
        &[c5_large()],
    );
    all_scheduled(&s);
    claim_of(&s, "p");
}

#[test]
fn zone_anti_affinity_one_pod_per_zone() {
    // 3 zones, 4 mutually anti-affine replicas: 3 placed in distinct zones, 1 pending.
    let anti = json!({"affinity": {"podAntiAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": [
        {"topologyKey": "topology.kubernetes.io/zone", "labelSelector": {"matchLabels": {"app": "web"}}}
    ]}}});
    let s = run(
        &[
            node_class(),
            default_pool(),
            deployment("web", 4, "100m", "128Mi", anti),
        ],
        &[c5_large()],
    );
    assert_eq!(s.claims.len(), 3, "{s:#?}");
    let per_zone = pods_per_zone(&s);
    assert_eq!(per_zone.len(), 3);
    assert!(per_zone.values().all(|n| *n == 1), "{per_zone:?}");
    assert_eq!(s.unschedulable.len(), 1);
}

#[test]
fn capacity_type_spread_pins_one_capacity_type_per_claim() {
    let mut o = offers(&ZONES, "on-demand", 0.085);
    o.extend(offers(&ZONES, "spot", 0.03));
    let spread = json!({"topologySpreadConstraints": [{"maxSkew": 1, "topologyKey": "karpenter.sh/capacity-type", "whenUnsatisfiable": "DoNotSchedule", "labelSelector": {"matchLabels": {"app": "web"}}}]});
    let s = run(
        &[
            node_class(),
            default_pool(),
            deployment("web", 4, "100m", "128Mi", spread),
        ],
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
    assert_eq!(
        per,
        [("on-demand".to_string(), 2), ("spot".to_string(), 2)]
            .into_iter()
            .collect::<BTreeMap<_, _>>()
    );
}

#[test]
fn zone_spread_counts_pods_on_existing_nodes() {
    // n1 in z-a already runs 2 web pods (its taint keeps new ones off; the default
    // nodeTaintsPolicy Ignore still counts its domain). 4 new replicas, maxSkew 1: 2 in
    // z-b and 2 in z-c, for 2/2/2 overall.
    let n = json!({"apiVersion": "v1", "kind": "Node", "metadata": {"name": "n1", "labels": {"topology.kubernetes.io/zone": "z-a"}},
        "spec": {"taints": [{"key": "private", "effect": "NoSchedule"}]},
        "status": {"allocatable": {"cpu": "2", "memory": "4Gi", "pods": "10"}}});
    let mut docs = vec![node_class(), default_pool(), n];
    for i in 0..2 {
        let mut b = pod(
            &format!("old-{i}"),
            json!({"app": "web"}),
            "100m",
            "128Mi",
            json!({}),
        );
        b["spec"]["nodeName"] = json!("n1");
        docs.push(b);
    }
    docs.push(deployment("web", 4, "100m", "128Mi", zone_spread(1, None)));
    let s = run(&docs, &[c5_large()]);
    all_scheduled(&s);
    assert_eq!(
        pods_per_zone(&s),
        [("z-b".to_string(), 2), ("z-c".to_string(), 2)]
            .into_iter()
            .collect::<BTreeMap<_, _>>()
    );
}

#[test]
fn schedule_anyway_spread_is_relaxed() {
    // Pinned to z-a by nodeSelector, ScheduleAnyway over zones: all 3 placed (one per
    // c5.large, 1500m of 1930m), all in z-a.
    let spread = json!({"topologySpreadConstraints": [{"maxSkew": 1, "topologyKey": "topology.kubernetes.io/zone", "whenUnsatisfiable": "ScheduleAnyway", "labelSelector": {"matchLabels": {"app": "web"}}}], "nodeSelector": {"topology.kubernetes.io/zone": "z-a"}});
    let s = run(
        &[
            node_class(),
            default_pool(),
            deployment("web", 3, "1500m", "128Mi", spread),
        ],
        &[c5_large()],
    );
    all_scheduled(&s);
    assert_eq!(s.claims.len(), 3);
    assert_eq!(
        pods_per_zone(&s),
        [("z-a".to_string(), 3)]
            .into_iter()
            .collect::<BTreeMap<_, _>>()
    );
}

#[test]
fn hostname_anti_affinity_keeps_off_a_node_with_a_matching_bound_pod() {
    let mut db = pod("db", json!({"app": "db"}), "100m", "128Mi", json!({}));
    db["spec"]["nodeName"] = json!("n1");
    let anti = json!({"affinity": {"podAntiAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": [
        {"topologyKey": "kubernetes.io/hostname", "labelSelector": {"matchLabels": {"app": "db"}}}
    ]}}});
    let s = run(
        &[
            node_class(),
            default_pool(),
            node("n1", false),
            db,
            pod("web", json!({}), "100m", "128Mi", anti),
        ],
        &[c5_large()],
    );
    all_scheduled(&s);
    claim_of(&s, "web");
    assert_eq!(existing(&s, "n1"), &["default/db".to_string()]);
}

#[test]
fn host_port_in_use_on_an_existing_node() {
    let with_port = json!({"containers": [{"name": "c", "image": "x", "ports": [{"containerPort": 80, "hostPort": 80}], "resources": {"requests": {"cpu": "100m", "memory": "128Mi"}}}]});
    let mut bound = pod("bound", json!({}), "100m", "128Mi", with_port.clone());
    bound["spec"]["nodeName"] = json!("n1");
    let s = run(
        &[
            node_class(),
            default_pool(),
            node("n1", false),
            bound,
            pod("p", json!({}), "100m", "128Mi", with_port),
            pod("q", json!({}), "100m", "128Mi", json!({})),
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

#[test]
fn deleting_nodeclaim_takes_no_pods() {
    let nc = json!({"apiVersion": "karpenter.sh/v1", "kind": "NodeClaim",
        "metadata": {"name": "nc1", "deletionTimestamp": "2024-01-01T00:00:00Z", "labels": {"karpenter.sh/nodepool": "default", "node.kubernetes.io/instance-type": "c5.xlarge"}},
        "spec": {"requirements": []}});
    let s = run(
        &[
            node_class(),
            default_pool(),
            nc,
            pod("p", json!({}), "100m", "128Mi", json!({})),
        ],
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
    let s = run(
        &[
            node_class(),
            default_pool(),
            nc,
            deployment("web", 3, "1500m", "128Mi", json!({})),
        ],
        &[c5_large(), c5_xlarge(), c5_2xlarge()],
    );
    all_scheduled(&s);
    assert_eq!(existing(&s, "nc1").len(), 2, "{s:#?}");
    assert_eq!(s.claims.len(), 1);
}

#[test]
fn memory_limit_stops_provisioning() {
    // Limit 10Gi of memory; each c5.xlarge is charged its 8Gi capacity: 8 + 8 > 10.
    let p = pool("default", json!({"limits": {"memory": "10Gi"}}), json!({}));
    let s = run(
        &[
            node_class(),
            p,
            deployment("web", 2, "3000m", "512Mi", json!({})),
        ],
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
fn v1alpha5_provisioner_naming_a_family_drops_the_category_default() {
    // instance-family In [t3, c5]: the c/m/r and generation defaults no longer apply, so
    // t3.large is allowed; arm64 (m6g) is still out by the arch default.
    let prov = json!({"apiVersion": "karpenter.sh/v1alpha5", "kind": "Provisioner", "metadata": {"name": "legacy"},
        "spec": {"requirements": [{"key": "karpenter.k8s.aws/instance-family", "operator": "In", "values": ["t3", "c5", "m6g"]}]}});
    let s = run(
        &[prov, pod("p", json!({}), "500m", "512Mi", json!({}))],
        &[c5_large(), ty("t3.large", 2, 8192, 35, 0.05), m6g_large()],
    );
    assert_eq!(
        claim_of(&s, "p").instance_types,
        strs(&["t3.large", "c5.large"])
    );
}
