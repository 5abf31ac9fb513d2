//! The disruption controller actor: PodDisruptionBudget status follows the pods.
use k8s_openapi::api::apps::v1::ReplicaSet;
use k8s_openapi::api::core::v1::Pod;
use k8s_openapi::api::policy::v1::PodDisruptionBudget;
use kube::Api;
use kube::api::{DeleteParams, Patch, PatchParams, PostParams};
use sandbox::actors::disruption::{self, DisruptionConfig};
use serde_json::json;

use super::{client, start, wait_for};
use crate::kube_api::{api_code, client_no_retry};

/// (expected, currentHealthy, desiredHealthy, disruptionsAllowed)
fn counts(p: &PodDisruptionBudget) -> (i32, i32, i32, i32) {
    let s = p.status.clone().unwrap_or_default();
    (
        s.expected_pods.unwrap_or(-1),
        s.current_healthy.unwrap_or(-1),
        s.desired_healthy.unwrap_or(-1),
        s.disruptions_allowed.unwrap_or(-1),
    )
}

async fn wait_counts(
    api: &Api<PodDisruptionBudget>,
    name: &str,
    want: (i32, i32, i32, i32),
) -> PodDisruptionBudget {
    wait_for(
        &format!("pdb {name} status {want:?}"),
        || async { api.get_opt(name).await.ok().flatten() },
        |p| counts(p) == want,
    )
    .await
}

fn ready_pod(name: &str, labels: serde_json::Value, owner: Option<(&str, &str)>) -> Pod {
    let mut v = json!({
        "apiVersion": "v1", "kind": "Pod",
        "metadata": {"name": name, "namespace": "default", "labels": labels},
        "spec": {"nodeName": "n1", "containers": [{"name": "app", "image": "nginx:1"}]},
        "status": {"phase": "Running", "conditions": [{"type": "Ready", "status": "True"}]},
    });
    if let Some((rs, uid)) = owner {
        v["metadata"]["ownerReferences"] = json!([{"apiVersion": "apps/v1", "kind": "ReplicaSet",
            "name": rs, "uid": uid, "controller": true}]);
    }
    serde_json::from_value(v).expect("pod")
}

#[tokio::test]
async fn pdb_status_follows_pods_readiness_and_deletion() {
    let server = start().await;
    let actor = disruption::start(server.store().clone(), DisruptionConfig::default());
    let c = client(&server);
    let pods = Api::<Pod>::namespaced(c.clone(), "default");
    let pdbs = Api::<PodDisruptionBudget>::namespaced(c.clone(), "default");
    for i in 1..=3 {
        // Created with status in-process, as a kubelet reports it.
        server
            .objects()
            .create(&ready_pod(&format!("web-{i}"), json!({"app": "web"}), None))
            .expect("pod");
    }
    let pdb: PodDisruptionBudget = serde_json::from_value(json!({
        "apiVersion": "policy/v1", "kind": "PodDisruptionBudget",
        "metadata": {"name": "web", "namespace": "default"},
        "spec": {"minAvailable": 2, "selector": {"matchLabels": {"app": "web"}}},
    }))
    .expect("pdb");
    pdbs.create(&PostParams::default(), &pdb)
        .await
        .expect("create pdb");
    let p = wait_counts(&pdbs, "web", (3, 3, 2, 1)).await;
    let status = p.status.expect("status");
    assert_eq!(status.observed_generation, p.metadata.generation);
    let cond = status
        .conditions
        .unwrap_or_default()
        .into_iter()
        .find(|c| c.type_ == "DisruptionAllowed")
        .expect("DisruptionAllowed condition");
    assert_eq!(
        (cond.status.as_str(), cond.reason.as_str()),
        ("True", "SufficientPods")
    );

    // A pod goes not-Ready (its status patched, as a kubelet would): none may go.
    pods.patch_status(
        "web-1",
        &PatchParams::default(),
        &Patch::Merge(json!({"status": {"conditions": [{"type": "Ready", "status": "False"}]}})),
    )
    .await
    .expect("patch status");
    wait_counts(&pdbs, "web", (3, 2, 2, 0)).await;

    // It is deleted, and a fourth Ready pod appears.
    pods.delete("web-1", &DeleteParams::default())
        .await
        .expect("delete");
    wait_counts(&pdbs, "web", (2, 2, 2, 0)).await;
    server
        .objects()
        .create(&ready_pod("web-4", json!({"app": "web"}), None))
        .expect("pod");
    wait_counts(&pdbs, "web", (3, 3, 2, 1)).await;
    actor.stop().await;
}

#[tokio::test]
async fn max_unavailable_counts_the_controllers_scale_and_evictions_follow_it() {
    let server = start().await;
    let actor = disruption::start(server.store().clone(), DisruptionConfig::default());
    let c = client(&server);
    let rs: ReplicaSet = serde_json::from_value(json!({
        "apiVersion": "apps/v1", "kind": "ReplicaSet",
        "metadata": {"name": "api-7d9", "namespace": "default"},
        "spec": {"replicas": 3, "selector": {"matchLabels": {"app": "api"}},
                 "template": {"metadata": {"labels": {"app": "api"}},
                              "spec": {"containers": [{"name": "app", "image": "nginx:1"}]}}},
    }))
    .expect("rs");
    let rs = Api::<ReplicaSet>::namespaced(c.clone(), "default")
        .create(&PostParams::default(), &rs)
        .await
        .expect("create rs");
    let uid = rs.metadata.uid.clone().expect("uid");
    // Two of the three replicas exist so far.
    for i in 1..=2 {
        server
            .objects()
            .create(&ready_pod(
                &format!("api-{i}"),
                json!({"app": "api"}),
                Some(("api-7d9", &uid)),
            ))
            .expect("pod");
    }
    let pdbs = Api::<PodDisruptionBudget>::namespaced(c.clone(), "default");
    let pdb: PodDisruptionBudget = serde_json::from_value(json!({
        "apiVersion": "policy/v1", "kind": "PodDisruptionBudget",
        "metadata": {"name": "api", "namespace": "default"},
        "spec": {"maxUnavailable": "34%", "selector": {"matchLabels": {"app": "api"}}},
    }))
    .expect("pdb");
    pdbs.create(&PostParams::default(), &pdb)
        .await
        .expect("create pdb");
    // expected 3 (the ReplicaSet's scale), 34% of 3 rounded up = 2 may be unavailable.
    wait_counts(&pdbs, "api", (3, 2, 1, 1)).await;

    // One eviction passes; the controller then sees one healthy pod and allows none.
    let pods = Api::<Pod>::namespaced(client_no_retry(&server), "default");
    pods.evict("api-1", &Default::default())
        .await
        .expect("first eviction");
    wait_counts(&pdbs, "api", (3, 1, 1, 0)).await;
    let err = pods
        .evict("api-2", &Default::default())
        .await
        .expect_err("second eviction is refused");
    assert_eq!(api_code(&err), Some(429), "{err:?}");
    actor.stop().await;
}
