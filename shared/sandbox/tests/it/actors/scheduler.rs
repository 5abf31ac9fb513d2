//! The scheduler actor: binds what fits, explains what does not, as kube-scheduler does.
use k8s_openapi::api::core::v1::{Event, Pod};
use kube::Api;
use kube::api::{DeleteParams, ListParams, Patch, PatchParams};
use sandbox::actors::scheduler::{self, SchedulerConfig};
use serde_json::json;

use super::{
    client, create_node, create_pod, is_running_and_ready, node, node_of, pod, scheduled, start,
    unschedulable_message, wait_pod,
};

#[tokio::test]
async fn binds_a_fitting_pod_and_runs_it_as_a_kubelet_would() {
    let server = start().await;
    let actor = scheduler::start(server.store().clone(), SchedulerConfig::default());
    let c = client(&server);
    create_node(&c, node("ip-10-0-1-1", "2", "4Gi", json!({}), json!([]))).await;
    create_pod(
        &c,
        pod("default", "web", "500m", json!({"app": "web"}), json!({})),
    )
    .await;

    let p = wait_pod(&c, "default", "web", is_running_and_ready).await;
    assert_eq!(node_of(&p), Some("ip-10-0-1-1"));
    assert_eq!(scheduled(&p).map(|s| s.0).as_deref(), Some("True"));
    let status = p.status.as_ref().expect("status");
    assert_eq!(status.host_ip.as_deref(), Some("10.0.1.10"));
    assert!(status.pod_ip.is_some());
    let cs = status
        .container_statuses
        .as_ref()
        .expect("container statuses");
    assert!(cs.iter().all(|c| c.ready), "{cs:?}");

    // kube-scheduler's event, readable as `kubectl describe` would.
    let events = Api::<Event>::namespaced(c.clone(), "default")
        .list(&ListParams::default().fields("involvedObject.name=web,reason=Scheduled"))
        .await
        .expect("events");
    assert_eq!(
        events.items[0].message.as_deref(),
        Some("Successfully assigned default/web to ip-10-0-1-1")
    );
    actor.stop().await;
}

#[tokio::test]
async fn leaves_a_pod_that_fits_nowhere_unschedulable_then_binds_it_on_a_new_node() {
    let server = start().await;
    let actor = scheduler::start(server.store().clone(), SchedulerConfig::default());
    let c = client(&server);
    // Three nodes, three different reasons.
    create_node(
        &c,
        node("small", "2", "8Gi", json!({"team": "a"}), json!([])),
    )
    .await;
    create_node(
        &c,
        node("other-team", "8", "8Gi", json!({"team": "b"}), json!([])),
    )
    .await;
    create_node(
        &c,
        node(
            "gpu",
            "8",
            "8Gi",
            json!({"team": "a"}),
            json!([{"key": "dedicated", "value": "gpu", "effect": "NoSchedule"}]),
        ),
    )
    .await;
    create_pod(
        &c,
        pod(
            "default",
            "big",
            "3",
            json!({}),
            json!({"nodeSelector": {"team": "a"}}),
        ),
    )
    .await;

    let p = wait_pod(&c, "default", "big", |p| unschedulable_message(p).is_some()).await;
    assert_eq!(node_of(&p), None);
    assert_eq!(
        p.status.as_ref().and_then(|s| s.phase.as_deref()),
        Some("Pending")
    );
    assert_eq!(
        unschedulable_message(&p).as_deref(),
        Some(
            "0/3 nodes are available: 1 Insufficient cpu, 1 node(s) didn't match Pod's node \
             affinity/selector, 1 node(s) had untolerated taint {dedicated: gpu}. preemption: \
             0/3 nodes are available: 1 No preemption victims found for incoming pod, 2 \
             Preemption is not helpful for scheduling."
        )
    );
    let events = Api::<Event>::namespaced(c.clone(), "default")
        .list(&ListParams::default().fields("involvedObject.name=big,reason=FailedScheduling"))
        .await
        .expect("events");
    assert_eq!(events.items.len(), 1, "one event per distinct message");
    assert_eq!(events.items[0].type_.as_deref(), Some("Warning"));

    // A fitting node appears: the watch brings the pod onto it.
    create_node(&c, node("new", "4", "8Gi", json!({"team": "a"}), json!([]))).await;
    let p = wait_pod(&c, "default", "big", is_running_and_ready).await;
    assert_eq!(node_of(&p), Some("new"));
    assert_eq!(
        scheduled(&p),
        Some(("True".into(), None, None)),
        "the Unschedulable reason and message are gone"
    );
    actor.stop().await;
}

