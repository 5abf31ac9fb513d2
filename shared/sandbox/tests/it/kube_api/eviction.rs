use std::time::{Duration, Instant};

use k8s_openapi::api::apps::v1::ReplicaSet;
use k8s_openapi::api::core::v1::Pod;
use k8s_openapi::api::policy::v1::PodDisruptionBudget;
use kube::api::{Api, EvictParams, Patch, PatchParams, PostParams};
use serde_json::json;

use super::{api_code, client_no_retry, make_running, pod, start};

fn pdb(min_available: i32) -> PodDisruptionBudget {
    serde_json::from_value(json!({
        "metadata": {"name": "web"},
        "spec": {"minAvailable": min_available, "selector": {"matchLabels": {"app": "web"}}},
    }))
    .expect("pdb")
}

/// The error evicting `name` fails with (`why` it must fail).
async fn evict_err(pods: &Api<Pod>, name: &str, why: &str) -> kube::Error {
    pods.evict(name, &EvictParams::default())
        .await
        .expect_err(why)
}

/// The `web` budget's status counts: expected pods, current and desired healthy,
/// disruptions allowed.
async fn pdb_counts(
    pdbs: &Api<PodDisruptionBudget>,
) -> (Option<i32>, Option<i32>, Option<i32>, Option<i32>) {
    let st = pdbs
        .get_status("web")
        .await
        .expect("pdb")
        .status
        .expect("status");
    (
        st.expected_pods,
        st.current_healthy,
        st.desired_healthy,
        st.disruptions_allowed,
    )
}

/// What the disruption controller would write.
async fn set_pdb_status(api: &Api<PodDisruptionBudget>, allowed: i32) {
    let st = json!({"status": {"observedGeneration": 1, "disruptionsAllowed": allowed, "currentHealthy": 2, "desiredHealthy": 2 - allowed, "expectedPods": 2}});
    api.patch_status("web", &PatchParams::default(), &Patch::Merge(&st))
        .await
        .expect("pdb status");
}

#[tokio::test]
async fn evictions_respect_pod_disruption_budgets() {
    let server = start().await;
    // Production's drain client: kube's default 429 retry loop (15 retries, minutes) off.
    let c = client_no_retry(&server);
    let pods: Api<Pod> = Api::namespaced(c.clone(), "default");
    let pdbs: Api<PodDisruptionBudget> = Api::namespaced(c, "default");
    let pp = PostParams::default();
    for name in ["web-1", "web-2"] {
        pods.create(&pp, &pod(name, json!({"app": "web"}), Some("n1")))
            .await
            .expect("pod");
        make_running(&server, name);
    }
    pdbs.create(&pp, &pdb(1)).await.expect("pdb");

    // A fresh PDB has not been observed by the disruption controller yet → 429.
    let t = Instant::now();
    let err = evict_err(&pods, "web-1", "not yet observed").await;
    assert_eq!(api_code(&err), Some(429));
    assert!(
        t.elapsed() < Duration::from_secs(2),
        "429 came back at once, not after retries"
    );

    set_pdb_status(&pdbs, 0).await;
    let err = evict_err(&pods, "web-1", "budget exhausted").await;
    match &err {
        kube::Error::Api(s) => {
            assert_eq!((s.code, s.reason.as_str()), (429, "TooManyRequests"));
            assert!(s.message.contains("disruption budget"), "{}", s.message);
        }
        other => panic!("unexpected {other:?}"),
    }
    assert!(
        pods.get_opt("web-1").await.expect("get").is_some(),
        "the pod stays"
    );

    set_pdb_status(&pdbs, 1).await;
    let status = pods
        .evict("web-1", &EvictParams::default())
        .await
        .expect("evicted");
    assert_eq!(status.code, 201);
    assert!(
        pods.get_opt("web-1").await.expect("get").is_none(),
        "evicted pod deleted"
    );
    let after = pdbs.get_status("web").await.expect("pdb");
    let st = after.status.expect("status");
    assert_eq!(
        st.disruptions_allowed,
        Some(0),
        "the budget was decremented"
    );
    assert!(st.disrupted_pods.is_some_and(|d| d.contains_key("web-1")));
    let err = evict_err(&pods, "web-2", "spent").await;
    assert_eq!(api_code(&err), Some(429));

    // Pods no budget selects, and pending pods, are evicted without a budget check.
    pods.create(&pp, &pod("lonely", json!({"app": "other"}), Some("n1")))
        .await
        .expect("pod");
    make_running(&server, "lonely");
    pods.evict("lonely", &EvictParams::default())
        .await
        .expect("no pdb");
    pods.create(&pp, &pod("pending-web", json!({"app": "web"}), None))
        .await
        .expect("pod");
    pods.evict("pending-web", &EvictParams::default())
        .await
        .expect("pending pods skip the budget");
    assert_eq!(api_code(&evict_err(&pods, "ghost", "404").await), Some(404));
}

#[tokio::test]
async fn disruption_controller_helper_keeps_budgets_current() {
    let server = start().await;
    let c = client_no_retry(&server);
    let pods: Api<Pod> = Api::namespaced(c.clone(), "default");
    let pdbs: Api<PodDisruptionBudget> = Api::namespaced(c, "default");
    let pp = PostParams::default();
    // A ReplicaSet of 3 (no controller runs: the test creates its pods).
    let rs: ReplicaSet = serde_json::from_value(json!({
        "metadata": {"name": "web"},
        "spec": {"replicas": 3, "selector": {"matchLabels": {"app": "web"}},
                 "template": {"metadata": {"labels": {"app": "web"}}, "spec": {"containers": [{"name": "app", "image": "nginx"}]}}},
    }))
    .expect("rs");
    let rs = Api::<ReplicaSet>::namespaced(pods.clone().into_client(), "default")
        .create(&pp, &rs)
        .await
        .expect("rs");
    for name in ["web-1", "web-2", "web-3"] {
        let mut p = pod(name, json!({"app": "web"}), Some("n1"));
        p.metadata.owner_references = Some(vec![serde_json::from_value(json!({
            "apiVersion": "apps/v1", "kind": "ReplicaSet", "name": "web", "uid": rs.metadata.uid, "controller": true,
        }))
        .expect("owner")]);
        pods.create(&pp, &p).await.expect("pod");
        make_running(&server, name);
    }
    let max_unavailable: PodDisruptionBudget = serde_json::from_value(json!({
        "metadata": {"name": "web"},
        "spec": {"maxUnavailable": "34%", "selector": {"matchLabels": {"app": "web"}}},
    }))
    .expect("pdb");
    pdbs.create(&pp, &max_unavailable).await.expect("pdb");
    assert_eq!(server.refresh_disruption_budgets().expect("refresh"), 1);
    // 34% of 3 rounds up to 2 unavailable: 1 must stay healthy, 2 may go.
    assert_eq!(
        pdb_counts(&pdbs).await,
        (Some(3), Some(3), Some(1), Some(2))
    );
    pods.evict("web-1", &EvictParams::default())
        .await
        .expect("first");
    pods.evict("web-2", &EvictParams::default())
        .await
        .expect("second, on the decremented budget");
    assert_eq!(
        api_code(&evict_err(&pods, "web-3", "third").await),
        Some(429)
    );
    server.refresh_disruption_budgets().expect("refresh");
    // Expected pods still come from the ReplicaSet's scale (3): 1 healthy of 1 desired.
    assert_eq!(
        pdb_counts(&pdbs).await,
        (Some(3), Some(1), Some(1), Some(0))
    );
}
