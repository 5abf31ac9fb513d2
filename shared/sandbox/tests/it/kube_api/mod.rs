//! The Kubernetes API emulator, driven through the real `kube` client over HTTPS, built
//! the way production builds it (`kube::Config` with URL, CA and token).
mod auth;
mod crd;
mod crud;
mod deletion;
mod discovery;
mod events;
mod eviction;
mod kubectl;
mod patch;
mod real_cluster;
mod selectors;
mod startup;
mod table;
mod watch;

use std::time::{Duration, Instant};

use k8s_openapi::api::core::v1::{Node, Pod};
use sandbox::kube::{KubeApiServer, KubeApiServerConfig, KubeApiServerHandle};
use serde_json::json;

pub fn init_tracing() {
    let _ = tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
        .with_test_writer()
        .try_init();
}

pub async fn start_with(config: KubeApiServerConfig) -> KubeApiServerHandle {
    init_tracing();
    let t = Instant::now();
    let server = KubeApiServer::start(config).await.expect("emulator starts");
    tracing::info!(elapsed = ?t.elapsed(), url = server.url(), "emulator up");
    server
}

pub async fn start() -> KubeApiServerHandle {
    start_with(KubeApiServerConfig::default()).await
}

/// The production client (`Client::try_from(Config)`, kube's default retries on).
pub fn client(server: &KubeApiServerHandle) -> kube::Client {
    server.kube_client().expect("client")
}

/// As production builds the drain/eviction client: no 429 retry loop.
pub fn client_no_retry(server: &KubeApiServerHandle) -> kube::Client {
    let mut config = server.kube_config().expect("config");
    config.default_retry = false;
    kube::Client::try_from(config).expect("client")
}

pub fn pod(name: &str, labels: serde_json::Value, node: Option<&str>) -> Pod {
    let mut v = json!({
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name, "namespace": "default", "labels": labels},
        "spec": {"containers": [{"name": "app", "image": "nginx:1"}]},
    });
    if let Some(n) = node {
        v["spec"]["nodeName"] = json!(n);
    }
    serde_json::from_value(v).expect("pod")
}

pub fn node(name: &str) -> Node {
    serde_json::from_value(json!({
        "apiVersion": "v1",
        "kind": "Node",
        "metadata": {"name": name, "labels": {"kubernetes.io/hostname": name}},
        "spec": {"providerID": format!("aws:///eu-west-1a/i-{name}")},
        "status": {
            "conditions": [{"type": "Ready", "status": "True"}],
            "nodeInfo": {"kubeletVersion": "v1.33.0", "osImage": "Amazon Linux 2023", "kernelVersion": "6.1",
                         "containerRuntimeVersion": "containerd://1.7", "architecture": "amd64",
                         "bootID": "", "kubeProxyVersion": "", "machineID": "", "operatingSystem": "linux", "systemUUID": ""},
            "addresses": [{"type": "InternalIP", "address": "10.0.0.1"}],
            "capacity": {"cpu": "2", "memory": "4Gi", "pods": "29"},
            "allocatable": {"cpu": "1930m", "memory": "3Gi", "pods": "29"},
        },
    }))
    .expect("node")
}

/// Marks a pod Running and Ready, as a kubelet would (through the in-process store).
pub fn make_running(server: &KubeApiServerHandle, name: &str) {
    server
        .objects()
        .modify::<Pod>(Some("default"), name, |p| {
            let status = p.status.get_or_insert_with(Default::default);
            status.phase = Some("Running".into());
            status.conditions = Some(vec![
                serde_json::from_value(json!({"type": "Ready", "status": "True"}))
                    .expect("condition"),
            ]);
        })
        .expect("pod running");
}

pub async fn eventually<F: FnMut() -> bool>(what: &str, mut f: F) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while !f() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

pub fn api_code(e: &kube::Error) -> Option<u16> {
    match e {
        kube::Error::Api(s) => Some(s.code),
        _ => None,
    }
}