#[tokio::test]
async fn counts_what_is_bound_and_init_containers_and_binds_when_room_frees_up() {
    let server = start().await;
    let actor = scheduler::start(server.store().clone(), SchedulerConfig::default());
    let c = client(&server);
    create_node(&c, node("n1", "2", "4Gi", json!({}), json!([]))).await;
    create_pod(&c, pod("default", "first", "1500m", json!({}), json!({}))).await;
    wait_pod(&c, "default", "first", is_running_and_ready).await;

    create_pod(&c, pod("default", "second", "1", json!({}), json!({}))).await;
    let p = wait_pod(&c, "default", "second", |p| {
        unschedulable_message(p).is_some()
    })
    .await;
    assert!(
        unschedulable_message(&p)
            .is_some_and(|m| m.starts_with("0/1 nodes are available: 1 Insufficient cpu.")),
        "{p:?}"
    );
    // An init container larger than the node: the init peak counts, not the sum.
    create_pod(
        &c,
        pod(
            "default",
            "init",
            "100m",
            json!({}),
            json!({"initContainers": [{"name": "setup", "image": "busybox",
                                       "resources": {"requests": {"memory": "5Gi"}}}]}),
        ),
    )
    .await;
    let p = wait_pod(&c, "default", "init", |p| {
        unschedulable_message(p).is_some()
    })
    .await;
    assert!(
        unschedulable_message(&p).is_some_and(|m| m.contains("1 Insufficient memory")),
        "{p:?}"
    );

    // The first pod goes away: the second now fits.
    Api::<Pod>::namespaced(c.clone(), "default")
        .delete("first", &DeleteParams::default())
        .await
        .expect("delete");
    let p = wait_pod(&c, "default", "second", is_running_and_ready).await;
    assert_eq!(node_of(&p), Some("n1"));
    actor.stop().await;
}

#[tokio::test]
async fn respects_taints_tolerations_cordons_and_readiness() {
    let server = start().await;
    let actor = scheduler::start(server.store().clone(), SchedulerConfig::default());
    let c = client(&server);
    create_node(
        &c,
        node(
            "tainted",
            "4",
            "8Gi",
            json!({}),
            json!([{"key": "dedicated", "value": "gpu", "effect": "NoExecute"}]),
        ),
    )
    .await;
    let mut not_ready = node("not-ready", "4", "8Gi", json!({}), json!([]));
    if let Some(s) = not_ready.status.as_mut() {
        s.conditions = Some(vec![
            serde_json::from_value(json!({"type": "Ready", "status": "False"})).expect("cond"),
        ]);
    }
    create_node(&c, not_ready).await;
    let mut cordoned = node("cordoned", "4", "8Gi", json!({}), json!([]));
    if let Some(s) = cordoned.spec.as_mut() {
        s.unschedulable = Some(true);
    }
    create_node(&c, cordoned).await;

    create_pod(&c, pod("default", "plain", "100m", json!({}), json!({}))).await;
    let p = wait_pod(&c, "default", "plain", |p| {
        unschedulable_message(p).is_some()
    })
    .await;
    assert_eq!(
        unschedulable_message(&p).as_deref(),
        Some(
            "0/3 nodes are available: 1 node(s) had untolerated taint {dedicated: gpu}, 1 \
             node(s) had untolerated taint {node.kubernetes.io/not-ready: }, 1 node(s) were \
             unschedulable. preemption: 0/3 nodes are available: 3 Preemption is not helpful \
             for scheduling."
        )
    );

    create_pod(
        &c,
        pod(
            "default",
            "tolerant",
            "100m",
            json!({}),
            json!({"tolerations": [{"key": "dedicated", "operator": "Equal", "value": "gpu"}]}),
        ),
    )
    .await;
    let p = wait_pod(&c, "default", "tolerant", is_running_and_ready).await;
    assert_eq!(node_of(&p), Some("tainted"));

    // Uncordon through the API, as `kubectl uncordon` does: the plain pod lands there.
    Api::<k8s_openapi::api::core::v1::Node>::all(c.clone())
        .patch(
            "cordoned",
            &PatchParams::default(),
            &Patch::Strategic(json!({"spec": {"unschedulable": null}})),
        )
        .await
        .expect("uncordon");
    let p = wait_pod(&c, "default", "plain", is_running_and_ready).await;
    assert_eq!(node_of(&p), Some("cordoned"));
    actor.stop().await;
}

