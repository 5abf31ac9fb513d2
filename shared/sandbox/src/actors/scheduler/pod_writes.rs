//! What the scheduler (and a kubelet) writes on pods: conditions, bindings, the running
//! status, events.

use std::sync::atomic::{AtomicU64, Ordering};

use k8s_openapi::api::core::v1::{
    ContainerState, ContainerStateRunning, ContainerStatus, Event, EventSource, ObjectReference,
    Pod, PodCondition, PodIP,
};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{MicroTime, ObjectMeta};

use super::{DEFAULT_SCHEDULER, node_name, now, pod_key};
use crate::Result;
use crate::kube::Objects;

/// Sets a pod condition in `conds`, keeping `lastTransitionTime` unless the status changes.
/// Returns whether anything changed.
pub(crate) fn set_condition(
    conds: &mut Vec<PodCondition>,
    type_: &str,
    status: &str,
    reason: Option<&str>,
    message: Option<&str>,
) -> bool {
    if let Some(c) = conds.iter_mut().find(|c| c.type_ == type_) {
        if c.status == status && c.reason.as_deref() == reason && c.message.as_deref() == message {
            return false;
        }
        if c.status != status {
            c.last_transition_time = Some(now());
        }
        c.status = status.into();
        c.reason = reason.map(String::from);
        c.message = message.map(String::from);
        return true;
    }
    conds.push(PodCondition {
        type_: type_.into(),
        status: status.into(),
        reason: reason.map(String::from),
        message: message.map(String::from),
        last_transition_time: Some(now()),
        ..PodCondition::default()
    });
    true
}

/// The binding subresource's semantics: `spec.nodeName` and `PodScheduled=True`, refused
/// (false) when the pod is already bound or gone.
pub(crate) fn bind(objects: &Objects<'_>, ns: &str, name: &str, node: &str) -> Result<bool> {
    let mut bound = false;
    let result = objects.modify::<Pod>(Some(ns), name, |pod| {
        let spec = pod.spec.get_or_insert_with(Default::default);
        if spec.node_name.as_deref().is_some_and(|n| !n.is_empty())
            || pod.metadata.deletion_timestamp.is_some()
        {
            return;
        }
        spec.node_name = Some(node.into());
        let status = pod.status.get_or_insert_with(Default::default);
        set_condition(
            status.conditions.get_or_insert_with(Vec::new),
            "PodScheduled",
            "True",
            None,
            None,
        );
        bound = true;
    });
    match result {
        Ok(_) => Ok(bound),
        Err(crate::Error::Api { code: 404, .. }) => Ok(false),
        Err(e) => Err(e),
    }
}

/// `PodScheduled=False`, reason `Unschedulable`, with kube-scheduler's message (written
/// only when it changes).
pub(super) fn mark_unschedulable(
    objects: &Objects<'_>,
    ns: &str,
    name: &str,
    message: &str,
) -> Result<()> {
    let result = objects.modify::<Pod>(Some(ns), name, |pod| {
        if node_name(pod).is_some() {
            return;
        }
        let status = pod.status.get_or_insert_with(Default::default);
        status.phase.get_or_insert_with(|| "Pending".into());
        set_condition(
            status.conditions.get_or_insert_with(Vec::new),
            "PodScheduled",
            "False",
            Some("Unschedulable"),
            Some(message),
        );
    });
    match result {
        Ok(_) | Err(crate::Error::Api { code: 404, .. }) => Ok(()),
        Err(e) => Err(e),
    }
}

static POD_IPS: AtomicU64 = AtomicU64::new(1);

/// A fresh pod IP in 10.244.0.0/16 (unique per process; enough for a sandbox).
pub(crate) fn next_pod_ip() -> String {
    let n = POD_IPS.fetch_add(1, Ordering::Relaxed);
    format!("10.244.{}.{}", (n / 250) % 256, n % 250 + 2)
}

