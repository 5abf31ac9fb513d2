use std::time::Duration;

use k8s_openapi::api::core::v1::{ConfigMap, Pod};
use kube::api::{Api, DeleteParams, Patch, PatchParams, PostParams};
use sandbox::kube::{KubeApiServerConfig, KubeApiServerHandle, PodDeletion};
use serde_json::json;

use super::{client, eventually, make_running, pod, start, start_with};

#[tokio::test]
async fn finalizers_hold_objects_until_removed() {
    let server = start().await;
    let api: Api<ConfigMap> = Api::namespaced(client(&server), "default");
    let cm: ConfigMap = serde_json::from_value(
        json!({"metadata": {"name": "held", "finalizers": ["nodeless.sh/test"]}}),
    )
    .expect("cm");
    api.create(&PostParams::default(), &cm)
        .await
        .expect("create");
    let deleted = api
        .delete("held", &DeleteParams::default())
        .await
        .expect("delete");
    let obj = deleted
        .left()
        .expect("object returned while finalizers remain");
    assert!(obj.metadata.deletion_timestamp.is_some());
    let still = api.get("held").await.expect("still there");
    assert!(still.metadata.deletion_timestamp.is_some());
    api.patch(
        "held",
        &PatchParams::default(),
        &Patch::Merge(&json!({"metadata": {"finalizers": null}})),
    )
    .await
    .expect("unfinalize");
    assert!(
        api.get_opt("held").await.expect("get").is_none(),
        "gone once the last finalizer is removed"
    );
}

/// An emulator deleting pods by `mode`, holding a running pod `p` on node `n1`.
async fn running_pod_p(mode: PodDeletion) -> (KubeApiServerHandle, Api<Pod>) {
    let server = start_with(KubeApiServerConfig {
        pod_deletion: mode,
        ..Default::default()
    })
    .await;
    let pods: Api<Pod> = Api::namespaced(client(&server), "default");
    pods.create(&PostParams::default(), &pod("p", json!({}), Some("n1")))
        .await
        .expect("pod");
    make_running(&server, "p");
    (server, pods)
}

#[tokio::test]
async fn pod_graceful_deletion_modes() {
    // Manual: kept with deletionTimestamp until a kubelet deletes with grace 0.
    let (server, pods) = running_pod_p(PodDeletion::Manual).await;
    pods.delete("p", &DeleteParams::default().grace_period(30))
        .await
        .expect("delete");
    let p = pods.get("p").await.expect("kept");
    assert!(p.metadata.deletion_timestamp.is_some());
    assert_eq!(p.metadata.deletion_grace_period_seconds, Some(30));
    // Unscheduled pods go at once.
    pods.create(&PostParams::default(), &pod("unscheduled", json!({}), None))
        .await
        .expect("pod");
    pods.delete("unscheduled", &DeleteParams::default())
        .await
        .expect("delete");
    assert!(pods.get_opt("unscheduled").await.expect("get").is_none());
    // The kubelet's final delete.
    server
        .objects()
        .delete::<Pod>(Some("default"), "p", Some(0))
        .expect("kubelet delete");
    assert!(pods.get_opt("p").await.expect("get").is_none());

    // AfterGracePeriod: removed when the period has passed.
    let (server, pods) = running_pod_p(PodDeletion::AfterGracePeriod).await;
    pods.delete("p", &DeleteParams::default().grace_period(1))
        .await
        .expect("delete");
    assert!(
        pods.get("p")
            .await
            .expect("kept for now")
            .metadata
            .deletion_timestamp
            .is_some()
    );
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let store = server.store().clone();
    eventually("pod removed after its grace period", || {
        store
            .resolve("", "v1", "pods")
            .is_some_and(|d| store.get(&d, Some("default"), "p").is_err())
    })
    .await;

    // Immediate (the default): gone at once whatever the grace period.
    let (_server, pods) = running_pod_p(PodDeletion::Immediate).await;
    pods.delete("p", &DeleteParams::default().grace_period(30))
        .await
        .expect("delete");
    assert!(pods.get_opt("p").await.expect("get").is_none());
}
