//! The AWS side of the sandbox: the patched moto server, per-test accounts, the EKS
//! DescribeCluster patch, the EKS AMI SSM parameters and the seeded cluster.
//!
//! Needs the venv (`scripts/setup-venv.sh`). Requests are raw HTTP in each service's
//! protocol: EC2/IAM/STS query, SSM JSON 1.1, EKS REST-JSON.

use std::collections::BTreeSet;
use std::time::Instant;

use sandbox::aws::{
    AwsAccount, ClusterRegistration, ClusterSpec, MotoOptions, MotoServer, STS_API_VERSION,
    xml_text, xml_texts,
};
use serde_json::json;

const TEST_CA_PEM: &str =
    "-----BEGIN CERTIFICATE-----\nMIIBdummyForTests\n-----END CERTIFICATE-----\n";

async fn shared() -> &'static MotoServer {
    MotoServer::shared()
        .await
        .expect("moto starts (run scripts/setup-venv.sh first)")
}

#[tokio::test]
async fn moto_starts_answers_and_reports_the_account_of_each_request() {
    use sandbox::kube::{KubeApiServer, KubeApiServerConfig};

    // The whole sandbox's start-up: the Kubernetes emulator and moto side by side, then
    // the first data load (a seeded cluster pointing at the emulator, EC2's zones).
    let t0 = Instant::now();
    let (kube, server) = tokio::join!(
        KubeApiServer::start(KubeApiServerConfig::default()),
        MotoServer::start(MotoOptions::default())
    );
    let (kube, server) = (kube.expect("kube emulator"), server.expect("moto starts"));
    let answered = t0.elapsed();
    assert!(server.endpoint_url().starts_with("http://127.0.0.1:"));
    assert!(!server.moto_version().is_empty());

    let account = server.new_account();
    let xml = server
        .client()
        .ec2(&account, "DescribeAvailabilityZones", &[])
        .await
        .expect("DescribeAvailabilityZones");
    assert!(xml_texts(&xml, "zoneName").len() >= 3, "{xml}");
    let first_load = t0.elapsed();
    server
        .seed_cluster(
            &account,
            &ClusterSpec::new("startup", "1.31").with_api(kube.url(), kube.ca_pem()),
        )
        .await
        .expect("seed");
    let seeded = t0.elapsed();
    eprintln!(
        "sandbox start-up: kube emulator + moto {} answering after {answered:?} (moto process: \
         {:?}); first EC2 data load done after {first_load:?}; cluster seeded after {seeded:?}",
        server.moto_version(),
        server.startup_time(),
    );
    kube.shutdown().await;

    let xml = server
        .client()
        .query(&account, "sts", STS_API_VERSION, "GetCallerIdentity", &[])
        .await
        .expect("GetCallerIdentity");
    assert_eq!(xml_text(&xml, "Account").as_deref(), Some(account.id()));

    // A reset (serial set-up only) empties the accounts but keeps the sandbox's patches:
    // the EKS AMI parameters, their images and the cluster registrations.
    let name = "/aws/service/eks/optimized-ami/1.32/amazon-linux-2023/x86_64/standard/recommended/image_id";
    let before = server
        .client()
        .ssm(&account, "GetParameter", &json!({ "Name": name }))
        .await
        .expect("GetParameter");
    server
        .seed_cluster(
            &account,
            &ClusterSpec::new("reset-me", "1.32").with_api("https://127.0.0.1:7443", TEST_CA_PEM),
        )
        .await
        .expect("seed");
    server.reset().await.expect("reset");
    let vpcs = server
        .client()
        .ec2(
            &account,
            "DescribeVpcs",
            &[
                ("Filter.1.Name", "tag:karpenter.sh/discovery"),
                ("Filter.1.Value.1", "reset-me"),
            ],
        )
        .await
        .expect("DescribeVpcs");
    assert!(xml_texts(&vpcs, "vpcId").is_empty(), "{vpcs}");
    let after = server
        .client()
        .ssm(&account, "GetParameter", &json!({ "Name": name }))
        .await
        .expect("GetParameter after reset");
    let image_id = after["Parameter"]["Value"].as_str().expect("value");
    assert_eq!(before["Parameter"]["Value"], image_id);
    let xml = server
        .client()
        .ec2(&account, "DescribeImages", &[("ImageId.1", image_id)])
        .await
        .expect("DescribeImages after reset");
    assert_eq!(xml_texts(&xml, "imageId"), [image_id]);
    server
        .seed_cluster(&account, &ClusterSpec::new("reset-me", "1.32"))
        .await
        .expect("seed again");
    let cluster = describe_cluster(&server, &account, "reset-me").await;
    assert_eq!(cluster["endpoint"], "https://127.0.0.1:7443");

    let pid = server.pid();
    drop(server);
    // Killed and reaped on drop.
    assert!(!std::path::Path::new(&format!("/proc/{pid}")).exists());
}