/// What a kubelet does for a bound pod it starts: Running, Ready, IPs, container statuses.
pub(crate) fn run_pod(
    objects: &Objects<'_>,
    ns: &str,
    name: &str,
    host_ip: Option<&str>,
) -> Result<()> {
    let result = objects.modify::<Pod>(Some(ns), name, |pod| {
        let phase = pod.status.as_ref().and_then(|s| s.phase.as_deref());
        if node_name(pod).is_none()
            || pod.metadata.deletion_timestamp.is_some()
            || !matches!(phase, None | Some("Pending"))
        {
            return;
        }
        let started = now();
        let containers: Vec<(String, String)> = pod
            .spec
            .as_ref()
            .map(|s| {
                s.containers
                    .iter()
                    .map(|c| (c.name.clone(), c.image.clone().unwrap_or_default()))
                    .collect()
            })
            .unwrap_or_default();
        let status = pod.status.get_or_insert_with(Default::default);
        status.phase = Some("Running".into());
        let ip = next_pod_ip();
        if let Some(h) = host_ip {
            status.host_ip = Some(h.into());
        }
        status.pod_ip = Some(ip.clone());
        status.pod_ips = Some(vec![PodIP { ip }]);
        status.start_time = Some(started.clone());
        let conds = status.conditions.get_or_insert_with(Vec::new);
        for t in [
            "PodReadyToStartContainers",
            "Initialized",
            "Ready",
            "ContainersReady",
            "PodScheduled",
        ] {
            set_condition(conds, t, "True", None, None);
        }
        status.container_statuses = Some(
            containers
                .into_iter()
                .map(|(name, image)| ContainerStatus {
                    name,
                    image,
                    ready: true,
                    started: Some(true),
                    restart_count: 0,
                    state: Some(ContainerState {
                        running: Some(ContainerStateRunning {
                            started_at: Some(started.clone()),
                        }),
                        ..ContainerState::default()
                    }),
                    ..ContainerStatus::default()
                })
                .collect(),
        );
    });
    match result {
        Ok(_) | Err(crate::Error::Api { code: 404, .. }) => Ok(()),
        Err(e) => Err(e),
    }
}

static EVENTS: AtomicU64 = AtomicU64::new(0);

/// A core/v1 Event about `pod` from `default-scheduler` (best effort).
pub(crate) fn record_event(
    objects: &Objects<'_>,
    pod: &Pod,
    type_: &str,
    reason: &str,
    message: &str,
) {
    record_event_from(objects, pod, DEFAULT_SCHEDULER, type_, reason, message);
}

/// A core/v1 Event about `pod` from `component` (best effort).
pub(crate) fn record_event_from(
    objects: &Objects<'_>,
    pod: &Pod,
    component: &str,
    type_: &str,
    reason: &str,
    message: &str,
) {
    let (ns, name) = pod_key(pod);
    let t = now();
    let n = EVENTS.fetch_add(1, Ordering::Relaxed);
    let nanos = t.0.as_nanosecond();
    let event = Event {
        metadata: ObjectMeta {
            name: Some(format!("{name}.{:x}", nanos as u64 ^ n)),
            namespace: Some(ns.clone()),
            ..ObjectMeta::default()
        },
        involved_object: ObjectReference {
            api_version: Some("v1".into()),
            kind: Some("Pod".into()),
            name: Some(name),
            namespace: Some(ns),
            uid: pod.metadata.uid.clone(),
            resource_version: pod.metadata.resource_version.clone(),
            ..ObjectReference::default()
        },
        type_: Some(type_.into()),
        reason: Some(reason.into()),
        message: Some(message.into()),
        source: Some(EventSource {
            component: Some(component.into()),
            host: None,
        }),
        reporting_component: Some(component.into()),
        reporting_instance: Some(component.into()),
        action: Some(
            if type_ == "Normal" {
                "Binding"
            } else {
                "Scheduling"
            }
            .into(),
        ),
        event_time: Some(MicroTime(t.0)),
        first_timestamp: Some(t.clone()),
        last_timestamp: Some(t),
        count: Some(1),
        ..Event::default()
    };
    if let Err(e) = objects.create(&event) {
        tracing::debug!(error = %e, reason, "event not recorded");
    }
}
