use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::{Node, Pod};
use kube::api::{Api, Patch, PatchParams, PostParams};
use serde_json::json;

use super::{api_code, client, node, pod, start};

#[tokio::test]
async fn merge_json_strategic_and_apply() {
    let server = start().await;
    let c = client(&server);
    let pp = PostParams::default();
    let nodes: Api<Node> = Api::all(c.clone());
    nodes.create(&pp, &node("n1")).await.expect("node");

    // Strategic merge (Api::cordon sends one).
    let cordoned = nodes.cordon("n1").await.expect("cordon");
    assert_eq!(
        cordoned.spec.as_ref().and_then(|s| s.unschedulable),
        Some(true)
    );

    // Merge patch: maps merge, null deletes, arrays replace.
    let p = json!({"metadata": {"labels": {"a": "1", "kubernetes.io/hostname": null}}, "spec": {"taints": [{"key": "k", "effect": "NoSchedule"}]}});
    let n = nodes
        .patch("n1", &PatchParams::default(), &Patch::Merge(&p))
        .await
        .expect("merge");
    let labels = n.metadata.labels.clone().unwrap_or_default();
    assert_eq!(labels.get("a").map(String::as_str), Some("1"));
    assert!(!labels.contains_key("kubernetes.io/hostname"));
    let p = json!({"spec": {"taints": [{"key": "k2", "effect": "NoExecute"}]}});
    let n = nodes
        .patch("n1", &PatchParams::default(), &Patch::Merge(&p))
        .await
        .expect("merge");
    let taints = n.spec.and_then(|s| s.taints).unwrap_or_default();
    assert_eq!(taints.len(), 1, "arrays replace whole");

    // JSON patch (sent raw: kube's Patch::Json needs its `jsonpatch` feature), and a failed
    // `test` → 422.
    let ops = json!([
        {"op": "add", "path": "/metadata/annotations", "value": {"x": "y"}},
        {"op": "replace", "path": "/spec/unschedulable", "value": false}
    ]);
    let n: Node = c
        .request(json_patch("/api/v1/nodes/n1", &ops))
        .await
        .expect("json patch");
    assert_eq!(n.spec.as_ref().and_then(|s| s.unschedulable), Some(false));
    let bad = json!([{"op": "test", "path": "/spec/unschedulable", "value": true}]);
    let err = c
        .request::<Node>(json_patch("/api/v1/nodes/n1", &bad))
        .await
        .expect_err("test fails");
    assert_eq!(api_code(&err), Some(422));

    // Strategic merge on a pod: containers merge by name (image changes are allowed).
    let pods: Api<Pod> = Api::namespaced(c.clone(), "default");
    let mut p0 = pod("p", json!({}), None);
    if let Some(spec) = p0.spec.as_mut() {
        spec.containers.push(
            serde_json::from_value(json!({"name": "side", "image": "busybox:1"})).expect("c"),
        );
    }
    pods.create(&pp, &p0).await.expect("pod");
    let smp = json!({"spec": {"containers": [{"name": "side", "image": "busybox:2"}]}});
    let p = pods
        .patch("p", &PatchParams::default(), &Patch::Strategic(&smp))
        .await
        .expect("smp");
    let images: Vec<(String, Option<String>)> = p
        .spec
        .map(|s| {
            s.containers
                .into_iter()
                .map(|c| (c.name, c.image))
                .collect()
        })
        .unwrap_or_default();
    assert_eq!(
        images,
        [
            ("app".to_string(), Some("nginx:1".to_string())),
            ("side".to_string(), Some("busybox:2".to_string()))
        ]
    );
    // The same as a merge patch would replace the list, which changes the spec → 422.
    let err = pods
        .patch("p", &PatchParams::default(), &Patch::Merge(&smp))
        .await
        .expect_err("immutable");
    assert_eq!(api_code(&err), Some(422));

    // Server-side apply is refused.
    let err = pods
        .patch(
            "p",
            &PatchParams::apply("test"),
            &Patch::Apply(&json!({"metadata": {"labels": {"a": "b"}}})),
        )
        .await
        .expect_err("apply");
    assert_eq!(api_code(&err), Some(415));

    // A rollout restart (merge patch of the template) bumps generation; labels don't.
    let deploys: Api<Deployment> = Api::namespaced(c, "default");
    let d: Deployment = serde_json::from_value(json!({
        "metadata": {"name": "web"},
        "spec": {"selector": {"matchLabels": {"app": "web"}},
                 "template": {"metadata": {"labels": {"app": "web"}}, "spec": {"containers": [{"name": "app", "image": "nginx"}]}}},
    }))
    .expect("deploy");
    let d = deploys.create(&pp, &d).await.expect("deploy");
    assert_eq!(d.metadata.generation, Some(1));
    let d = deploys
        .patch(
            "web",
            &PatchParams::default(),
            &Patch::Merge(&json!({"metadata": {"labels": {"x": "y"}}})),
        )
        .await
        .expect("labels");
    assert_eq!(d.metadata.generation, Some(1));
    let d = deploys.restart("web").await.expect("restart");
    assert_eq!(d.metadata.generation, Some(2));
}

fn json_patch(path: &str, ops: &serde_json::Value) -> hyper::Request<Vec<u8>> {
    hyper::Request::patch(path)
        .header("content-type", "application/json-patch+json")
        .body(ops.to_string().into_bytes())
        .expect("request")
}