#[tokio::test]
async fn respects_node_affinity_anti_affinity_and_host_ports() {
    let server = start().await;
    let actor = scheduler::start(server.store().clone(), SchedulerConfig::default());
    let c = client(&server);
    create_node(&c, node("a", "8", "8Gi", json!({"tier": "web"}), json!([]))).await;
    create_node(&c, node("b", "8", "8Gi", json!({"tier": "web"}), json!([]))).await;
    create_node(
        &c,
        node("c", "8", "8Gi", json!({"tier": "batch"}), json!([])),
    )
    .await;

    // Required node affinity (In) keeps web pods off `c`; hostname anti-affinity puts one
    // per node, so the third has nowhere to go.
    let web = |name: &str| {
        pod(
            "default",
            name,
            "100m",
            json!({"app": "web"}),
            json!({"affinity": {
                "nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": {
                    "nodeSelectorTerms": [{"matchExpressions": [
                        {"key": "tier", "operator": "In", "values": ["web"]}]}]}},
                "podAntiAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": [{
                    "labelSelector": {"matchLabels": {"app": "web"}},
                    "topologyKey": "kubernetes.io/hostname"}]}}}),
        )
    };
    create_pod(&c, web("web-1")).await;
    let p1 = wait_pod(&c, "default", "web-1", is_running_and_ready).await;
    create_pod(&c, web("web-2")).await;
    let p2 = wait_pod(&c, "default", "web-2", is_running_and_ready).await;
    let mut placed = vec![node_of(&p1).expect("bound"), node_of(&p2).expect("bound")];
    placed.sort();
    assert_eq!(placed, ["a", "b"]);
    create_pod(&c, web("web-3")).await;
    let p = wait_pod(&c, "default", "web-3", |p| {
        unschedulable_message(p).is_some()
    })
    .await;
    assert_eq!(
        unschedulable_message(&p).as_deref(),
        Some(
            "0/3 nodes are available: 1 node(s) didn't match Pod's node affinity/selector, 2 \
             node(s) didn't match pod anti-affinity rules. preemption: 0/3 nodes are \
             available: 1 Preemption is not helpful for scheduling, 2 No preemption victims \
             found for incoming pod."
        )
    );

    // hostPorts: one 8080/TCP per node; a pod without anti-affinity that wants 8080 only
    // fits where no one holds it.
    let ported = |name: &str, selector: serde_json::Value| {
        pod(
            "default",
            name,
            "100m",
            json!({}),
            json!({"nodeSelector": selector,
                   "containers": [{"name": "app", "image": "nginx:1",
                                   "ports": [{"containerPort": 80, "hostPort": 8080}]}]}),
        )
    };
    create_pod(&c, ported("port-1", json!({"kubernetes.io/hostname": "c"}))).await;
    let p = wait_pod(&c, "default", "port-1", is_running_and_ready).await;
    assert_eq!(node_of(&p), Some("c"));
    create_pod(&c, ported("port-2", json!({"tier": "batch"}))).await;
    let p = wait_pod(&c, "default", "port-2", |p| {
        unschedulable_message(p).is_some()
    })
    .await;
    assert!(
        unschedulable_message(&p).is_some_and(|m| m.starts_with(
            "0/3 nodes are available: 1 node(s) didn't have free ports for the requested pod \
             ports, 2 node(s) didn't match Pod's node affinity/selector."
        )),
        "{p:?}"
    );
    actor.stop().await;
}

#[tokio::test]
async fn leaves_other_schedulers_gated_and_bound_pods_alone() {
    let server = start().await;
    let actor = scheduler::start(server.store().clone(), SchedulerConfig::default());
    let c = client(&server);
    create_node(&c, node("n1", "4", "8Gi", json!({}), json!([]))).await;
    create_pod(
        &c,
        pod(
            "default",
            "custom",
            "100m",
            json!({}),
            json!({"schedulerName": "my-scheduler"}),
        ),
    )
    .await;
    create_pod(
        &c,
        pod(
            "default",
            "gated",
            "100m",
            json!({}),
            json!({"schedulingGates": [{"name": "example.com/wait"}]}),
        ),
    )
    .await;
    create_pod(&c, pod("default", "marker", "100m", json!({}), json!({}))).await;
    wait_pod(&c, "default", "marker", is_running_and_ready).await;
    tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    let api = Api::<Pod>::namespaced(c.clone(), "default");
    for name in ["custom", "gated"] {
        let p = api.get(name).await.expect("get");
        assert_eq!(node_of(&p), None, "{name}");
        assert_eq!(scheduled(&p), None, "{name} untouched");
    }
    actor.stop().await;
}

