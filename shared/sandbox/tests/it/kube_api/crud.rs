use k8s_openapi::api::core::v1::ConfigMap;
use kube::api::{Api, DeleteParams, ListParams, PostParams};
use serde_json::json;

use super::{api_code, client, start};

fn cm(name: &str) -> ConfigMap {
    serde_json::from_value(
        json!({"metadata": {"name": name, "labels": {"app": "x"}}, "data": {"k": "v"}}),
    )
    .expect("cm")
}

#[tokio::test]
async fn create_get_list_page_and_not_found() {
    let server = start().await;
    let api: Api<ConfigMap> = Api::namespaced(client(&server), "default");
    let pp = PostParams::default();
    for i in 0..7 {
        let created = api
            .create(&pp, &cm(&format!("cm-{i}")))
            .await
            .expect("create");
        let meta = &created.metadata;
        assert!(
            meta.uid.is_some()
                && meta.creation_timestamp.is_some()
                && meta.resource_version.is_some()
        );
    }
    let dup = api.create(&pp, &cm("cm-0")).await.expect_err("duplicate");
    match &dup {
        kube::Error::Api(s) => assert_eq!((s.code, s.reason.as_str()), (409, "AlreadyExists")),
        other => panic!("unexpected {other:?}"),
    }
    let got = api.get("cm-3").await.expect("get");
    assert_eq!(
        got.data
            .as_ref()
            .and_then(|d| d.get("k"))
            .map(String::as_str),
        Some("v")
    );
    let missing = api.get("nope").await.expect_err("404");
    assert_eq!(api_code(&missing), Some(404));

    // Paging: limit 3 → 3 + 3 + 1, one list resourceVersion across pages.
    let mut names = Vec::new();
    let mut lp = ListParams::default().limit(3);
    let mut rvs = Vec::new();
    loop {
        let page = api.list(&lp).await.expect("page");
        rvs.push(page.metadata.resource_version.clone());
        names.extend(page.items.iter().filter_map(|c| c.metadata.name.clone()));
        match page.metadata.continue_ {
            Some(c) if !c.is_empty() => lp = ListParams::default().limit(3).continue_token(&c),
            _ => break,
        }
    }
    assert_eq!(names.len(), 7);
    assert_eq!(rvs.len(), 3);
    assert!(
        rvs.windows(2).all(|w| w[0] == w[1]),
        "list RV constant across pages: {rvs:?}"
    );
    let bad = api
        .list(&ListParams::default().continue_token("garbage!"))
        .await
        .expect_err("bad continue");
    assert_eq!(api_code(&bad), Some(400));

    // generateName
    let generated: ConfigMap =
        serde_json::from_value(json!({"metadata": {"generateName": "gen-"}})).expect("cm");
    let made = api.create(&pp, &generated).await.expect("generateName");
    assert!(
        made.metadata
            .name
            .as_deref()
            .is_some_and(|n| n.starts_with("gen-") && n.len() == 9)
    );

    // A namespace that does not exist → 404.
    let elsewhere: Api<ConfigMap> = Api::namespaced(client(&server), "missing-ns");
    assert_eq!(
        api_code(&elsewhere.create(&pp, &cm("a")).await.expect_err("no ns")),
        Some(404)
    );

    api.delete("cm-0", &DeleteParams::default())
        .await
        .expect("delete");
    assert_eq!(
        api_code(&api.get("cm-0").await.expect_err("gone")),
        Some(404)
    );
}

