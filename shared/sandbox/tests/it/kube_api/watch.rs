use std::time::Duration;

use futures::{StreamExt, TryStreamExt};
use k8s_openapi::api::core::v1::{ConfigMap, Pod};
use kube::api::{Api, ListParams, Patch, PatchParams, PostParams, WatchEvent, WatchParams};
use kube::runtime::watcher;
use serde_json::json;

use super::{client, pod, start};

fn cm(name: &str) -> ConfigMap {
    serde_json::from_value(json!({"metadata": {"name": name}})).expect("cm")
}

fn kind_name(ev: &WatchEvent<ConfigMap>) -> String {
    match ev {
        WatchEvent::Added(o) => format!("ADDED {}", o.metadata.name.clone().unwrap_or_default()),
        WatchEvent::Modified(o) => {
            format!("MODIFIED {}", o.metadata.name.clone().unwrap_or_default())
        }
        WatchEvent::Deleted(o) => {
            format!("DELETED {}", o.metadata.name.clone().unwrap_or_default())
        }
        WatchEvent::Bookmark(_) => "BOOKMARK".to_string(),
        WatchEvent::Error(e) => format!("ERROR {}", e.code),
    }
}

#[tokio::test]
async fn events_in_order_from_a_resource_version_then_bookmark_at_timeout() {
    let server = start().await;
    let api: Api<ConfigMap> = Api::namespaced(client(&server), "default");
    let pp = PostParams::default();
    api.create(&pp, &cm("before")).await.expect("create");
    let rv = api
        .list(&ListParams::default())
        .await
        .expect("list")
        .metadata
        .resource_version
        .unwrap_or_default();
    // Changes made before the watch starts are replayed from the history.
    api.create(&pp, &cm("a")).await.expect("create");
    api.patch(
        "a",
        &PatchParams::default(),
        &Patch::Merge(&json!({"data": {"k": "v"}})),
    )
    .await
    .expect("patch");
    let stream = api
        .watch(&WatchParams::default().timeout(2), &rv)
        .await
        .expect("watch");
    tokio::pin!(stream);
    api.create(&pp, &cm("b")).await.expect("create");
    api.delete("a", &Default::default()).await.expect("delete");
    let mut seen = Vec::new();
    let mut last_rv = 0u64;
    while let Some(ev) = stream.try_next().await.expect("event") {
        if let WatchEvent::Added(o) | WatchEvent::Modified(o) | WatchEvent::Deleted(o) = &ev {
            let rv: u64 = o
                .metadata
                .resource_version
                .as_deref()
                .unwrap_or("0")
                .parse()
                .expect("numeric RV");
            assert!(rv > last_rv, "RVs increase");
            last_rv = rv;
        }
        seen.push(kind_name(&ev));
    }
    assert_eq!(
        seen,
        ["ADDED a", "MODIFIED a", "ADDED b", "DELETED a", "BOOKMARK"]
    );
}

#[tokio::test]
async fn selector_boundaries_turn_into_added_and_deleted() {
    let server = start().await;
    let pods: Api<Pod> = Api::namespaced(client(&server), "default");
    let stream = pods
        .watch(
            &WatchParams::default()
                .fields("spec.nodeName=")
                .timeout(2)
                .disable_bookmarks(),
            "0",
        )
        .await
        .expect("watch");
    tokio::pin!(stream);
    pods.create(&PostParams::default(), &pod("pending", json!({}), None))
        .await
        .expect("pod");
    // Bind through the binding subresource, as kube-scheduler does.
    let binding = json!({"apiVersion": "v1", "kind": "Binding", "metadata": {"name": "pending"}, "target": {"kind": "Node", "name": "n1"}});
    let _: kube::core::Status = pods
        .create_subresource("binding", "pending", &PostParams::default(), &binding)
        .await
        .expect("bind");
    let mut seen = Vec::new();
    while let Some(ev) = stream.try_next().await.expect("event") {
        match ev {
            WatchEvent::Added(p) => {
                seen.push(format!("ADDED {:?}", p.spec.and_then(|s| s.node_name)))
            }
            WatchEvent::Deleted(p) => {
                seen.push(format!("DELETED {:?}", p.spec.and_then(|s| s.node_name)))
            }
            other => seen.push(format!("{other:?}")),
        }
        if seen.len() == 2 {
            break;
        }
    }
    // The pod leaves the "unscheduled" selection: DELETED, carrying its last matching state.
    assert_eq!(seen, ["ADDED None", "DELETED None"]);
    let bound = pods.get("pending").await.expect("get");
    assert_eq!(bound.spec.and_then(|s| s.node_name).as_deref(), Some("n1"));
}

