use k8s_openapi::api::core::v1::{Node, Pod};
use kube::api::{Api, PostParams};
use serde_json::{Value, json};

use super::{client, make_running, node, pod, start};

const TABLE: &str = "application/json;as=Table;v=v1;g=meta.k8s.io,application/json;as=Table;v=v1beta1;g=meta.k8s.io,application/json";

#[tokio::test]
async fn table_form_for_kubectl_get() {
    let server = start().await;
    let c = client(&server);
    Api::<Node>::all(c.clone())
        .create(&PostParams::default(), &node("n1"))
        .await
        .expect("node");
    Api::<Node>::all(c.clone())
        .cordon("n1")
        .await
        .expect("cordon");
    Api::<Pod>::namespaced(c.clone(), "default")
        .create(&PostParams::default(), &pod("web", json!({}), Some("n1")))
        .await
        .expect("pod");
    make_running(&server, "web");

    let get = |path: &str| {
        hyper::Request::get(path)
            .header("accept", TABLE)
            .body(Vec::new())
            .expect("request")
    };
    let t: Value = c
        .request(get("/api/v1/namespaces/default/pods?limit=500"))
        .await
        .expect("pods table");
    assert_eq!(
        (t["kind"].as_str(), t["apiVersion"].as_str()),
        (Some("Table"), Some("meta.k8s.io/v1"))
    );
    let cols: Vec<&str> = t["columnDefinitions"]
        .as_array()
        .expect("columns")
        .iter()
        .filter_map(|c| c["name"].as_str())
        .collect();
    assert_eq!(&cols[..5], ["Name", "Ready", "Status", "Restarts", "Age"]);
    let cells = &t["rows"][0]["cells"];
    assert_eq!(
        (cells[0].as_str(), cells[2].as_str(), cells[6].as_str()),
        (Some("web"), Some("Running"), Some("n1"))
    );
    assert_eq!(t["rows"][0]["object"]["kind"], "PartialObjectMetadata");

    let t: Value = c
        .request(get("/api/v1/nodes/n1"))
        .await
        .expect("node table");
    assert_eq!(t["rows"][0]["cells"][1], "Ready,SchedulingDisabled");
    assert_eq!(t["rows"][0]["cells"][4], "v1.33.0");

    // Plain JSON when the Table form isn't asked for.
    let plain: Value = c
        .request(
            hyper::Request::get("/api/v1/nodes")
                .body(Vec::new())
                .expect("request"),
        )
        .await
        .expect("list");
    assert_eq!(plain["kind"], "NodeList");
}