#[tokio::test]
async fn spreads_across_zones_and_counts_sidecars() {
    let server = start().await;
    let actor = scheduler::start(server.store().clone(), SchedulerConfig::default());
    let c = client(&server);
    for (name, cpu, zone) in [("z1", "8", "us-east-1a"), ("z2", "2", "us-east-1b")] {
        create_node(
            &c,
            node(
                name,
                cpu,
                "8Gi",
                json!({"topology.kubernetes.io/zone": zone}),
                json!([]),
            ),
        )
        .await;
    }
    // maxSkew 1 over zones: two replicas land one per zone, though the least allocated
    // node (z1, 8 CPUs) would otherwise take both.
    let spread = |name: &str| {
        pod(
            "default",
            name,
            "100m",
            json!({"app": "api"}),
            json!({"topologySpreadConstraints": [{
                "maxSkew": 1, "topologyKey": "topology.kubernetes.io/zone",
                "whenUnsatisfiable": "DoNotSchedule",
                "labelSelector": {"matchLabels": {"app": "api"}}}]}),
        )
    };
    create_pod(&c, spread("api-1")).await;
    let a = wait_pod(&c, "default", "api-1", is_running_and_ready).await;
    create_pod(&c, spread("api-2")).await;
    let b = wait_pod(&c, "default", "api-2", is_running_and_ready).await;
    assert_eq!((node_of(&a), node_of(&b)), (Some("z1"), Some("z2")));

    // A sidecar (init container with restartPolicy Always) runs beside the app: 4 + 5 CPUs
    // fit no node, while 4 and then a 5-CPU plain init container fit z1.
    let with_init = |name: &str, restart: Option<&str>| {
        let mut init = json!({"name": "proxy", "image": "envoy",
                              "resources": {"requests": {"cpu": "5"}}});
        if let Some(r) = restart {
            init["restartPolicy"] = json!(r);
        }
        pod(
            "default",
            name,
            "4",
            json!({}),
            json!({"initContainers": [init]}),
        )
    };
    create_pod(&c, with_init("sidecar", Some("Always"))).await;
    let p = wait_pod(&c, "default", "sidecar", |p| {
        unschedulable_message(p).is_some()
    })
    .await;
    assert!(
        unschedulable_message(&p)
            .is_some_and(|m| m.starts_with("0/2 nodes are available: 2 Insufficient cpu.")),
        "{p:?}"
    );
    create_pod(&c, with_init("init", None)).await;
    wait_pod(&c, "default", "init", is_running_and_ready).await;
    actor.stop().await;
}

#[tokio::test]
async fn a_stopped_scheduler_binds_nothing_more() {
    let server = start().await;
    let c = client(&server);
    create_node(&c, node("n1", "4", "8Gi", json!({}), json!([]))).await;
    let actor = scheduler::start(server.store().clone(), SchedulerConfig::default());
    create_pod(&c, pod("default", "before", "100m", json!({}), json!({}))).await;
    wait_pod(&c, "default", "before", is_running_and_ready).await;
    assert!(!actor.is_finished());
    actor.stop().await;

    create_pod(&c, pod("default", "after", "100m", json!({}), json!({}))).await;
    tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    let p = Api::<Pod>::namespaced(c.clone(), "default")
        .get("after")
        .await
        .expect("get");
    assert_eq!(node_of(&p), None);

    // Dropping a handle stops its actor too.
    let dropped = scheduler::start(server.store().clone(), SchedulerConfig::default());
    wait_pod(&c, "default", "after", is_running_and_ready).await;
    drop(dropped);
    create_pod(&c, pod("default", "late", "100m", json!({}), json!({}))).await;
    tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    let p = Api::<Pod>::namespaced(c.clone(), "default")
        .get("late")
        .await
        .expect("get");
    assert_eq!(node_of(&p), None);
}

#[tokio::test]
async fn daemonset_style_match_fields_and_soft_taints() {
    let server = start().await;
    let actor = scheduler::start(server.store().clone(), SchedulerConfig::default());
    let c = client(&server);
    create_node(&c, node("n1", "8", "8Gi", json!({}), json!([]))).await;
    create_node(
        &c,
        node(
            "n2",
            "2",
            "8Gi",
            json!({}),
            json!([{"key": "spot", "value": "true", "effect": "PreferNoSchedule"}]),
        ),
    )
    .await;
    // What the DaemonSet controller writes: required affinity on metadata.name. The
    // PreferNoSchedule taint does not keep it (or anything) off n2.
    create_pod(
        &c,
        pod(
            "default",
            "agent-n2",
            "100m",
            json!({}),
            json!({"affinity": {"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": {
                "nodeSelectorTerms": [{"matchFields": [
                    {"key": "metadata.name", "operator": "In", "values": ["n2"]}]}]}}}}),
        ),
    )
    .await;
    let p = wait_pod(&c, "default", "agent-n2", is_running_and_ready).await;
    assert_eq!(node_of(&p), Some("n2"));
    create_pod(
        &c,
        pod(
            "default",
            "agent-n3",
            "100m",
            json!({}),
            json!({"affinity": {"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": {
                "nodeSelectorTerms": [{"matchFields": [
                    {"key": "metadata.name", "operator": "In", "values": ["n3"]}]}]}}}}),
        ),
    )
    .await;
    let p = wait_pod(&c, "default", "agent-n3", |p| {
        unschedulable_message(p).is_some()
    })
    .await;
    assert!(
        unschedulable_message(&p).is_some_and(|m| m.starts_with(
            "0/2 nodes are available: 2 node(s) didn't match Pod's node affinity/selector."
        )),
        "{p:?}"
    );
    actor.stop().await;
}
