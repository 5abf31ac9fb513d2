//! kubectl against the emulator through the kubeconfig it writes. Ignored by default (it
//! runs an external binary); run with:
//!
//! ```sh
//! cargo test -p sandbox --test it -- --ignored kubectl
//! ```
use std::path::Path;
use std::process::Command;

use k8s_openapi::api::core::v1::{Node, Pod};
use k8s_openapi::api::policy::v1::PodDisruptionBudget;
use serde_json::json;

use super::{make_running, node, pod, start};

fn kubectl(kubeconfig: &Path, args: &[&str]) -> (bool, String) {
    let out = Command::new("kubectl")
        .arg("--kubeconfig")
        .arg(kubeconfig)
        .args(args)
        .output()
        .expect("kubectl runs");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.success(), text)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "runs kubectl: cargo test -p sandbox --test it -- --ignored kubectl"]
async fn kubectl_get_describe_cordon_drain() {
    let server = start().await;
    let dir = std::env::temp_dir().join(format!("nodeless-kubectl-{}", std::process::id()));
    let kc = dir.join("kubeconfig");
    server.write_kubeconfig(&kc).expect("kubeconfig");
    let o = server.objects();
    o.create::<Node>(&node("n1")).expect("node");
    for name in ["web-1", "web-2"] {
        let mut p = pod(name, json!({"app": "web"}), Some("n1"));
        p.metadata.owner_references = Some(vec![serde_json::from_value(json!({"apiVersion": "apps/v1", "kind": "ReplicaSet", "name": "web", "uid": "u-1", "controller": true})).expect("owner")]);
        o.create(&p).expect("pod");
        make_running(&server, name);
    }
    o.create::<PodDisruptionBudget>(&serde_json::from_value(json!({"metadata": {"name": "web", "namespace": "default"}, "spec": {"minAvailable": 1, "selector": {"matchLabels": {"app": "web"}}}})).expect("pdb")).expect("pdb");
    server.refresh_disruption_budgets().expect("pdb status");

    let kc2 = kc.clone();
    let run = move |args: &'static [&'static str]| {
        let kc = kc2.clone();
        tokio::task::spawn_blocking(move || kubectl(&kc, args))
    };
    let (ok, out) = run(&["get", "nodes"]).await.expect("join");
    assert!(ok && out.contains("n1") && out.contains("Ready"), "{out}");
    let (ok, out) = run(&["get", "pods", "-o", "wide"]).await.expect("join");
    assert!(
        ok && out.contains("web-1") && out.contains("Running"),
        "{out}"
    );
    let (ok, out) = run(&["describe", "pod", "web-1"]).await.expect("join");
    assert!(ok && out.contains("Node:") && out.contains("n1"), "{out}");
    let (ok, out) = run(&["describe", "node", "n1"]).await.expect("join");
    assert!(ok && out.contains("Non-terminated Pods"), "{out}");
    let (ok, out) = run(&["cordon", "n1"]).await.expect("join");
    assert!(ok, "{out}");
    assert_eq!(
        o.get::<Node>(None, "n1")
            .expect("node")
            .spec
            .and_then(|s| s.unschedulable),
        Some(true)
    );
    // The budget allows one eviction; the second pod stays until the budget allows it.
    let (ok, out) = run(&["drain", "n1", "--ignore-daemonsets", "--timeout=3s"])
        .await
        .expect("join");
    assert!(!ok && out.contains("disruption budget"), "{out}");
    assert_eq!(o.list::<Pod>(Some("default")).expect("pods").len(), 1);
    server.refresh_disruption_budgets().expect("pdb status");
    o.modify::<PodDisruptionBudget>(Some("default"), "web", |p| {
        if let Some(s) = p.status.as_mut() {
            s.disruptions_allowed = Some(1);
        }
    })
    .expect("allow one more");
    let (ok, out) = run(&["drain", "n1", "--ignore-daemonsets", "--timeout=10s"])
        .await
        .expect("join");
    assert!(ok && out.contains("drained"), "{out}");
    assert!(o.list::<Pod>(Some("default")).expect("pods").is_empty());
    let _ = std::fs::remove_dir_all(dir);
}
