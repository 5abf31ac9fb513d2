use k8s_openapi::api::core::v1::Namespace;
use kube::api::Api;
use sandbox::kube::example_eks_token;

use super::{api_code, start};

fn client_with(config: kube::Config) -> kube::Client {
    kube::Client::try_from(config).expect("client")
}

#[tokio::test]
async fn tokens_are_required() {
    let server = start().await;
    let mut anonymous = server.kube_config().expect("config");
    anonymous.auth_info.token = None;
    let err = Api::<Namespace>::all(client_with(anonymous))
        .list(&Default::default())
        .await
        .expect_err("401");
    assert_eq!(api_code(&err), Some(401));

    let wrong = server
        .kube_config_with_token("not-the-token")
        .expect("config");
    let err = Api::<Namespace>::all(client_with(wrong))
        .list(&Default::default())
        .await
        .expect_err("401");
    assert_eq!(api_code(&err), Some(401));

    let malformed_eks = server
        .kube_config_with_token("k8s-aws-v1.aHR0cHM6Ly9leGFtcGxlLmNvbS8")
        .expect("config");
    let err = Api::<Namespace>::all(client_with(malformed_eks))
        .list(&Default::default())
        .await
        .expect_err("401");
    assert_eq!(api_code(&err), Some(401));

    // An EKS token (presigned STS GetCallerIdentity URL) is accepted by shape.
    let eks = server
        .kube_config_with_token(&example_eks_token("demo", "eu-west-1"))
        .expect("config");
    let namespaces = Api::<Namespace>::all(client_with(eks))
        .list(&Default::default())
        .await
        .expect("EKS token");
    let mut names: Vec<String> = namespaces
        .items
        .into_iter()
        .filter_map(|n| n.metadata.name)
        .collect();
    names.sort();
    assert_eq!(
        names,
        ["default", "kube-node-lease", "kube-public", "kube-system"]
    );

    // Without the CA the TLS handshake fails: the server is not trusted by accident.
    let mut untrusted = server.kube_config().expect("config");
    untrusted.root_cert = None;
    let err = Api::<Namespace>::all(client_with(untrusted))
        .list(&Default::default())
        .await
        .expect_err("TLS");
    assert_eq!(api_code(&err), None);
}