#[tokio::test]
async fn a_missing_venv_is_a_clear_error() {
    let error = MotoServer::start(MotoOptions {
        python: Some("/nonexistent/venv/bin/python".into()),
        ..MotoOptions::default()
    })
    .await
    .expect_err("no python there");
    let message = error.to_string();
    assert!(
        message.contains("/nonexistent/venv/bin/python"),
        "{message}"
    );
    assert!(message.contains("scripts/setup-venv.sh"), "{message}");
}

#[tokio::test]
async fn a_python_without_moto_is_a_clear_error() {
    use std::os::unix::fs::PermissionsExt as _;
    // Stands in for an interpreter whose venv lacks moto: fails the way Python does.
    let dir = std::env::temp_dir().join(format!("nodeless-no-moto-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let python = dir.join("python");
    std::fs::write(
        &python,
        "#!/bin/sh\necho \"ModuleNotFoundError: No module named 'moto'\" >&2\nexit 1\n",
    )
    .expect("write");
    std::fs::set_permissions(&python, std::fs::Permissions::from_mode(0o755)).expect("chmod");
    let error = MotoServer::start(MotoOptions {
        python: Some(python.clone()),
        ..MotoOptions::default()
    })
    .await
    .expect_err("no moto there");
    let _ = std::fs::remove_dir_all(&dir);
    let message = error.to_string();
    assert!(message.contains(&python.display().to_string()), "{message}");
    assert!(message.contains("No module named 'moto'"), "{message}");
    assert!(message.contains("scripts/setup-venv.sh"), "{message}");
}

#[tokio::test]
async fn accounts_do_not_see_each_others_resources() {
    let server = shared().await;
    let a = server.new_account();
    let b = server.new_account();
    assert_ne!(a.id(), b.id());
    let client = server.client();

    let tag = [
        ("TagSpecification.1.ResourceType", "vpc"),
        ("TagSpecification.1.Tag.1.Key", "isolation-test"),
        ("TagSpecification.1.Tag.1.Value", "yes"),
    ];
    let mut params = vec![("CidrBlock", "10.42.0.0/16")];
    params.extend_from_slice(&tag);
    let xml = client
        .ec2(&a, "CreateVpc", &params)
        .await
        .expect("CreateVpc");
    let vpc_id = xml_text(&xml, "vpcId").expect("vpc id");

    let filter = [
        ("Filter.1.Name", "tag:isolation-test"),
        ("Filter.1.Value.1", "yes"),
    ];
    let in_a = client.ec2(&a, "DescribeVpcs", &filter).await.expect("a");
    let in_b = client.ec2(&b, "DescribeVpcs", &filter).await.expect("b");
    assert_eq!(xml_texts(&in_a, "vpcId"), [vpc_id]);
    assert!(xml_texts(&in_b, "vpcId").is_empty(), "{in_b}");

    // The same cluster name in two accounts: each has its own cluster and registration.
    let seeded_a = server
        .seed_cluster(
            &a,
            &ClusterSpec::new("same-name", "1.31").with_api("https://127.0.0.1:1111", TEST_CA_PEM),
        )
        .await
        .expect("seed a");
    let seeded_b = server
        .seed_cluster(
            &b,
            &ClusterSpec::new("same-name", "1.31").with_api("https://127.0.0.1:2222", TEST_CA_PEM),
        )
        .await
        .expect("seed b");
    assert_ne!(seeded_a.vpc_id, seeded_b.vpc_id);
    for (account, port) in [(&a, "1111"), (&b, "2222")] {
        let cluster = describe_cluster(server, account, "same-name").await;
        assert_eq!(cluster["endpoint"], format!("https://127.0.0.1:{port}"));
        assert!(
            cluster["arn"]
                .as_str()
                .unwrap_or_default()
                .contains(account.id())
        );
    }

    // A third account has no cluster at all.
    let c = server.new_account();
    let missing = client
        .rest_json(&c, "eks", "GET", "/clusters/same-name", None)
        .await
        .expect_err("no cluster in a fresh account");
    assert!(
        missing.to_string().contains("ResourceNotFoundException"),
        "{missing}"
    );
}

async fn describe_cluster(
    server: &MotoServer,
    account: &AwsAccount,
    name: &str,
) -> serde_json::Value {
    let answer = server
        .client()
        .rest_json(account, "eks", "GET", &format!("/clusters/{name}"), None)
        .await
        .expect("DescribeCluster");
    answer["cluster"].clone()
}

#[tokio::test]
async fn describe_cluster_returns_the_registered_endpoint_and_ca() {
    let server = shared().await;
    let account = server.new_account();
    let seeded = server
        .seed_cluster(&account, &ClusterSpec::new("demo", "1.31"))
        .await
        .expect("seed");

    // Registered after the seed, as when the Kubernetes emulator starts later.
    let ca_pem = TEST_CA_PEM;
    server
        .register_cluster(
            &account,
            &ClusterRegistration::api("demo", "https://127.0.0.1:6443", ca_pem),
        )
        .await
        .expect("register");

    let cluster = describe_cluster(server, &account, "demo").await;
    assert_eq!(cluster["endpoint"], "https://127.0.0.1:6443");
    let data = cluster["certificateAuthority"]["data"]
        .as_str()
        .expect("CA data");
    use base64::Engine as _;
    let pem = base64::engine::general_purpose::STANDARD
        .decode(data)
        .expect("CA data is base64");
    assert_eq!(String::from_utf8_lossy(&pem), ca_pem);
    assert_eq!(cluster["status"], "ACTIVE");
    assert_eq!(cluster["version"], "1.31");
    assert_eq!(
        cluster["resourcesVpcConfig"]["clusterSecurityGroupId"],
        seeded.security_group_id.as_str()
    );
    assert_eq!(
        cluster["resourcesVpcConfig"]["vpcId"],
        seeded.vpc_id.as_str()
    );
    assert_eq!(
        cluster["resourcesVpcConfig"]["subnetIds"]
            .as_array()
            .map(Vec::len),
        Some(3)
    );
    assert_eq!(
        cluster["accessConfig"]["authenticationMode"],
        "API_AND_CONFIG_MAP"
    );
    assert_eq!(
        cluster["kubernetesNetworkConfig"]["serviceIpv4Cidr"],
        "10.100.0.0/16"
    );
    assert_eq!(cluster["kubernetesNetworkConfig"]["ipFamily"], "ipv4");

    // A later registration changes only what it names.
    server
        .register_cluster(
            &account,
            &ClusterRegistration {
                name: "demo".into(),
                authentication_mode: Some("API".into()),
                kubernetes_network_config: Some(json!({"serviceIpv4Cidr": "172.20.0.0/16"})),
                ..ClusterRegistration::default()
            },
        )
        .await
        .expect("re-register");
    let cluster = describe_cluster(server, &account, "demo").await;
    assert_eq!(cluster["endpoint"], "https://127.0.0.1:6443");
    assert_eq!(cluster["accessConfig"]["authenticationMode"], "API");
    assert_eq!(
        cluster["kubernetesNetworkConfig"]["serviceIpv4Cidr"],
        "172.20.0.0/16"
    );
}

#[tokio::test]
async fn eks_ami_parameters_resolve_to_images_moto_knows() {
    let server = shared().await;
    let account = server.new_account();
    let client = server.client();
    let version = "1.31";
    let cases = [
        (
            format!(
                "/aws/service/eks/optimized-ami/{version}/amazon-linux-2023/x86_64/standard/recommended/image_id"
            ),
            "x86_64",
        ),
        (
            format!(
                "/aws/service/eks/optimized-ami/{version}/amazon-linux-2023/arm64/standard/recommended/image_id"
            ),
            "arm64",
        ),
        (
            format!("/aws/service/eks/optimized-ami/{version}/amazon-linux-2/recommended/image_id"),
            "x86_64",
        ),
        (
            format!(
                "/aws/service/eks/optimized-ami/{version}/amazon-linux-2-arm64/recommended/image_id"
            ),
            "arm64",
        ),
        (
            format!("/aws/service/bottlerocket/aws-k8s-{version}/x86_64/latest/image_id"),
            "x86_64",
        ),
        (
            format!("/aws/service/bottlerocket/aws-k8s-{version}/arm64/latest/image_id"),
            "arm64",
        ),
    ];
    let mut ids = BTreeSet::new();
    for (name, arch) in &cases {
        let answer = client
            .ssm(&account, "GetParameter", &json!({ "Name": name }))
            .await
            .unwrap_or_else(|e| panic!("GetParameter {name}: {e}"));
        let image_id = answer["Parameter"]["Value"]
            .as_str()
            .expect("value")
            .to_owned();
        assert!(image_id.starts_with("ami-"), "{name} -> {image_id}");

        let xml = client
            .ec2(
                &account,
                "DescribeImages",
                &[("ImageId.1", image_id.as_str())],
            )
            .await
            .unwrap_or_else(|e| panic!("DescribeImages {image_id} ({name}): {e}"));
        assert_eq!(xml_texts(&xml, "imageId"), [image_id.as_str()], "{name}");
        assert_eq!(
            xml_text(&xml, "architecture").as_deref(),
            Some(*arch),
            "{name}"
        );
        ids.insert(image_id);
    }
    assert_eq!(ids.len(), cases.len(), "each variant has its own image");

    // The tree is browsable the way Karpenter's drift check and users do.
    let answer = client
        .ssm(
            &account,
            "GetParametersByPath",
            &json!({"Path": format!("/aws/service/eks/optimized-ami/{version}"), "Recursive": true, "MaxResults": 10}),
        )
        .await
        .expect("GetParametersByPath");
    assert!(
        answer["Parameters"]
            .as_array()
            .is_some_and(|p| !p.is_empty()),
        "{answer}"
    );

    // Same answer in another region, and the server lists what it serves.
    let other = account.in_region("ap-northeast-2");
    let answer = client
        .ssm(&other, "GetParameter", &json!({ "Name": cases[0].0 }))
        .await
        .expect("GetParameter in ap-northeast-2");
    assert!(ids.contains(answer["Parameter"]["Value"].as_str().unwrap_or_default()));
    let listed = server.ami_parameters().await.expect("listed");
    assert!(cases.iter().all(|(name, _)| listed.contains_key(name)));
}

#[tokio::test]
async fn seeding_creates_three_tagged_private_subnets_in_three_zones() {
    let server = shared().await;
    let account = server.new_account();
    let client = server.client();
    let seeded = server
        .seed_cluster(&account, &ClusterSpec::new("seeded", "1.30"))
        .await
        .expect("seed");
    assert_eq!(seeded.account_id, account.id());

    let discovery = [
        ("Filter.1.Name", "tag:karpenter.sh/discovery"),
        ("Filter.1.Value.1", "seeded"),
    ];
    let xml = client
        .ec2(&account, "DescribeSubnets", &discovery)
        .await
        .expect("DescribeSubnets");
    let subnet_ids: BTreeSet<String> = xml_texts(&xml, "subnetId").into_iter().collect();
    let zones: BTreeSet<String> = xml_texts(&xml, "availabilityZone").into_iter().collect();
    assert_eq!(subnet_ids.len(), 3, "{xml}");
    assert_eq!(zones.len(), 3, "{xml}");
    assert_eq!(
        subnet_ids,
        seeded.subnets.iter().map(|s| s.subnet_id.clone()).collect()
    );
    assert!(
        xml_texts(&xml, "mapPublicIpOnLaunch")
            .iter()
            .all(|v| v == "false")
    );
    assert!(xml_texts(&xml, "vpcId").iter().all(|v| *v == seeded.vpc_id));

    let xml = client
        .ec2(&account, "DescribeSecurityGroups", &discovery)
        .await
        .expect("DescribeSecurityGroups");
    assert_eq!(
        xml_texts(&xml, "groupId"),
        [seeded.security_group_id.as_str()]
    );

    for role in [
        seeded.node_role_name.as_str(),
        "seeded-fargate-pod-execution-role",
        "seeded-cluster-role",
    ] {
        let xml = client
            .query(
                &account,
                "iam",
                sandbox::aws::IAM_API_VERSION,
                "GetRole",
                &[("RoleName", role)],
            )
            .await
            .unwrap_or_else(|e| panic!("GetRole {role}: {e}"));
        assert!(xml_text(&xml, "Arn").is_some_and(|arn| arn.contains(account.id())));
    }
    assert!(
        seeded
            .fargate_pod_execution_role_arn
            .ends_with("/seeded-fargate-pod-execution-role")
    );
    let xml = client
        .query(
            &account,
            "iam",
            sandbox::aws::IAM_API_VERSION,
            "ListAttachedRolePolicies",
            &[("RoleName", seeded.node_role_name.as_str())],
        )
        .await
        .expect("ListAttachedRolePolicies");
    let policies = xml_texts(&xml, "PolicyName");
    for policy in [
        "AmazonEKSWorkerNodePolicy",
        "AmazonEKS_CNI_Policy",
        "AmazonSSMManagedInstanceCore",
    ] {
        assert!(
            policies.iter().any(|p| p == policy),
            "{policy} in {policies:?}"
        );
    }

    let clusters = client
        .rest_json(&account, "eks", "GET", "/clusters", None)
        .await
        .expect("ListClusters");
    assert_eq!(clusters["clusters"], json!(["seeded"]));
}

#[tokio::test]
async fn eventbridge_delivers_to_sqs_in_the_tests_own_account() {
    let server = shared().await;
    let account = server.new_account();
    let client = server.client();
    let queue = client
        .sqs(
            &account,
            "CreateQueue",
            &json!({"QueueName": "interruptions"}),
        )
        .await
        .expect("CreateQueue");
    let queue_url = queue["QueueUrl"].as_str().expect("QueueUrl").to_owned();
    let attributes = client
        .sqs(
            &account,
            "GetQueueAttributes",
            &json!({"QueueUrl": queue_url, "AttributeNames": ["QueueArn"]}),
        )
        .await
        .expect("GetQueueAttributes");
    let queue_arn = attributes["Attributes"]["QueueArn"].as_str().expect("arn");
    assert!(queue_arn.contains(account.id()), "{queue_arn}");

    let pattern =
        json!({"source": ["aws.ec2"], "detail-type": ["EC2 Spot Instance Interruption Warning"]});
    client
        .events(
            &account,
            "PutRule",
            &json!({"Name": "spot", "EventPattern": pattern.to_string()}),
        )
        .await
        .expect("PutRule");
    client
        .events(
            &account,
            "PutTargets",
            &json!({"Rule": "spot", "Targets": [{"Id": "q", "Arn": queue_arn}]}),
        )
        .await
        .expect("PutTargets");
    client
        .events(
            &account,
            "PutEvents",
            &json!({"Entries": [{
                "Source": "aws.ec2",
                "DetailType": "EC2 Spot Instance Interruption Warning",
                "Detail": json!({"instance-id": "i-0123456789abcdef0", "instance-action": "terminate"}).to_string(),
            }]}),
        )
        .await
        .expect("PutEvents");
    let received = client
        .sqs(
            &account,
            "ReceiveMessage",
            &json!({"QueueUrl": queue_url, "MaxNumberOfMessages": 10}),
        )
        .await
        .expect("ReceiveMessage");
    let messages = received["Messages"].as_array().cloned().unwrap_or_default();
    assert_eq!(messages.len(), 1, "{received}");
    let event: serde_json::Value =
        serde_json::from_str(messages[0]["Body"].as_str().unwrap_or_default()).expect("event");
    assert_eq!(event["detail"]["instance-id"], "i-0123456789abcdef0");
}

/// The production path of the functions: DescribeCluster (endpoint + CA) and an EKS token
/// lead a kube client to the emulator.
#[tokio::test]
async fn describe_cluster_leads_a_kube_client_to_the_emulator() {
    use base64::Engine as _;
    use k8s_openapi::api::core::v1::Namespace;
    use sandbox::kube::{KubeApiServer, KubeApiServerConfig, example_eks_token};

    let kube = KubeApiServer::start(KubeApiServerConfig::default())
        .await
        .expect("kube emulator");
    let server = shared().await;
    let account = server.new_account();
    server
        .seed_cluster(
            &account,
            &ClusterSpec::new("wired", "1.31").with_api(kube.url(), kube.ca_pem()),
        )
        .await
        .expect("seed");

    // What a function does in Lambda, with nothing but the cluster name and region.
    let cluster = describe_cluster(server, &account, "wired").await;
    let endpoint = cluster["endpoint"].as_str().expect("endpoint");
    let ca_pem = base64::engine::general_purpose::STANDARD
        .decode(
            cluster["certificateAuthority"]["data"]
                .as_str()
                .expect("CA"),
        )
        .expect("base64");
    let ca_pem = String::from_utf8(ca_pem).expect("PEM text");
    let ca_der = base64::engine::general_purpose::STANDARD
        .decode(
            ca_pem
                .lines()
                .filter(|l| !l.starts_with("-----"))
                .collect::<String>(),
        )
        .expect("PEM body");
    let mut config = kube::Config::new(endpoint.parse().expect("endpoint URI"));
    config.root_cert = Some(vec![ca_der]);
    config.auth_info.token = Some(example_eks_token("wired", account.region()).into());
    let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
    let client = kube::Client::try_from(config).expect("client");
    let namespaces = kube::Api::<Namespace>::all(client)
        .list(&Default::default())
        .await
        .expect("list namespaces through the DescribeCluster endpoint");
    assert!(
        namespaces
            .items
            .iter()
            .any(|ns| ns.metadata.name.as_deref() == Some("kube-system"))
    );
    kube.shutdown().await;
}
