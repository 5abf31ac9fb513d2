//! The node actor against moto: instances tagged for the cluster register as Nodes the way
//! kubelet would from their user data (AL2023 nodeadm, AL2 bootstrap.sh, Bottlerocket), and
//! go away when terminated; forbidden labels keep a node out.
//!
//! Needs the venv (`scripts/setup-venv.sh`). Each test has its own moto account and its
//! own Kubernetes API emulator.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use base64::Engine as _;
use k8s_openapi::api::core::v1::Node;
use sandbox::actors::ActorHandle;
use sandbox::actors::node::{self, JoinFailureReason, JoinFailures, NodeActorConfig};
use sandbox::actors::userdata;
use sandbox::aws::{AwsAccount, MotoServer, xml_text};
use sandbox::kube::{KubeApiServer, KubeApiServerConfig, KubeApiServerHandle};

const CLUSTER: &str = "node-actor";
const AMI: &str = "ami-12c6146b";
const WAIT: Duration = Duration::from_secs(30);

struct Fixture {
    kube: KubeApiServerHandle,
    moto: &'static MotoServer,
    account: AwsAccount,
    failures: JoinFailures,
    actor: Option<ActorHandle>,
}

async fn start() -> Fixture {
    let moto = MotoServer::shared()
        .await
        .expect("moto starts (run scripts/setup-venv.sh first)");
    let kube = KubeApiServer::start(KubeApiServerConfig::default())
        .await
        .expect("kube emulator");
    let account = moto.new_account();
    let config = NodeActorConfig::new(moto.client().clone(), account.clone(), CLUSTER)
        .with_poll_interval(Duration::from_millis(100))
        .with_registration_delay(Duration::ZERO);
    let failures = config.join_failures.clone();
    let actor = node::start(kube.store().clone(), config);
    Fixture {
        kube,
        moto,
        account,
        failures,
        actor: Some(actor),
    }
}

fn cluster_tags() -> Vec<(&'static str, &'static str)> {
    vec![
        ("kubernetes.io/cluster/node-actor", "owned"),
        ("karpenter.sh/nodepool", "default"),
        ("karpenter.sh/nodeclaim", "default-abcde"),
    ]
}

impl Fixture {
    async fn ec2(&self, action: &str, params: &[(&str, &str)]) -> String {
        self.moto
            .client()
            .ec2(&self.account, action, params)
            .await
            .unwrap_or_else(|e| panic!("{action}: {e}"))
    }

    /// RunInstances with this user data and tags: (instance id, private DNS name).
    async fn run_instance(
        &self,
        instance_type: &str,
        user_data: &str,
        tags: &[(&str, &str)],
    ) -> (String, String) {
        let encoded = base64::engine::general_purpose::STANDARD.encode(user_data);
        let mut params: Vec<(String, String)> = vec![
            ("ImageId".into(), AMI.into()),
            ("InstanceType".into(), instance_type.into()),
            ("MinCount".into(), "1".into()),
            ("MaxCount".into(), "1".into()),
        ];
        if !user_data.is_empty() {
            params.push(("UserData".into(), encoded));
        }
        params.extend(tag_params("TagSpecification.1", tags));
        let params: Vec<(&str, &str)> = params
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect();
        let xml = self.ec2("RunInstances", &params).await;
        (
            xml_text(&xml, "instanceId").expect("instanceId"),
            xml_text(&xml, "privateDnsName").expect("privateDnsName"),
        )
    }

    async fn terminate(&self, instance_id: &str) {
        self.ec2("TerminateInstances", &[("InstanceId.1", instance_id)])
            .await;
    }

    fn node(&self, name: &str) -> Option<Node> {
        self.kube.objects().get::<Node>(None, name).ok()
    }

