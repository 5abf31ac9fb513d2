//! The same client code against the emulator and, when asked, against a real cluster.
//!
//! Run against a real cluster (kind, EKS, ...) with:
//!
//! ```sh
//! KUBECONFIG=$HOME/.kube/config cargo test -p sandbox --test it -- --ignored real_cluster
//! ```
//!
//! It works in the `default` namespace on ConfigMaps named `nodeless-sandbox-check-*` and
//! deletes them at the end.
use std::time::Duration;

use futures::TryStreamExt;
use k8s_openapi::api::core::v1::ConfigMap;
use kube::api::{
    Api, DeleteParams, ListParams, Patch, PatchParams, PostParams, WatchEvent, WatchParams,
};
use serde_json::json;

use super::{client, start};

/// Create, list by label, conflict, every patch type, watch and delete: the behaviours the
/// product relies on, in a form both servers must answer identically.
async fn configmap_lifecycle(client: kube::Client) {
    let api: Api<ConfigMap> = Api::namespaced(client, "default");
    let name = format!("nodeless-sandbox-check-{}", std::process::id());
    let _ = api.delete(&name, &DeleteParams::default()).await;
    let cm: ConfigMap = serde_json::from_value(json!({"metadata": {"name": name, "labels": {"nodeless.sh/check": "yes"}}, "data": {"a": "1"}})).expect("cm");
    let created = api
        .create(&PostParams::default(), &cm)
        .await
        .expect("create");
    let listed = api
        .list(&ListParams::default().labels("nodeless.sh/check=yes"))
        .await
        .expect("list");
    assert!(
        listed
            .items
            .iter()
            .any(|c| c.metadata.name.as_deref() == Some(name.as_str()))
    );

    let stream = api
        .watch(
            &WatchParams::default()
                .fields(&format!("metadata.name={name}"))
                .timeout(5),
            created.metadata.resource_version.as_deref().unwrap_or("0"),
        )
        .await
        .expect("watch");
    tokio::pin!(stream);

    let patched = api
        .patch(
            &name,
            &PatchParams::default(),
            &Patch::Merge(&json!({"data": {"b": "2"}})),
        )
        .await
        .expect("merge");
    let smp = api
        .patch(
            &name,
            &PatchParams::default(),
            &Patch::Strategic(&json!({"data": {"c": "3"}})),
        )
        .await
        .expect("strategic");
    assert_eq!(smp.data.as_ref().map(|d| d.len()), Some(3));
    let mut stale = patched.clone();
    stale.data = Some([("x".to_string(), "y".to_string())].into());
    let err = api
        .replace(&name, &PostParams::default(), &stale)
        .await
        .expect_err("stale");
    assert!(
        matches!(&err, kube::Error::Api(s) if s.code == 409),
        "{err:?}"
    );
    let err = api
        .patch(
            &name,
            &PatchParams::apply("nodeless-check"),
            &Patch::Apply(&json!({})),
        )
        .await;
    // A real server accepts server-side apply; the emulator refuses it (the product never uses it).
    if let Err(e) = err {
        assert!(
            matches!(&e, kube::Error::Api(s) if s.code == 415 || s.code == 400),
            "{e:?}"
        );
    }

    let mut modified = 0;
    while modified < 2 {
        let ev = tokio::time::timeout(Duration::from_secs(5), stream.try_next())
            .await
            .expect("event in time")
            .expect("watch ok");
        match ev {
            Some(WatchEvent::Modified(_)) => modified += 1,
            Some(_) => {}
            None => break,
        }
    }
    assert_eq!(modified, 2, "the watch saw both patches");
    api.delete(&name, &DeleteParams::default())
        .await
        .expect("delete");
    assert!(api.get_opt(&name).await.expect("get").is_none());
}

#[tokio::test]
async fn client_code_against_the_emulator() {
    let server = start().await;
    configmap_lifecycle(client(&server)).await;
}

#[tokio::test]
#[ignore = "needs a real cluster: KUBECONFIG=... cargo test -p sandbox --test it -- --ignored real_cluster"]
async fn real_cluster_client_code() {
    super::init_tracing();
    let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
    let client = kube::Client::try_default()
        .await
        .expect("KUBECONFIG points at a cluster");
    configmap_lifecycle(client).await;
}
