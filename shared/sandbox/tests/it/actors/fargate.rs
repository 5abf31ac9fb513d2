//! The Fargate actor: pods a moto EKS Fargate profile selects run on their own
//! `fargate-ip-...` node; the scheduler places the others.
use std::collections::BTreeSet;

use k8s_openapi::api::core::v1::{Namespace, Node, Pod};
use kube::Api;
use kube::api::{DeleteParams, ListParams, PostParams};
use sandbox::actors::ActorsConfig;
use sandbox::actors::disruption::DisruptionConfig;
use sandbox::actors::fargate::FargateConfig;
use sandbox::actors::scheduler::SchedulerConfig;
use sandbox::aws::{ClusterSpec, MotoServer};
use serde_json::json;

use super::{
    client, create_node, create_pod, is_running_and_ready, node, node_of, pod, start, wait_for,
    wait_pod,
};

// Fields set one by one: other actors' fields stay at their default whatever they are.
#[allow(clippy::field_reassign_with_default)]
#[tokio::test]
async fn a_fargate_profile_pod_gets_its_own_fargate_node_and_others_do_not() {
    let server = start().await;
    let moto = MotoServer::shared()
        .await
        .expect("moto starts (run scripts/setup-venv.sh first)");
    let account = moto.new_account();
    let seeded = moto
        .seed_cluster(
            &account,
            &ClusterSpec::new("fg", "1.31").with_api(server.url(), server.ca_pem()),
        )
        .await
        .expect("seed");
    let subnets: Vec<String> = seeded.subnets.iter().map(|s| s.subnet_id.clone()).collect();
    let zones: BTreeSet<String> = seeded
        .subnets
        .iter()
        .map(|s| s.availability_zone.clone())
        .collect();
    moto.client()
        .rest_json(
            &account,
            "eks",
            "POST",
            "/clusters/fg/fargate-profiles",
            Some(&json!({
                "fargateProfileName": "system",
                "podExecutionRoleArn": seeded.fargate_pod_execution_role_arn,
                "subnets": subnets,
                "selectors": [{"namespace": "kube-system"},
                              {"namespace": "apps", "labels": {"compute": "far*"}}],
            })),
        )
        .await
        .expect("CreateFargateProfile");

    let mut config = ActorsConfig::default();
    config.scheduler = Some(SchedulerConfig::default());
    config.disruption = Some(DisruptionConfig::default());
    config.fargate = Some(FargateConfig::from_moto(
        moto.client().clone(),
        account.clone(),
        "fg",
    ));
    let actors = config.start_in_cluster(server.store());
    let c = client(&server);
    let ns: Namespace = serde_json::from_value(json!({"metadata": {"name": "apps"}})).expect("ns");
    Api::<Namespace>::all(c.clone())
        .create(&PostParams::default(), &ns)
        .await
        .expect("namespace");
    create_node(&c, node("ip-10-0-1-1", "4", "8Gi", json!({}), json!([]))).await;

    create_pod(
        &c,
        pod(
            "kube-system",
            "coredns-1",
            "100m",
            json!({"k8s-app": "kube-dns"}),
            json!({}),
        ),
    )
    .await;
    create_pod(
        &c,
        pod(
            "apps",
            "batch",
            "1",
            json!({"compute": "fargate"}),
            json!({}),
        ),
    )
    .await;
    create_pod(
        &c,
        pod("apps", "web", "100m", json!({"app": "web"}), json!({})),
    )
    .await;
    create_pod(&c, pod("default", "plain", "100m", json!({}), json!({}))).await;

    let coredns = wait_pod(&c, "kube-system", "coredns-1", is_running_and_ready).await;
    let batch = wait_pod(&c, "apps", "batch", is_running_and_ready).await;
    let web = wait_pod(&c, "apps", "web", is_running_and_ready).await;
    let plain = wait_pod(&c, "default", "plain", is_running_and_ready).await;
    assert_eq!(node_of(&web), Some("ip-10-0-1-1"));
    assert_eq!(node_of(&plain), Some("ip-10-0-1-1"));

    let nodes = Api::<Node>::all(c.clone());
    for p in [&coredns, &batch] {
        let name = node_of(p).expect("bound");
        assert!(name.starts_with("fargate-ip-10-"), "{name}");
        assert!(name.ends_with(".us-east-1.compute.internal"), "{name}");
        let spec = p.spec.as_ref().expect("spec");
        assert_eq!(spec.scheduler_name.as_deref(), Some("fargate-scheduler"));
        let ann = p.metadata.annotations.clone().unwrap_or_default();
        assert_eq!(
            ann.get("eks.amazonaws.com/fargate-profile")
                .map(String::as_str),
            Some("system")
        );
        let n = nodes.get(name).await.expect("fargate node");
        let labels = n.metadata.labels.clone().unwrap_or_default();
        assert_eq!(
            labels
                .get("eks.amazonaws.com/compute-type")
                .map(String::as_str),
            Some("fargate")
        );
        assert!(
            zones.contains(&labels["topology.kubernetes.io/zone"]),
            "{labels:?}"
        );
        let taints = n
            .spec
            .as_ref()
            .and_then(|s| s.taints.clone())
            .unwrap_or_default();
        assert_eq!(taints.len(), 1);
        assert_eq!(
            (
                taints[0].key.as_str(),
                taints[0].value.as_deref(),
                taints[0].effect.as_str()
            ),
            (
                "eks.amazonaws.com/compute-type",
                Some("fargate"),
                "NoSchedule"
            )
        );
        let provider = n
            .spec
            .as_ref()
            .and_then(|s| s.provider_id.clone())
            .unwrap_or_default();
        assert!(provider.starts_with("aws:///us-east-1"), "{provider}");
    }
    assert_ne!(node_of(&coredns), node_of(&batch), "one node per pod");
    // Sized to the pod: 1 vCPU + 64Mi (+256Mi Fargate overhead) → 1 vCPU 2 GB.
    let batch_ann = batch.metadata.annotations.clone().unwrap_or_default();
    assert_eq!(
        batch_ann.get("CapacityProvisioned").map(String::as_str),
        Some("1vCPU 2GB")
    );
    let n = nodes
        .get(node_of(&batch).expect("bound"))
        .await
        .expect("node");
    let alloc = n.status.and_then(|s| s.allocatable).unwrap_or_default();
    assert_eq!(alloc["cpu"].0, "1000m");
    assert_eq!(alloc["memory"].0, "2097152Ki");
    let fargate = ListParams::default().labels("eks.amazonaws.com/compute-type=fargate");
    assert_eq!(nodes.list(&fargate).await.expect("list").items.len(), 2);

    // The pod goes away: so does its node.
    Api::<Pod>::namespaced(c.clone(), "kube-system")
        .delete("coredns-1", &DeleteParams::default())
        .await
        .expect("delete");
    let gone = node_of(&coredns).expect("bound").to_string();
    wait_for(
        "the fargate node to go",
        || async { Some(nodes.list(&fargate).await.ok()?.items) },
        |items: &Vec<Node>| {
            items.len() == 1
                && items
                    .iter()
                    .all(|n| n.metadata.name.as_deref() != Some(&gone))
        },
    )
    .await;
    for a in actors {
        a.stop().await;
    }
}