    async fn wait_node(&self, name: &str) -> Node {
        let deadline = Instant::now() + WAIT;
        loop {
            if let Some(node) = self.node(name) {
                return node;
            }
            assert!(
                Instant::now() < deadline,
                "node {name} did not register in {WAIT:?}; join failures: {:?}",
                self.failures.list()
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    async fn wait_gone(&self, name: &str) {
        let deadline = Instant::now() + WAIT;
        while self.node(name).is_some() {
            assert!(Instant::now() < deadline, "node {name} still there");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    async fn wait_failure(&self, instance_id: &str) -> JoinFailureReason {
        let deadline = Instant::now() + WAIT;
        loop {
            if let Some(f) = self.failures.for_instance(instance_id) {
                return f.reason;
            }
            assert!(
                Instant::now() < deadline,
                "no join failure for {instance_id}"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    async fn stop(mut self) {
        if let Some(actor) = self.actor.take() {
            actor.stop().await;
        }
        self.kube.shutdown().await;
    }
}

fn tag_params(prefix: &str, tags: &[(&str, &str)]) -> Vec<(String, String)> {
    let mut out = vec![(format!("{prefix}.ResourceType"), "instance".to_owned())];
    for (i, (k, v)) in tags.iter().enumerate() {
        out.push((format!("{prefix}.Tag.{}.Key", i + 1), (*k).to_owned()));
        out.push((format!("{prefix}.Tag.{}.Value", i + 1), (*v).to_owned()));
    }
    out
}

fn labels(node: &Node) -> BTreeMap<String, String> {
    node.metadata.labels.clone().unwrap_or_default()
}

fn quantity(node: &Node, which: &str, resource: &str) -> String {
    let status = node.status.as_ref().expect("status");
    let list = if which == "capacity" {
        status.capacity.as_ref()
    } else {
        status.allocatable.as_ref()
    };
    list.and_then(|l| l.get(resource))
        .map(|q| q.0.clone())
        .unwrap_or_else(|| panic!("{which} {resource} missing"))
}

fn taints(node: &Node) -> Vec<(String, Option<String>, String)> {
    node.spec
        .as_ref()
        .and_then(|s| s.taints.clone())
        .unwrap_or_default()
        .into_iter()
        .map(|t| (t.key, t.value, t.effect))
        .collect()
}

fn ready(node: &Node) -> Option<String> {
    node.status
        .as_ref()?
        .conditions
        .as_ref()?
        .iter()
        .find(|c| c.type_ == "Ready")
        .map(|c| c.status.clone())
}

fn al2023(labels: &str, taints: &str, max_pods: Option<u32>) -> String {
    let max_pods = max_pods.map_or(String::new(), |m| format!("      maxPods: {m}\n"));
    let kubelet = format!(
        "    config:\n      clusterDNS:\n      - 10.100.0.10\n{max_pods}    flags:\n    - --node-labels=\"{labels}\"\n    - --register-with-taints=\"{taints}\"\n"
    );
    userdata::samples::karpenter_al2023("https://127.0.0.1:6443", CLUSTER, &kubelet, &[])
}

#[tokio::test]
async fn an_al2023_instance_registers_a_ready_node_and_leaves_when_terminated() {
    let fx = start().await;
    let user_data = al2023(
        "karpenter.k8s.aws/ec2nodeclass=default,karpenter.sh/capacity-type=on-demand,karpenter.sh/nodepool=default,team=payments",
        "karpenter.sh/unregistered:NoExecute,dedicated=payments:NoSchedule",
        Some(110),
    );
    let (id, dns) = fx
        .run_instance("m5.large", &user_data, &cluster_tags())
        .await;
    let node = fx.wait_node(&dns).await;

    let zone = labels(&node)["topology.kubernetes.io/zone"].clone();
    assert!(zone.starts_with("us-east-1"), "{zone}");
    assert!(
        dns.starts_with("ip-") && dns.ends_with(".ec2.internal"),
        "{dns}"
    );
    assert_eq!(
        node.spec.as_ref().and_then(|s| s.provider_id.clone()),
        Some(format!("aws:///{zone}/{id}"))
    );
    let l = labels(&node);
    for (k, v) in [
        ("kubernetes.io/hostname", dns.as_str()),
        ("kubernetes.io/arch", "amd64"),
        ("kubernetes.io/os", "linux"),
        ("node.kubernetes.io/instance-type", "m5.large"),
        ("topology.kubernetes.io/region", "us-east-1"),
        ("karpenter.sh/nodepool", "default"),
        ("karpenter.sh/capacity-type", "on-demand"),
        ("team", "payments"),
    ] {
        assert_eq!(l.get(k).map(String::as_str), Some(v), "label {k}: {l:?}");
    }
    assert_eq!(
        taints(&node),
        [
            (
                "karpenter.sh/unregistered".to_owned(),
                None,
                "NoExecute".to_owned()
            ),
            (
                "dedicated".to_owned(),
                Some("payments".to_owned()),
                "NoSchedule".to_owned()
            ),
        ]
    );
    // m5.large: 2 vCPU, 8 GiB less 7.5% for the hypervisor; maxPods 110 from the NodeConfig.
    assert_eq!(quantity(&node, "capacity", "pods"), "110");
    assert_eq!(quantity(&node, "capacity", "cpu"), "2");
    assert_eq!(quantity(&node, "capacity", "memory"), "7577Mi");
    assert_eq!(quantity(&node, "allocatable", "pods"), "110");
    assert_eq!(quantity(&node, "allocatable", "cpu"), "1930m");
    assert_eq!(
        quantity(&node, "allocatable", "memory"),
        format!("{}Mi", 7577 - (11 * 110 + 255) - 100)
    );
    assert_eq!(ready(&node).as_deref(), Some("True"));
    let info = node
        .status
        .as_ref()
        .and_then(|s| s.node_info.clone())
        .expect("nodeInfo");
    assert_eq!(info.architecture, "amd64");
    assert!(info.os_image.starts_with("Amazon Linux 2023"), "{info:?}");
    assert!(info.kubelet_version.starts_with("v1."), "{info:?}");
    assert!(info.system_uuid.starts_with("ec2"), "{info:?}");

    // What the product sees over HTTPS through the real client is the same Node.
    let client = fx.kube.kube_client().expect("client");
    let api: kube::Api<Node> = kube::Api::all(client);
    let over_http = api.get(&dns).await.expect("GET node");
    assert_eq!(over_http.spec, node.spec);

    fx.terminate(&id).await;
    fx.wait_gone(&dns).await;
    assert!(fx.failures.list().is_empty(), "{:?}", fx.failures.list());
    fx.stop().await;
}

#[tokio::test]
async fn an_al2_bootstrap_sh_instance_registers_with_its_kubelet_extra_args() {
    let fx = start().await;
    let bootstrap = userdata::samples::karpenter_al2_bootstrap(
        "https://127.0.0.1:6443",
        CLUSTER,
        "Y2EK",
        "10.100.0.10",
        r#"--node-labels="karpenter.sh/capacity-type=spot,karpenter.sh/nodepool=arm,node.kubernetes.io/lifecycle=spot" --register-with-taints="arch=arm64:NoSchedule" --max-pods=58"#,
    );
    let user_data = userdata::samples::mime(&[&bootstrap]);
    // An arm64 type: the architecture comes from the type.
    let (id, dns) = fx
        .run_instance("m6g.large", &user_data, &cluster_tags())
        .await;
    let node = fx.wait_node(&dns).await;
    let l = labels(&node);
    assert_eq!(l["kubernetes.io/arch"], "arm64");
    assert_eq!(l["node.kubernetes.io/instance-type"], "m6g.large");
    assert_eq!(l["karpenter.sh/nodepool"], "arm");
    assert_eq!(
        l["node.kubernetes.io/lifecycle"], "spot",
        "an allowed namespace"
    );
    assert_eq!(
        taints(&node),
        [(
            "arch".to_owned(),
            Some("arm64".to_owned()),
            "NoSchedule".to_owned()
        )]
    );
    assert_eq!(quantity(&node, "allocatable", "pods"), "58");
    let info = node.status.and_then(|s| s.node_info).expect("nodeInfo");
    assert_eq!(info.os_image, "Amazon Linux 2");
    assert!(
        node.spec
            .and_then(|s| s.provider_id)
            .is_some_and(|p| p.ends_with(&id))
    );

    fx.terminate(&id).await;
    fx.wait_gone(&dns).await;
    fx.stop().await;
}

#[tokio::test]
async fn a_bottlerocket_instance_registers_and_untagged_or_foreign_ones_do_not() {
    let fx = start().await;
    let user_data = format!(
        r#"[settings]
[settings.kubernetes]
api-server = 'https://127.0.0.1:6443'
cluster-certificate = 'Y2EK'
cluster-name = '{CLUSTER}'
cluster-dns-ip = '10.100.0.10'
max-pods = 17

[settings.kubernetes.node-labels]
'karpenter.sh/capacity-type' = 'on-demand'
'karpenter.sh/nodepool' = 'br'

[settings.kubernetes.node-taints]
'karpenter.sh/unregistered' = [':NoExecute']
gpu = ['true:NoSchedule', 'true:NoExecute']
"#
    );
    // Not for this cluster: no tags, or another cluster's.
    let (_, untagged) = fx
        .run_instance("t3.medium", &user_data, &[("Name", "web")])
        .await;
    let (_, foreign) = fx
        .run_instance(
            "t3.medium",
            &user_data,
            &[
                ("kubernetes.io/cluster/other", "owned"),
                ("karpenter.sh/nodepool", "default"),
            ],
        )
        .await;
    // Karpenter's tags alone are enough.
    let (id, dns) = fx
        .run_instance(
            "t3.medium",
            &user_data,
            &[
                ("karpenter.sh/nodepool", "br"),
                ("karpenter.sh/nodeclaim", "br-x1y2z"),
            ],
        )
        .await;
    let node = fx.wait_node(&dns).await;
    let l = labels(&node);
    assert_eq!(l["karpenter.sh/nodepool"], "br");
    assert_eq!(l["node.kubernetes.io/instance-type"], "t3.medium");
    // Bottlerocket settings are a map: taints come in key order.
    let mut got = taints(&node);
    got.sort();
    let t = |k: &str, v: Option<&str>, e: &str| (k.to_owned(), v.map(str::to_owned), e.to_owned());
    assert_eq!(
        got,
        [
            t("gpu", Some("true"), "NoExecute"),
            t("gpu", Some("true"), "NoSchedule"),
            t("karpenter.sh/unregistered", None, "NoExecute"),
        ]
    );
    assert_eq!(quantity(&node, "capacity", "pods"), "17");
    assert_eq!(quantity(&node, "allocatable", "pods"), "17");
    let info = node
        .status
        .as_ref()
        .and_then(|s| s.node_info.clone())
        .expect("info");
    assert!(info.os_image.starts_with("Bottlerocket"), "{info:?}");

    // A few more polls: the other two never join.
    tokio::time::sleep(Duration::from_millis(400)).await;
    assert!(fx.node(&untagged).is_none());
    assert!(fx.node(&foreign).is_none());
    let nodes = fx.kube.objects().list::<Node>(None).expect("list");
    assert_eq!(
        nodes.len(),
        1,
        "{:?}",
        nodes.iter().map(|n| &n.metadata.name).collect::<Vec<_>>()
    );

    fx.terminate(&id).await;
    fx.wait_gone(&dns).await;
    fx.stop().await;
}

#[tokio::test]
async fn a_forbidden_label_or_missing_bootstrap_keeps_the_node_out() {
    let fx = start().await;
    let forbidden = al2023(
        "karpenter.sh/nodepool=default,node-role.kubernetes.io/worker=true",
        "karpenter.sh/unregistered:NoExecute",
        None,
    );
    let (bad, bad_dns) = fx
        .run_instance("m5.large", &forbidden, &cluster_tags())
        .await;
    let (bare, bare_dns) = fx.run_instance("m5.large", "", &cluster_tags()).await;
    // A good one alongside still joins, with the ENI-based max pods (m5.large: 29).
    let (good, good_dns) = fx
        .run_instance(
            "m5.large",
            &al2023(
                "karpenter.sh/nodepool=default",
                "karpenter.sh/unregistered:NoExecute",
                None,
            ),
            &cluster_tags(),
        )
        .await;

    assert_eq!(
        fx.wait_failure(&bad).await,
        JoinFailureReason::ForbiddenLabels(vec!["node-role.kubernetes.io/worker".to_owned()])
    );
    assert_eq!(
        fx.wait_failure(&bare).await,
        JoinFailureReason::NoBootstrapConfig
    );
    let node = fx.wait_node(&good_dns).await;
    assert_eq!(quantity(&node, "allocatable", "pods"), "29");
    assert!(fx.node(&bad_dns).is_none());
    assert!(fx.node(&bare_dns).is_none());
    let failure = fx.failures.for_instance(&bad).expect("recorded");
    assert_eq!(failure.node_name, bad_dns);
    assert!(
        failure
            .reason
            .to_string()
            .contains("node-role.kubernetes.io/worker"),
        "{}",
        failure.reason
    );
    assert!(fx.failures.for_instance(&good).is_none());
    fx.stop().await;
}

#[tokio::test]
async fn a_create_fleet_instance_from_a_launch_template_registers() {
    let fx = start().await;
    let user_data = al2023(
        "karpenter.sh/nodepool=fleet,karpenter.sh/capacity-type=spot",
        "karpenter.sh/unregistered:NoExecute",
        Some(35),
    );
    let encoded = base64::engine::general_purpose::STANDARD.encode(&user_data);
    let xml = fx
        .ec2(
            "CreateLaunchTemplate",
            &[
                ("LaunchTemplateName", "karpenter.k8s.aws/123"),
                ("LaunchTemplateData.ImageId", AMI),
                ("LaunchTemplateData.UserData", &encoded),
            ],
        )
        .await;
    let template = xml_text(&xml, "launchTemplateId").expect("launchTemplateId");
    let mut params: Vec<(String, String)> = [
        ("Type", "instant"),
        ("TargetCapacitySpecification.TotalTargetCapacity", "1"),
        (
            "TargetCapacitySpecification.DefaultTargetCapacityType",
            "spot",
        ),
        (
            "LaunchTemplateConfigs.1.LaunchTemplateSpecification.LaunchTemplateId",
            template.as_str(),
        ),
        (
            "LaunchTemplateConfigs.1.LaunchTemplateSpecification.Version",
            "$Latest",
        ),
        (
            "LaunchTemplateConfigs.1.Overrides.1.InstanceType",
            "c5.large",
        ),
    ]
    .iter()
    .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
    .collect();
    params.extend(tag_params(
        "TagSpecification.1",
        &[
            ("karpenter.sh/nodepool", "fleet"),
            ("kubernetes.io/cluster/node-actor", "owned"),
        ],
    ));
    let params: Vec<(&str, &str)> = params
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    let xml = fx.ec2("CreateFleet", &params).await;
    let ids = &xml[xml.find("<instanceIds>").expect("instanceIds")..];
    let id = xml_text(ids, "item").expect("instance id");
    let xml = fx.ec2("DescribeInstances", &[("InstanceId.1", &id)]).await;
    let dns = xml_text(&xml, "privateDnsName").expect("privateDnsName");

    let node = fx.wait_node(&dns).await;
    assert_eq!(labels(&node)["karpenter.sh/nodepool"], "fleet");
    assert_eq!(
        labels(&node)["node.kubernetes.io/instance-type"],
        "c5.large"
    );
    assert_eq!(quantity(&node, "allocatable", "pods"), "35");
    fx.terminate(&id).await;
    fx.wait_gone(&dns).await;
    fx.stop().await;
}

/// One step at a time through [`node::NodeAgent`]: the registration delay, a stopped
/// instance going `Ready=Unknown` and back, a Node deleted under a running instance staying
/// deleted (kubelet registers once), and user data naming another cluster.
#[tokio::test]
async fn the_agent_waits_for_the_delay_follows_stop_and_start_and_registers_once() {
    let mut fx = start().await;
    // Stop the background actor: this test drives its own agent.
    if let Some(actor) = fx.actor.take() {
        actor.stop().await;
    }
    let config = NodeActorConfig::new(fx.moto.client().clone(), fx.account.clone(), CLUSTER)
        .with_registration_delay(Duration::from_millis(300));
    let failures = config.join_failures.clone();
    let mut agent = node::NodeAgent::new(fx.kube.store().clone(), config);

    let user_data = al2023("karpenter.sh/nodepool=default", "", Some(20));
    let (id, dns) = fx
        .run_instance("m5.large", &user_data, &cluster_tags())
        .await;
    let elsewhere = user_data.replace("name: node-actor", "name: someone-else");
    let (other, other_dns) = fx
        .run_instance("m5.large", &elsewhere, &cluster_tags())
        .await;

    let report = agent.sync().await.expect("sync");
    assert!(report.registered.is_empty(), "too early: {report:?}");
    assert!(fx.node(&dns).is_none());
    tokio::time::sleep(Duration::from_millis(350)).await;
    let report = agent.sync().await.expect("sync");
    assert_eq!(report.registered, std::slice::from_ref(&dns));
    assert_eq!(report.refused, std::slice::from_ref(&other));
    assert_eq!(
        failures.for_instance(&other).map(|f| f.reason),
        Some(JoinFailureReason::OtherCluster("someone-else".to_owned()))
    );
    assert!(fx.node(&other_dns).is_none());
    let node = fx.node(&dns).expect("registered");
    assert!(taints(&node).is_empty(), "an empty --register-with-taints");

    fx.ec2("StopInstances", &[("InstanceId.1", &id)]).await;
    agent.sync().await.expect("sync");
    let node = fx.node(&dns).expect("a stopped instance keeps its node");
    assert_eq!(ready(&node).as_deref(), Some("Unknown"));
    fx.ec2("StartInstances", &[("InstanceId.1", &id)]).await;
    agent.sync().await.expect("sync");
    agent.sync().await.expect("sync");
    assert_eq!(
        ready(&fx.node(&dns).expect("node")).as_deref(),
        Some("True")
    );

    fx.kube
        .objects()
        .delete::<Node>(None, &dns, None)
        .expect("delete node");
    let report = agent.sync().await.expect("sync");
    assert!(report.registered.is_empty(), "{report:?}");
    assert!(fx.node(&dns).is_none(), "kubelet registers only once");

    fx.terminate(&id).await;
    let report = agent.sync().await.expect("sync");
    assert!(
        report.deleted.is_empty(),
        "nothing left to delete: {report:?}"
    );
    fx.stop().await;
}