#[tokio::test]
async fn stale_resource_version_conflicts() {
    let server = start().await;
    let api: Api<ConfigMap> = Api::namespaced(client(&server), "default");
    let first = api
        .create(&PostParams::default(), &cm("aws-auth"))
        .await
        .expect("create");
    let mut a = first.clone();
    a.data = Some([("mapRoles".to_string(), "a".to_string())].into());
    let updated = api
        .replace("aws-auth", &PostParams::default(), &a)
        .await
        .expect("first write wins");
    assert_ne!(
        updated.metadata.resource_version,
        first.metadata.resource_version
    );

    let mut b = first.clone();
    b.data = Some([("mapRoles".to_string(), "b".to_string())].into());
    let err = api
        .replace("aws-auth", &PostParams::default(), &b)
        .await
        .expect_err("stale RV");
    match &err {
        kube::Error::Api(s) => {
            assert_eq!((s.code, s.reason.as_str()), (409, "Conflict"));
            assert!(
                s.message.contains("the object has been modified"),
                "{}",
                s.message
            );
        }
        other => panic!("unexpected {other:?}"),
    }
    // A merge patch carrying the stale RV is a precondition too.
    let stale = json!({"metadata": {"resourceVersion": first.metadata.resource_version}, "data": {"mapRoles": "c"}});
    let err = api
        .patch(
            "aws-auth",
            &kube::api::PatchParams::default(),
            &kube::api::Patch::Merge(&stale),
        )
        .await
        .expect_err("stale patch");
    assert_eq!(api_code(&err), Some(409));
    // Without an RV the update is unconditional, and a no-op write keeps the RV.
    b.metadata.resource_version = None;
    let forced = api
        .replace("aws-auth", &PostParams::default(), &b)
        .await
        .expect("unconditional");
    let again = api
        .replace("aws-auth", &PostParams::default(), &b)
        .await
        .expect("no-op");
    assert_eq!(
        forced.metadata.resource_version,
        again.metadata.resource_version
    );
}

#[tokio::test]
async fn lease_takeover_races_resolve_by_resource_version() {
    use k8s_openapi::api::coordination::v1::Lease;
    let server = start().await;
    let api: Api<Lease> = Api::namespaced(client(&server), "kube-system");
    let lease: Lease = serde_json::from_value(json!({"metadata": {"name": "nodeless-provisioner"}, "spec": {"holderIdentity": "a", "leaseDurationSeconds": 60}})).expect("lease");
    let held = api
        .create(&PostParams::default(), &lease)
        .await
        .expect("create");
    // Two invocations read the same lease and both try to take it: one wins, one gets 409.
    let mut b = held.clone();
    let mut c = held.clone();
    b.spec.get_or_insert_with(Default::default).holder_identity = Some("b".into());
    c.spec.get_or_insert_with(Default::default).holder_identity = Some("c".into());
    api.replace("nodeless-provisioner", &PostParams::default(), &b)
        .await
        .expect("b wins");
    let lost = api
        .replace("nodeless-provisioner", &PostParams::default(), &c)
        .await
        .expect_err("c loses");
    assert_eq!(api_code(&lost), Some(409));
    let now = api.get("nodeless-provisioner").await.expect("get");
    assert_eq!(
        now.spec.and_then(|s| s.holder_identity).as_deref(),
        Some("b")
    );
}

/// More objects than the watcher's 500-item pages, and the metadata-only form.
#[tokio::test]
async fn watcher_pages_through_more_than_500_objects() {
    use futures::TryStreamExt;
    use kube::runtime::{WatchStreamExt, watcher};
    let server = start().await;
    for i in 0..1201 {
        server
            .objects()
            .create(&cm(&format!("bulk-{i:04}")))
            .expect("create in-process");
    }
    let api: Api<ConfigMap> = Api::namespaced(client(&server), "default");
    let mut seen = 0;
    let stream = watcher(api.clone(), watcher::Config::default());
    tokio::pin!(stream);
    while let Some(ev) = stream.try_next().await.expect("watch") {
        match ev {
            watcher::Event::InitApply(_) => seen += 1,
            watcher::Event::InitDone => break,
            _ => {}
        }
    }
    assert_eq!(seen, 1201);

    let meta = api
        .list_metadata(&ListParams::default().limit(1000))
        .await
        .expect("metadata list");
    assert_eq!(meta.items.len(), 1000);
    assert!(meta.metadata.continue_.is_some());
    let one = api.get_metadata("bulk-0042").await.expect("metadata get");
    assert_eq!(one.metadata.name.as_deref(), Some("bulk-0042"));
    let partial: Api<kube::core::PartialObjectMeta<ConfigMap>> =
        Api::namespaced(client(&server), "default");
    let metas = watcher(partial, watcher::Config::default())
        .default_backoff()
        .applied_objects();
    tokio::pin!(metas);
    let first = metas
        .try_next()
        .await
        .expect("metadata watch")
        .expect("an object");
    assert!(first.metadata.name.is_some_and(|n| n.starts_with("bulk-")));
}
