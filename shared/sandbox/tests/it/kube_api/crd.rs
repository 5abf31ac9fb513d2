use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::api::{
    Api, ApiResource, DynamicObject, GroupVersionKind, Patch, PatchParams, PostParams,
};
use serde_json::json;

use super::{api_code, client, start};

pub fn nodepool_crd() -> CustomResourceDefinition {
    serde_json::from_value(json!({
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {"name": "nodepools.karpenter.sh"},
        "spec": {
            "group": "karpenter.sh",
            "scope": "Cluster",
            "names": {"plural": "nodepools", "singular": "nodepool", "kind": "NodePool", "listKind": "NodePoolList", "categories": ["karpenter"]},
            "versions": [{
                "name": "v1", "served": true, "storage": true,
                "schema": {"openAPIV3Schema": {"type": "object", "x-kubernetes-preserve-unknown-fields": true}},
                "subresources": {"status": {}},
                "additionalPrinterColumns": [{"name": "NodeClass", "type": "string", "jsonPath": ".spec.template.spec.nodeClassRef.name"}],
            }],
        },
    }))
    .expect("crd")
}

pub fn nodepool_resource() -> ApiResource {
    ApiResource::from_gvk_with_plural(
        &GroupVersionKind::gvk("karpenter.sh", "v1", "NodePool"),
        "nodepools",
    )
}

#[tokio::test]
async fn custom_resources_are_served_once_their_crd_exists() {
    let server = start().await;
    let c = client(&server);
    let ar = nodepool_resource();
    let pools: Api<DynamicObject> = Api::all_with(c.clone(), &ar);
    let before = pools
        .list(&Default::default())
        .await
        .expect_err("not served yet");
    assert_eq!(api_code(&before), Some(404));

    let crds: Api<CustomResourceDefinition> = Api::all(c.clone());
    let crd = crds
        .create(&PostParams::default(), &nodepool_crd())
        .await
        .expect("crd");
    let established = crd.status.and_then(|s| s.conditions).unwrap_or_default();
    assert!(
        established
            .iter()
            .any(|c| c.type_ == "Established" && c.status == "True")
    );

    let mut pool = DynamicObject::new("default", &ar);
    pool.data = json!({"spec": {"template": {"spec": {"nodeClassRef": {"group": "karpenter.k8s.aws", "kind": "EC2NodeClass", "name": "default"}}}, "limits": {"cpu": "100"}}, "status": {"ignored": true}});
    let created = pools
        .create(&PostParams::default(), &pool)
        .await
        .expect("create nodepool");
    assert_eq!(created.metadata.generation, Some(1));
    assert!(
        created.data.get("status").is_none(),
        "status is a subresource: dropped on create"
    );

    let got = pools.get("default").await.expect("get");
    assert_eq!(got.data["spec"]["limits"]["cpu"], "100");
    let patched = pools
        .patch(
            "default",
            &PatchParams::default(),
            &Patch::Merge(&json!({"spec": {"limits": {"cpu": "200"}}})),
        )
        .await
        .expect("merge patch");
    assert_eq!(patched.data["spec"]["limits"]["cpu"], "200");
    assert_eq!(patched.metadata.generation, Some(2));
    let smp = pools
        .patch(
            "default",
            &PatchParams::default(),
            &Patch::Strategic(&json!({"spec": {}})),
        )
        .await
        .expect_err("SMP on a CR");
    assert_eq!(api_code(&smp), Some(415));
    let st = pools
        .patch_status(
            "default",
            &PatchParams::default(),
            &Patch::Merge(&json!({"status": {"resources": {"cpu": "4"}}})),
        )
        .await
        .expect("status");
    assert_eq!(st.data["status"]["resources"]["cpu"], "4");
    assert_eq!(
        st.metadata.generation,
        Some(2),
        "status writes don't bump generation"
    );
    assert_eq!(
        pools
            .list(&Default::default())
            .await
            .expect("list")
            .items
            .len(),
        1
    );

    pools
        .delete("default", &Default::default())
        .await
        .expect("delete");
    assert!(pools.get_opt("default").await.expect("get").is_none());

    // Deleting the CRD stops serving the type.
    pools
        .create(&PostParams::default(), &pool)
        .await
        .expect("again");
    crds.delete("nodepools.karpenter.sh", &Default::default())
        .await
        .expect("delete crd");
    assert_eq!(
        api_code(&pools.list(&Default::default()).await.expect_err("gone")),
        Some(404)
    );
}

#[tokio::test]
async fn crd_name_must_be_plural_dot_group() {
    let server = start().await;
    let crds: Api<CustomResourceDefinition> = Api::all(client(&server));
    let mut bad = nodepool_crd();
    bad.metadata.name = Some("wrong".into());
    let err = crds
        .create(&PostParams::default(), &bad)
        .await
        .expect_err("invalid");
    assert_eq!(api_code(&err), Some(422));
}

/// The vendored Karpenter CRDs install through the API, idempotently, and then serve
/// NodePools as a cluster with Karpenter would.
#[tokio::test]
async fn karpenter_crds_from_infra_install_once_and_serve_nodepools() {
    let server = start().await;
    let c = client(&server);
    let dir = std::path::Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/../../infra/crds"));
    let mut created = sandbox::crds::install_crds(&c, dir)
        .await
        .expect("installs");
    created.sort();
    assert_eq!(
        created,
        [
            "awsnodetemplates.karpenter.k8s.aws",
            "ec2nodeclasses.karpenter.k8s.aws",
            "nodeclaims.karpenter.sh",
            "nodepools.karpenter.sh",
            "provisioners.karpenter.sh",
        ]
    );
    let again = sandbox::crds::install_crds(&c, dir)
        .await
        .expect("idempotent");
    assert!(again.is_empty(), "nothing created twice: {again:?}");

    let pools: Api<DynamicObject> = Api::all_with(c.clone(), &nodepool_resource());
    let pool: DynamicObject = serde_json::from_value(json!({
        "apiVersion": "karpenter.sh/v1", "kind": "NodePool", "metadata": {"name": "default"},
        "spec": {"template": {"spec": {"requirements": [], "nodeClassRef": {"group": "karpenter.k8s.aws", "kind": "EC2NodeClass", "name": "default"}}}},
    }))
    .expect("nodepool");
    pools
        .create(&PostParams::default(), &pool)
        .await
        .expect("NodePool served");
    assert_eq!(
        pools
            .list(&Default::default())
            .await
            .expect("list")
            .items
            .len(),
        1
    );
}
