use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::api::{Api, PostParams};
use kube::discovery::{Discovery, Scope};

use super::crd::nodepool_crd;
use super::{client, start};

#[tokio::test]
async fn kube_discovery_sees_builtins_and_crds() {
    let server = start().await;
    let c = client(&server);
    Api::<CustomResourceDefinition>::all(c.clone())
        .create(&PostParams::default(), &nodepool_crd())
        .await
        .expect("crd");
    let discovery = Discovery::new(c.clone()).run().await.expect("discovery");
    for g in [
        "",
        "apps",
        "policy",
        "coordination.k8s.io",
        "apiextensions.k8s.io",
        "karpenter.sh",
    ] {
        assert!(discovery.has_group(g), "group {g:?} discovered");
    }
    let (pods, caps) = discovery
        .get("")
        .and_then(|g| {
            g.recommended_resources()
                .into_iter()
                .find(|(r, _)| r.plural == "pods")
        })
        .expect("pods");
    assert_eq!(pods.kind, "Pod");
    assert_eq!(caps.scope, Scope::Namespaced);
    assert!(
        caps.subresources
            .iter()
            .any(|(r, _)| r.plural == "eviction"),
        "pods/eviction listed: {:?}",
        caps.subresources
    );
    let (pool, caps) = discovery
        .get("karpenter.sh")
        .and_then(|g| g.recommended_kind("NodePool"))
        .expect("NodePool");
    assert_eq!(
        (pool.plural.as_str(), caps.scope),
        ("nodepools", Scope::Cluster)
    );
    let info = c.apiserver_version().await.expect("version");
    assert_eq!(info.major, "1");
}
