//! The in-cluster actors (`sandbox::actors`): scheduler, disruption controller, Fargate.
//! Objects are written and read through the real `kube` client, as a function would.
mod disruption;
mod fargate;
mod scheduler;

use std::time::{Duration, Instant};

use k8s_openapi::api::core::v1::{Node, Pod};
use kube::Api;
use kube::api::PostParams;
use serde_json::{Value, json};

pub use crate::kube_api::{client, start};

/// A Ready node with `cpu`/`memory` allocatable, labels and taints.
pub fn node(name: &str, cpu: &str, memory: &str, labels: Value, taints: Value) -> Node {
    let mut all = json!({"kubernetes.io/hostname": name, "kubernetes.io/os": "linux",
                         "topology.kubernetes.io/zone": "us-east-1a"});
    if let (Some(all), Some(extra)) = (all.as_object_mut(), labels.as_object()) {
        all.extend(extra.clone());
    }
    serde_json::from_value(json!({
        "apiVersion": "v1", "kind": "Node",
        "metadata": {"name": name, "labels": all},
        "spec": {"providerID": format!("aws:///us-east-1a/i-{name}"), "taints": taints},
        "status": {
            "conditions": [{"type": "Ready", "status": "True"}],
            "addresses": [{"type": "InternalIP", "address": "10.0.1.10"}],
            "capacity": {"cpu": cpu, "memory": memory, "pods": "110"},
            "allocatable": {"cpu": cpu, "memory": memory, "pods": "110"},
        },
    }))
    .expect("node")
}

/// A pod in `ns` requesting `cpu`, with extra spec fields merged in.
pub fn pod(ns: &str, name: &str, cpu: &str, labels: Value, spec: Value) -> Pod {
    let mut s = json!({"containers": [{"name": "app", "image": "nginx:1",
                                       "resources": {"requests": {"cpu": cpu, "memory": "64Mi"}}}]});
    if let (Some(s), Some(extra)) = (s.as_object_mut(), spec.as_object()) {
        s.extend(extra.clone());
    }
    serde_json::from_value(json!({
        "apiVersion": "v1", "kind": "Pod",
        "metadata": {"name": name, "namespace": ns, "labels": labels},
        "spec": s,
    }))
    .expect("pod")
}

pub async fn create_node(client: &kube::Client, n: Node) {
    Api::<Node>::all(client.clone())
        .create(&PostParams::default(), &n)
        .await
        .expect("create node");
}

pub async fn create_pod(client: &kube::Client, p: Pod) {
    let ns = p
        .metadata
        .namespace
        .clone()
        .unwrap_or_else(|| "default".into());
    Api::<Pod>::namespaced(client.clone(), &ns)
        .create(&PostParams::default(), &p)
        .await
        .expect("create pod");
}

/// Polls `get` through the kube client until `check` holds (10 s).
pub async fn wait_for<T, F, Fut>(what: &str, mut get: F, check: impl Fn(&T) -> bool) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
    T: std::fmt::Debug,
{
    let deadline = Instant::now() + Duration::from_secs(10);
    let mut last = None;
    loop {
        if let Some(v) = get().await {
            if check(&v) {
                return v;
            }
            last = Some(v);
        }
        assert!(
            Instant::now() < deadline,
            "timed out waiting for {what}; last seen: {last:#?}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Waits until pod `ns/name` satisfies `check`.
pub async fn wait_pod(
    client: &kube::Client,
    ns: &str,
    name: &str,
    check: impl Fn(&Pod) -> bool,
) -> Pod {
    let api = Api::<Pod>::namespaced(client.clone(), ns);
    wait_for(
        &format!("pod {ns}/{name}"),
        || async { api.get_opt(name).await.ok().flatten() },
        check,
    )
    .await
}

pub fn node_of(p: &Pod) -> Option<&str> {
    p.spec.as_ref().and_then(|s| s.node_name.as_deref())
}

/// The pod's `PodScheduled` condition as (status, reason, message).
pub fn scheduled(p: &Pod) -> Option<(String, Option<String>, Option<String>)> {
    p.status
        .as_ref()?
        .conditions
        .as_ref()?
        .iter()
        .find(|c| c.type_ == "PodScheduled")
        .map(|c| (c.status.clone(), c.reason.clone(), c.message.clone()))
}

/// The Unschedulable message, once there is one.
pub fn unschedulable_message(p: &Pod) -> Option<String> {
    match scheduled(p) {
        Some((s, Some(r), m)) if s == "False" && r == "Unschedulable" => m,
        _ => None,
    }
}

pub fn is_running_and_ready(p: &Pod) -> bool {
    let status = p.status.as_ref();
    status.and_then(|s| s.phase.as_deref()) == Some("Running")
        && status
            .and_then(|s| s.conditions.as_ref())
            .is_some_and(|cs| cs.iter().any(|c| c.type_ == "Ready" && c.status == "True"))
}
