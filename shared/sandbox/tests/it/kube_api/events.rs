use k8s_openapi::api::core::v1::{Event, ObjectReference, Pod};
use kube::api::{Api, ListParams, PostParams};
use kube::runtime::events::{Event as NewEvent, EventType, Recorder, Reporter};
use serde_json::json;

use super::{client, pod, start};

/// kube's Recorder writes events.k8s.io/v1 Events; `kubectl describe` reads them back as
/// core/v1 Events by involvedObject: one storage, two versions, as in kube-apiserver.
#[tokio::test]
async fn recorder_events_show_up_as_core_events() {
    let server = start().await;
    let c = client(&server);
    let p = Api::<Pod>::namespaced(c.clone(), "default")
        .create(&PostParams::default(), &pod("web", json!({}), None))
        .await
        .expect("pod");
    let reference = ObjectReference {
        api_version: Some("v1".into()),
        kind: Some("Pod".into()),
        name: p.metadata.name.clone(),
        namespace: p.metadata.namespace.clone(),
        uid: p.metadata.uid.clone(),
        ..Default::default()
    };
    let recorder = Recorder::new(
        c.clone(),
        Reporter {
            controller: "nodeless-provisioner".into(),
            instance: None,
        },
    );
    let ev = NewEvent {
        type_: EventType::Normal,
        reason: "Nominated".into(),
        note: Some("Pod should schedule on a new m5.large".into()),
        action: "Provision".into(),
        secondary: None,
    };
    recorder.publish(&ev, &reference).await.expect("publish");
    recorder
        .publish(&ev, &reference)
        .await
        .expect("publish again (a series patch)");

    let events: Api<Event> = Api::namespaced(c, "default");
    let selector = format!(
        "involvedObject.name=web,involvedObject.namespace=default,involvedObject.kind=Pod,involvedObject.uid={}",
        p.metadata.uid.unwrap_or_default()
    );
    let found = events
        .list(&ListParams::default().fields(&selector))
        .await
        .expect("list");
    assert_eq!(found.items.len(), 1, "{:?}", found.items);
    let e = &found.items[0];
    assert_eq!(
        (e.reason.as_deref(), e.message.as_deref()),
        (
            Some("Nominated"),
            Some("Pod should schedule on a new m5.large")
        )
    );
    assert_eq!(
        e.reporting_component.as_deref(),
        Some("nodeless-provisioner")
    );
    assert!(e.series.is_some(), "the repeat became a series");
}
