use std::time::{Duration, Instant};

use k8s_openapi::api::core::v1::Namespace;
use kube::api::Api;
use sandbox::kube::{KubeApiServer, KubeApiServerConfig};

/// Start-up (CA + certificate generation, bind, seed) and the first answered request
/// through the production client. Run with `--nocapture` to see the numbers.
#[tokio::test]
async fn starts_fast() {
    super::init_tracing();
    let mut starts = Vec::new();
    let mut first_answers = Vec::new();
    for _ in 0..5 {
        let t = Instant::now();
        let server = KubeApiServer::start(KubeApiServerConfig::default())
            .await
            .expect("start");
        starts.push(t.elapsed());
        let ns = Api::<Namespace>::all(server.kube_client().expect("client"))
            .list(&Default::default())
            .await
            .expect("list");
        first_answers.push(t.elapsed());
        assert_eq!(ns.items.len(), 4);
        server.shutdown().await;
    }
    let max = |v: &[Duration]| v.iter().max().copied().unwrap_or_default();
    println!(
        "kube API emulator start-up: {starts:?} (max {:?}); to first answered list: {first_answers:?} (max {:?})",
        max(&starts),
        max(&first_answers)
    );
    assert!(
        max(&starts) < Duration::from_secs(2),
        "start-up took {:?}",
        max(&starts)
    );
}

#[tokio::test]
async fn kubeconfig_round_trips_through_kube() {
    let server = super::start().await;
    let dir = std::env::temp_dir().join(format!(
        "nodeless-sandbox-kubeconfig-{}",
        std::process::id()
    ));
    let path = dir.join("config");
    server.write_kubeconfig(&path).expect("write");
    assert_eq!(server.kubeconfig_path().as_deref(), Some(path.as_path()));
    let kubeconfig = kube::config::Kubeconfig::read_from(&path).expect("parse");
    let config = kube::Config::from_custom_kubeconfig(kubeconfig, &Default::default())
        .await
        .expect("config");
    assert_eq!(
        config.cluster_url.to_string().trim_end_matches('/'),
        server.url()
    );
    let client = kube::Client::try_from(config).expect("client");
    Api::<Namespace>::all(client)
        .get("kube-system")
        .await
        .expect("get via kubeconfig");
    let _ = std::fs::remove_dir_all(dir);
}

#[tokio::test]
async fn shutdown_ends_open_watches_and_stops_serving() {
    use futures::StreamExt;
    use kube::api::WatchParams;
    let server = super::start().await;
    let api = Api::<Namespace>::all(server.kube_client().expect("client"));
    let mut stream = api
        .watch(&WatchParams::default(), "0")
        .await
        .expect("watch")
        .boxed();
    for _ in 0..4 {
        stream.next().await.expect("initial ADDED").expect("ok");
    }
    let t = Instant::now();
    server.shutdown().await;
    assert!(
        t.elapsed() < Duration::from_secs(2),
        "shutdown took {:?}",
        t.elapsed()
    );
    let end = tokio::time::timeout(Duration::from_secs(2), stream.next())
        .await
        .expect("the watch ended");
    assert!(
        end.as_ref().is_none_or(|r| r.is_err()),
        "no more events: {end:?}"
    );
    assert!(
        api.list(&Default::default()).await.is_err(),
        "no longer serving"
    );
}
