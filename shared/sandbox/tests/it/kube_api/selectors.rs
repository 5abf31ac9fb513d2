use k8s_openapi::api::core::v1::{Event, Node, Pod};
use kube::api::{Api, ListParams, PostParams};
use serde_json::json;

use super::{api_code, client, make_running, node, pod, start};

async fn names<K>(api: &Api<K>, lp: &ListParams) -> Vec<String>
where
    K: kube::Resource + Clone + serde::de::DeserializeOwned + std::fmt::Debug,
{
    let mut n: Vec<String> = api
        .list(lp)
        .await
        .expect("list")
        .items
        .iter()
        .filter_map(|o| o.meta().name.clone())
        .collect();
    n.sort();
    n
}

#[tokio::test]
async fn label_and_field_selectors() {
    let server = start().await;
    let c = client(&server);
    let pods: Api<Pod> = Api::namespaced(c.clone(), "default");
    let pp = PostParams::default();
    pods.create(
        &pp,
        &pod("web-1", json!({"app": "web", "tier": "front"}), Some("n1")),
    )
    .await
    .expect("pod");
    pods.create(&pp, &pod("web-2", json!({"app": "web"}), None))
        .await
        .expect("pod");
    pods.create(
        &pp,
        &pod("db-1", json!({"app": "db", "tier": "back"}), Some("n2")),
    )
    .await
    .expect("pod");
    make_running(&server, "web-1");

    let lp = |s: &str| ListParams::default().labels(s);
    assert_eq!(names(&pods, &lp("app=web")).await, ["web-1", "web-2"]);
    assert_eq!(names(&pods, &lp("app==web,tier=front")).await, ["web-1"]);
    assert_eq!(names(&pods, &lp("app!=web")).await, ["db-1"]);
    assert_eq!(
        names(&pods, &lp("tier in (front,back)")).await,
        ["db-1", "web-1"]
    );
    assert_eq!(names(&pods, &lp("app notin (web)")).await, ["db-1"]);
    assert_eq!(names(&pods, &lp("tier")).await, ["db-1", "web-1"]);
    assert_eq!(names(&pods, &lp("!tier")).await, ["web-2"]);
    assert_eq!(
        api_code(
            &pods
                .list(&lp("app in web"))
                .await
                .expect_err("bad selector")
        ),
        Some(400)
    );

    let fp = |s: &str| ListParams::default().fields(s);
    // The pending-pods query: no node yet.
    assert_eq!(names(&pods, &fp("spec.nodeName=")).await, ["web-2"]);
    assert_eq!(names(&pods, &fp("spec.nodeName=n1")).await, ["web-1"]);
    assert_eq!(names(&pods, &fp("status.phase=Running")).await, ["web-1"]);
    assert_eq!(
        names(
            &pods,
            &fp("status.phase!=Running,metadata.namespace=default")
        )
        .await,
        ["db-1", "web-2"]
    );
    assert_eq!(names(&pods, &fp("metadata.name=db-1")).await, ["db-1"]);
    let all_pods: Api<Pod> = Api::all(c.clone());
    assert_eq!(names(&all_pods, &fp("spec.nodeName=n2")).await, ["db-1"]);
    let err = pods
        .list(&fp("spec.priority=1"))
        .await
        .expect_err("unsupported field");
    match &err {
        kube::Error::Api(s) => {
            assert!(s.code == 400 && s.message.contains("field label not supported"))
        }
        other => panic!("unexpected {other:?}"),
    }

    let nodes: Api<Node> = Api::all(c.clone());
    nodes.create(&pp, &node("n1")).await.expect("node");
    nodes.create(&pp, &node("n2")).await.expect("node");
    nodes.cordon("n2").await.expect("cordon");
    assert_eq!(names(&nodes, &fp("spec.unschedulable=true")).await, ["n2"]);
    assert_eq!(names(&nodes, &fp("spec.unschedulable=false")).await, ["n1"]);

    let events: Api<Event> = Api::namespaced(c, "default");
    let ev: Event = serde_json::from_value(json!({
        "metadata": {"name": "web-1.1"},
        "involvedObject": {"kind": "Pod", "name": "web-1", "namespace": "default"},
        "reason": "Scheduled", "message": "ok", "type": "Normal",
    }))
    .expect("event");
    events.create(&pp, &ev).await.expect("event");
    assert_eq!(
        names(
            &events,
            &fp("involvedObject.kind=Pod,involvedObject.name=web-1")
        )
        .await,
        ["web-1.1"]
    );
    assert!(
        names(&events, &fp("involvedObject.name=other"))
            .await
            .is_empty()
    );
}
