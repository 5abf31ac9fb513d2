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

mod daemonsets;
mod existing;
mod pod_affinity;
mod pools;
mod reasons;
mod selection;
mod taints;
mod topology;

use std::collections::BTreeMap;

use provisioning::catalog::parse_catalog_json;
use provisioning::input::Manifests;
use provisioning::scheduling::{NewClaim, Solution};
use serde_json::{Value, json};

const ZONES: [&str; 3] = ["z-a", "z-b", "z-c"];

// ---------------------------------------------------------------------------------------
// Running

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

/// Runs `node_class()` and `pool`, then `docs`.
fn run_with_pool(pool: Value, docs: Vec<Value>, types: &[Value]) -> Solution {
    let mut all = vec![node_class(), pool];
    all.extend(docs);
    run(&all, types)
}

/// Runs `node_class()` and `default_pool()`, then `docs`.
fn run_default(docs: Vec<Value>, types: &[Value]) -> Solution {
    run_with_pool(default_pool(), docs, types)
}

// ---------------------------------------------------------------------------------------
// Catalog

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

/// `t` with a spot offering at `price` added in every zone.
fn with_spot(mut t: Value, price: f64) -> Value {
    t["offerings"]
        .as_array_mut()
        .expect("offerings is an array")
        .extend(offers(&ZONES, "spot", price));
    t
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
fn t3_large() -> Value {
    ty("t3.large", 2, 8192, 35, 0.05)
}
/// arm64, and cheaper than every amd64 type above.
fn m6g_large() -> Value {
    arm_large_at(0.077)
}
/// m6g.large (arm64) on-demand at `price` in every zone.
fn arm_large_at(price: f64) -> Value {
    ty_with(
        "m6g.large",
        "arm64",
        2,
        8192,
        29,
        &offers(&ZONES, "on-demand", price),
    )
}

// ---------------------------------------------------------------------------------------
// Pools and nodes

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

/// The pool "default" with `template_spec` merged into `spec.template.spec`.
fn default_pool_with(template_spec: Value) -> Value {
    pool("default", json!({}), template_spec)
}

/// The pool "default" with `limits`.
fn limited_pool(limits: Value) -> Value {
    pool("default", json!({"limits": limits}), json!({}))
}

fn node_class() -> Value {
    json!({"apiVersion": "karpenter.k8s.aws/v1", "kind": "EC2NodeClass", "metadata": {"name": "default"}, "spec": {}})
}

/// `{"requirements": [{key, operator, values}]}`, for a pool's template spec.
fn requirement(key: &str, operator: &str, values: &[&str]) -> Value {
    json!({"requirements": [expr(key, operator, values)]})
}

/// A c5.xlarge Node in z-a (3920m, 6584Mi, 58 pods allocatable).
fn node(name: &str, unschedulable: bool) -> Value {
    json!({"apiVersion": "v1", "kind": "Node",
        "metadata": {"name": name, "labels": {"topology.kubernetes.io/zone": "z-a", "kubernetes.io/arch": "amd64", "node.kubernetes.io/instance-type": "c5.xlarge"}},
        "spec": {"unschedulable": unschedulable},
        "status": {"allocatable": {"cpu": "3920m", "memory": "6584Mi", "pods": "58"}}})
}

/// A Node in `zone` whose `private` NoSchedule taint keeps new pods off it.
fn private_node(name: &str, zone: &str) -> Value {
    json!({"apiVersion": "v1", "kind": "Node", "metadata": {"name": name, "labels": {"topology.kubernetes.io/zone": zone}},
        "spec": {"taints": [{"key": "private", "effect": "NoSchedule"}]},
        "status": {"allocatable": {"cpu": "2", "memory": "4Gi", "pods": "10"}}})
}

// ---------------------------------------------------------------------------------------
// Pods

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

/// An unlabelled pending pod with `spec` merged into its spec.
fn pod_with(name: &str, cpu: &str, mem: &str, spec: Value) -> Value {
    pod(name, json!({}), cpu, mem, spec)
}

/// An unlabelled pending pod with nothing but its requests.
fn plain(name: &str, cpu: &str, mem: &str) -> Value {
    pod_with(name, cpu, mem, json!({}))
}

/// `pod` bound to the node `node_name`.
fn bound_to(mut pod: Value, node_name: &str) -> Value {
    pod["spec"]["nodeName"] = json!(node_name);
    pod
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

/// A pod spec whose one container (100m, 128Mi) asks for `host_port` (containerPort 80).
fn host_port(host_port: i32) -> Value {
    json!({"containers": [{"name": "c", "image": "x", "ports": [{"containerPort": 80, "hostPort": host_port}], "resources": {"requests": {"cpu": "100m", "memory": "128Mi"}}}]})
}

/// A match expression `{key, operator, values}`.
fn expr(key: &str, operator: &str, values: &[&str]) -> Value {
    json!({"key": key, "operator": operator, "values": values})
}

/// Required node affinity with `terms`, each a list of match expressions.
fn required_node_affinity(terms: &[Value]) -> Value {
    let terms: Vec<Value> = terms
        .iter()
        .map(|t| json!({"matchExpressions": t}))
        .collect();
    json!({"affinity": {"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": {"nodeSelectorTerms": terms}}}})
}

/// Preferred node affinity of `(weight, match expressions)` terms.
fn preferred_node_affinity(terms: &[(u32, Value)]) -> Value {
    let terms: Vec<Value> = terms
        .iter()
        .map(|(w, e)| json!({"weight": w, "preference": {"matchExpressions": e}}))
        .collect();
    json!({"affinity": {"nodeAffinity": {"preferredDuringSchedulingIgnoredDuringExecution": terms}}})
}

/// Required `kind` ("podAffinity" or "podAntiAffinity") to pods labelled app=`app` over
/// `topology_key`.
fn pod_affinity_to(kind: &str, topology_key: &str, app: &str) -> Value {
    json!({"affinity": {kind: {"requiredDuringSchedulingIgnoredDuringExecution": [
        {"topologyKey": topology_key, "labelSelector": {"matchLabels": {"app": app}}}
    ]}}})
}

fn merge(into: &mut Value, from: Value) {
    if let (Value::Object(a), Value::Object(b)) = (into, from) {
        for (k, v) in b {
            a.insert(k, v);
        }
    }
}

// ---------------------------------------------------------------------------------------
// Lookups

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

/// The instance types of the claim holding `pod`.
fn types_of(s: &Solution, pod: &str) -> Vec<String> {
    claim_of(s, pod).instance_types.clone()
}

/// A count per key, e.g. the expected pods per zone.
fn counts(v: &[(&str, usize)]) -> BTreeMap<String, usize> {
    v.iter().map(|(k, n)| (k.to_string(), *n)).collect()
}

// ---------------------------------------------------------------------------------------
// Topology

/// A DoNotSchedule zone spread over pods labelled app=web.
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
