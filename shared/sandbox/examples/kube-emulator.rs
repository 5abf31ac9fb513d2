//! Runs the Kubernetes API emulator until Ctrl-C, for kubectl:
//!
//! ```sh
//! cargo run -p sandbox --example kube-emulator -- /tmp/sandbox.kubeconfig --seed
//! kubectl --kubeconfig /tmp/sandbox.kubeconfig get nodes,pods -o wide
//! ```
//!
//! `--seed` adds a Ready node `ip-10-0-1-1.ec2.internal` running two ReplicaSet pods,
//! a DaemonSet pod and a bare pod, a PodDisruptionBudget, and a pending pod.
use std::time::Instant;

use k8s_openapi::api::apps::v1::DaemonSet;
use k8s_openapi::api::core::v1::{Node, Pod};
use k8s_openapi::api::policy::v1::PodDisruptionBudget;
use sandbox::kube::{KubeApiServer, KubeApiServerConfig};
use serde_json::json;

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
        .init();
    let mut args = std::env::args().skip(1);
    let path = args
        .next()
        .unwrap_or_else(|| "sandbox.kubeconfig".to_string());
    let seed = args.any(|a| a == "--seed");
    let t = Instant::now();
    let server = KubeApiServer::start(KubeApiServerConfig {
        kubeconfig_path: Some(path.clone().into()),
        ..Default::default()
    })
    .await?;
    let startup = t.elapsed();
    if seed {
        seed_objects(&server)?;
    }
    println!(
        "kube API emulator at {} (started in {startup:?}); kubeconfig: {path}",
        server.url()
    );
    tokio::signal::ctrl_c().await?;
    server.shutdown().await;
    Ok(())
}

fn seed_objects(
    server: &sandbox::kube::KubeApiServerHandle,
) -> Result<(), Box<dyn std::error::Error>> {
    let o = server.objects();
    let node = "ip-10-0-1-1.ec2.internal";
    o.create::<Node>(&serde_json::from_value(json!({
        "metadata": {"name": node, "labels": {"kubernetes.io/hostname": node, "karpenter.sh/nodepool": "default", "node.kubernetes.io/instance-type": "m5.large"}},
        "spec": {"providerID": "aws:///eu-west-1a/i-0123456789abcdef0"},
        "status": {
            "conditions": [{"type": "Ready", "status": "True", "reason": "KubeletReady", "message": "kubelet is posting ready status"}],
            "addresses": [{"type": "InternalIP", "address": "10.0.1.1"}, {"type": "Hostname", "address": node}],
            "capacity": {"cpu": "2", "memory": "7910360Ki", "pods": "29"},
            "allocatable": {"cpu": "1930m", "memory": "7220184Ki", "pods": "29"},
            "nodeInfo": {"kubeletVersion": "v1.33.0-eks", "osImage": "Amazon Linux 2023", "kernelVersion": "6.1.0", "containerRuntimeVersion": "containerd://1.7.0",
                         "architecture": "amd64", "operatingSystem": "linux", "bootID": "", "kubeProxyVersion": "", "machineID": "", "systemUUID": ""},
        },
    }))?)?;
    let running = |name: &str,
                   owner: Option<serde_json::Value>,
                   labels: serde_json::Value|
     -> Result<Pod, serde_json::Error> {
        let mut meta = json!({"name": name, "namespace": "default", "labels": labels});
        if let Some(o) = owner {
            meta["ownerReferences"] = json!([o]);
        }
        serde_json::from_value(json!({
            "metadata": meta,
            "spec": {"nodeName": node, "containers": [{"name": "app", "image": "nginx:1.27"}], "terminationGracePeriodSeconds": 30},
            "status": {"phase": "Running", "podIP": "10.0.1.23", "conditions": [{"type": "Ready", "status": "True"}],
                       "containerStatuses": [{"name": "app", "ready": true, "restartCount": 0, "image": "nginx:1.27", "imageID": "", "state": {"running": {}}}]},
        }))
    };
    o.create(&running("web-7d4b9c-abcde", Some(json!({"apiVersion": "apps/v1", "kind": "ReplicaSet", "name": "web-7d4b9c", "uid": "11111111-2222-4333-8444-555555555555", "controller": true})), json!({"app": "web"}))?)?;
    o.create(&running("web-7d4b9c-fghij", Some(json!({"apiVersion": "apps/v1", "kind": "ReplicaSet", "name": "web-7d4b9c", "uid": "11111111-2222-4333-8444-555555555555", "controller": true})), json!({"app": "web"}))?)?;
    o.create(&running("bare", None, json!({"app": "bare"}))?)?;
    let ds = o.create::<DaemonSet>(&serde_json::from_value(json!({
        "metadata": {"name": "aws-node", "namespace": "kube-system"},
        "spec": {"selector": {"matchLabels": {"k8s-app": "aws-node"}},
                 "template": {"metadata": {"labels": {"k8s-app": "aws-node"}}, "spec": {"containers": [{"name": "aws-node", "image": "amazon-k8s-cni:v1.19"}]}}},
    }))?)?;
    let mut cni = running(
        "aws-node-x7k2p",
        Some(
            json!({"apiVersion": "apps/v1", "kind": "DaemonSet", "name": "aws-node", "uid": ds.metadata.uid, "controller": true}),
        ),
        json!({"k8s-app": "aws-node"}),
    )?;
    cni.metadata.namespace = Some("kube-system".into());
    o.create(&cni)?;
    o.create::<Pod>(&serde_json::from_value(json!({
        "metadata": {"name": "pending", "namespace": "default"},
        "spec": {"containers": [{"name": "app", "image": "nginx:1.27", "resources": {"requests": {"cpu": "4"}}}]},
        "status": {"phase": "Pending", "conditions": [{"type": "PodScheduled", "status": "False", "reason": "Unschedulable", "message": "0/1 nodes are available: 1 Insufficient cpu."}]},
    }))?)?;
    o.create::<PodDisruptionBudget>(&serde_json::from_value(json!({
        "metadata": {"name": "web", "namespace": "default", "generation": 1},
        "spec": {"minAvailable": 1, "selector": {"matchLabels": {"app": "web"}}},
        "status": {"observedGeneration": 1, "disruptionsAllowed": 1, "currentHealthy": 2, "desiredHealthy": 1, "expectedPods": 2},
    }))?)?;
    Ok(())
}