#[tokio::test]
async fn too_old_resource_version_is_410_and_the_watcher_relists() {
    let server = start().await;
    server.store().set_history_limit(2);
    let api: Api<ConfigMap> = Api::namespaced(client(&server), "default");
    let pp = PostParams::default();
    let old_rv = api
        .list(&ListParams::default())
        .await
        .expect("list")
        .metadata
        .resource_version
        .unwrap_or_default();
    for i in 0..5 {
        api.create(&pp, &cm(&format!("c{i}")))
            .await
            .expect("create");
    }
    let stream = api
        .watch(&WatchParams::default().timeout(5), &old_rv)
        .await
        .expect("watch");
    let events: Vec<_> = stream.take(1).collect().await;
    match events.first() {
        Some(Ok(WatchEvent::Error(e))) => assert_eq!((e.code, e.reason.as_str()), (410, "Expired")),
        other => panic!("expected a 410 ERROR event, got {other:?}"),
    }

    // kube_runtime::watcher: after its list + watch, the connection drops while more changes
    // than the history holds happen; its re-watch gets 410, and it re-lists.
    let w = watcher(api.clone(), watcher::Config::default());
    tokio::pin!(w);
    let mut inits = 0;
    let mut saw_410 = false;
    loop {
        let next = tokio::time::timeout(Duration::from_secs(10), w.try_next())
            .await
            .expect("watcher progresses");
        match next {
            Ok(Some(watcher::Event::InitDone)) => {
                inits += 1;
                if inits == 2 {
                    break;
                }
                server.drop_watches();
                for i in 5..10 {
                    api.create(&pp, &cm(&format!("c{i}")))
                        .await
                        .expect("create");
                }
            }
            Ok(Some(_)) => {}
            Ok(None) => panic!("watcher ended"),
            // The watcher surfaces the 410 once, then re-lists on the next poll.
            Err(watcher::Error::WatchError(s)) if s.code == 410 => saw_410 = true,
            Err(e) => panic!("watcher error {e:?}"),
        }
    }
    assert!(saw_410, "the re-watch got 410 Gone");
    assert_eq!(inits, 2, "the watcher re-listed after 410 Gone");
    // And the objects it then sees are all there.
    let mut names: Vec<String> = Vec::new();
    api.create(&pp, &cm("after")).await.expect("create");
    while let Some(ev) = tokio::time::timeout(Duration::from_secs(10), w.try_next())
        .await
        .expect("progress")
        .expect("ok")
    {
        if let watcher::Event::Apply(o) = ev {
            names.push(o.metadata.name.unwrap_or_default());
            break;
        }
    }
    assert_eq!(names, ["after"]);
}

#[tokio::test]
async fn streaming_list_watcher_gets_initial_events_then_changes() {
    let server = start().await;
    let api: Api<ConfigMap> = Api::namespaced(client(&server), "default");
    api.create(&PostParams::default(), &cm("one"))
        .await
        .expect("create");
    // sendInitialEvents=true: ADDED for what exists, then a BOOKMARK marked
    // `k8s.io/initial-events-end`, which the watcher turns into InitDone.
    let w = watcher(api.clone(), watcher::Config::default().streaming_lists());
    tokio::pin!(w);
    let mut seen = Vec::new();
    loop {
        match tokio::time::timeout(Duration::from_secs(10), w.try_next())
            .await
            .expect("progress")
            .expect("ok")
        {
            Some(watcher::Event::InitApply(o)) => {
                seen.push(format!("init {}", o.metadata.name.unwrap_or_default()))
            }
            Some(watcher::Event::InitDone) => {
                seen.push("done".to_string());
                api.create(&PostParams::default(), &cm("two"))
                    .await
                    .expect("create");
            }
            Some(watcher::Event::Apply(o)) => {
                seen.push(format!("apply {}", o.metadata.name.unwrap_or_default()));
                break;
            }
            Some(_) => {}
            None => panic!("ended"),
        }
    }
    assert_eq!(seen, ["init one", "done", "apply two"]);
}
