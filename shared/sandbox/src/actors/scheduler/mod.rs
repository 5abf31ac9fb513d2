//! A kube-scheduler stand-in: binds pending pods to nodes that fit, or marks them
//! `PodScheduled=False` / `Unschedulable` with kube-scheduler's message.
//!
//! Filters, in kube-scheduler's default order, the first failing one naming the node's
//! reason: NodeUnschedulable (`spec.unschedulable`, unless tolerated), TaintToleration
//! (NoSchedule/NoExecute; a node that is not Ready counts as tainted
//! `node.kubernetes.io/not-ready:NoSchedule`, as the node lifecycle controller would taint
//! it), NodeAffinity (nodeSelector, required node affinity incl. `matchFields`
//! `metadata.name`), NodePorts (hostPorts), NodeResourcesFit (requests incl. init and
//! sidecar containers and overhead, against allocatable minus the requests of the pods
//! bound there; pod count), PodTopologySpread (`DoNotSchedule`), InterPodAffinity
//! (required pod affinity and anti-affinity, both ways). Among feasible nodes the least
//! allocated wins (ties by name). Pods are taken by priority, then age.
//!
//! With [`SchedulerConfig::run_pods`] it also does a kubelet's part once a pod is bound to
//! a Ready node: phase `Running`, `Initialized`/`ContainersReady`/`Ready` true, IPs and
//! running container statuses.
//!
//! It leaves alone pods of another `schedulerName` (e.g. EKS's `fargate-scheduler`), pods
//! with scheduling gates, terminating or finished pods, and pods a Fargate profile selects
//! ([`SchedulerConfig::fargate`]).
mod filter;
mod pod_writes;

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::time::Duration;

use k8s_openapi::api::core::v1::{Node, Pod};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use provisioning::api::k8s as pk;
use provisioning::api::to_resources;
use provisioning::input::Location;
use provisioning::model::pod::{HostPort, PodModel};
use provisioning::resources::Resources;
use provisioning::taints::{Effect, Taint};

use super::fargate::FargateProfiles;
use super::{ActorHandle, StopSignal, is_kind, react};
use crate::Result;
use crate::kube::{Objects, Store};
use filter::choose;
pub(crate) use pod_writes::{bind, record_event_from, run_pod};
use pod_writes::{mark_unschedulable, record_event};

/// The scheduler name kube-scheduler answers to (an empty name means it too).
pub const DEFAULT_SCHEDULER: &str = "default-scheduler";

/// Scheduler settings.
#[derive(Clone, Debug)]
pub struct SchedulerConfig {
    /// A full pass even without changes (default 5 s).
    pub resync: Duration,
    /// Changes arriving within this window make one pass (default 10 ms).
    pub debounce: Duration,
    /// Also act as the kubelet of every Ready node: pods bound there go Running and Ready
    /// (default true).
    pub run_pods: bool,
    /// Emit `Scheduled` / `FailedScheduling` events as kube-scheduler does (default true).
    pub events: bool,
    /// Pods these Fargate profiles select are left to the Fargate actor; nothing is
    /// scheduled before they are first loaded ([`FargateProfiles::new`], or the Fargate
    /// actor's first read from moto).
    pub fargate: Option<FargateProfiles>,
}

impl Default for SchedulerConfig {
    fn default() -> Self {
        Self {
            resync: Duration::from_secs(5),
            debounce: Duration::from_millis(10),
            run_pods: true,
            events: true,
            fargate: None,
        }
    }
}

/// Starts the scheduler on `store`.
pub fn start(store: Arc<Store>, config: SchedulerConfig) -> ActorHandle {
    ActorHandle::spawn("scheduler", move |stop: StopSignal| async move {
        let mut scheduler = Scheduler::new(config.clone());
        react(
            "scheduler",
            store,
            stop,
            config.resync,
            config.debounce,
            config.fargate.as_ref().map(FargateProfiles::changes),
            |e| is_kind(e, "", "pods") || is_kind(e, "", "nodes"),
            |store| {
                if let Err(e) = scheduler.pass(store) {
                    tracing::warn!(error = %e, "scheduler pass failed");
                }
            },
        )
        .await;
    })
}

/// One node as the scheduler sees it, with what is bound there.
struct NodeInfo {
    name: String,
    labels: BTreeMap<String, String>,
    taints: Vec<Taint>,
    unschedulable: bool,
    ready: bool,
    allocatable: Resources,
    requested: Resources,
    host_ports: Vec<HostPort>,
    host_ip: Option<String>,
}

/// A pod bound to a node (for affinity and spread).
struct Placed {
    namespace: String,
    labels: BTreeMap<String, String>,
    node: usize,
    terminating: bool,
    anti_affinity: Vec<provisioning::model::pod::AffinityTerm>,
}

/// Counts a pod (`model`, in `namespace`) against node `i` (`info`): its requests and host
/// ports, and its place for (anti-)affinity.
fn occupy(
    info: &mut NodeInfo,
    placed: &mut Vec<Placed>,
    i: usize,
    namespace: &str,
    model: &PodModel,
    terminating: bool,
) {
    info.requested.add(&model.requests);
    info.host_ports.extend(model.host_ports.iter().cloned());
    placed.push(Placed {
        namespace: namespace.to_owned(),
        labels: model.labels.clone(),
        node: i,
        terminating,
        anti_affinity: model.anti_affinity.clone(),
    });
}

/// Why a node does not fit; `resolvable` = preemption could in principle help.
struct Reason {
    text: String,
    resolvable: bool,
}

impl Reason {
    fn hard(text: impl Into<String>) -> Self {
        Self {
            text: text.into(),
            resolvable: false,
        }
    }
    fn soft(text: impl Into<String>) -> Self {
        Self {
            text: text.into(),
            resolvable: true,
        }
    }
}

struct Scheduler {
    config: SchedulerConfig,
    /// The FailedScheduling message last reported per pod uid (no duplicate events).
    reported: HashMap<String, String>,
}

/// The `Location` PodModel errors name (pods come from the API, not a file).
fn location(ns: &str, name: &str) -> Location {
    Location {
        file: format!("pod {ns}/{name}"),
        document: 0,
        prefix: String::new(),
    }
}

fn to_pk<T: serde::de::DeserializeOwned>(v: &impl serde::Serialize) -> Result<T> {
    Ok(serde_json::from_value(serde_json::to_value(v)?)?)
}

pub(crate) fn now() -> Time {
    Time(k8s_openapi::jiff::Timestamp::now())
}

fn node_ready(node: &Node) -> bool {
    node.status
        .as_ref()
        .and_then(|s| s.conditions.as_ref())
        .is_some_and(|cs| cs.iter().any(|c| c.type_ == "Ready" && c.status == "True"))
}

fn finished(pod: &Pod) -> bool {
    matches!(
        pod.status.as_ref().and_then(|s| s.phase.as_deref()),
        Some("Succeeded" | "Failed")
    )
}

fn node_name(pod: &Pod) -> Option<&str> {
    pod.spec
        .as_ref()
        .and_then(|s| s.node_name.as_deref())
        .filter(|n| !n.is_empty())
}

/// Whether kube-scheduler would consider `pod` at all: unbound, ours, not gated, alive.
pub(crate) fn is_pending_for(pod: &Pod, scheduler_names: &[&str]) -> bool {
    let Some(spec) = pod.spec.as_ref() else {
        return false;
    };
    let name = spec.scheduler_name.as_deref().unwrap_or("");
    node_name(pod).is_none()
        && pod.metadata.deletion_timestamp.is_none()
        && !finished(pod)
        && (name.is_empty() || scheduler_names.contains(&name))
        && spec.scheduling_gates.as_ref().is_none_or(Vec::is_empty)
}

fn pod_key(pod: &Pod) -> (String, String) {
    (
        pod.metadata
            .namespace
            .clone()
            .unwrap_or_else(|| "default".into()),
        pod.metadata.name.clone().unwrap_or_default(),
    )
}

impl Scheduler {
    fn new(config: SchedulerConfig) -> Self {
        Self {
            config,
            reported: HashMap::new(),
        }
    }

    fn pass(&mut self, store: &Arc<Store>) -> Result<()> {
        if self.config.fargate.as_ref().is_some_and(|f| !f.loaded()) {
            // Until the Fargate profiles are known, any pod might be a Fargate pod.
            tracing::debug!("waiting for the fargate profiles");
            return Ok(());
        }
        let objects = Objects::new(store);
        let nodes: Vec<Node> = objects.list(None)?;
        let pods: Vec<Pod> = objects.list(None)?;
        let mut infos = Vec::with_capacity(nodes.len());
        for node in &nodes {
            let parsed: pk::Node = match to_pk(node) {
                Ok(n) => n,
                Err(e) => {
                    let name = node.metadata.name.as_deref().unwrap_or_default();
                    tracing::warn!(node = name, error = %e, "node not understood; skipped");
                    continue;
                }
            };
            let mut taints: Vec<Taint> = parsed.spec.taints.iter().map(Taint::from).collect();
            let ready = node_ready(node);
            if !ready
                && !taints
                    .iter()
                    .any(|t| t.key == "node.kubernetes.io/not-ready")
            {
                taints.push(Taint {
                    key: "node.kubernetes.io/not-ready".into(),
                    value: None,
                    effect: Effect::NoSchedule,
                });
            }
            infos.push(NodeInfo {
                name: node.metadata.name.clone().unwrap_or_default(),
                labels: parsed.metadata.labels.clone(),
                taints,
                unschedulable: parsed.spec.unschedulable,
                ready,
                allocatable: to_resources(&parsed.status.allocatable),
                requested: Resources::new(),
                host_ports: Vec::new(),
                host_ip: node
                    .status
                    .as_ref()
                    .and_then(|s| s.addresses.as_ref())
                    .and_then(|a| a.iter().find(|a| a.type_ == "InternalIP"))
                    .map(|a| a.address.clone()),
            });
        }
        let index: HashMap<String, usize> = infos
            .iter()
            .enumerate()
            .map(|(i, n)| (n.name.clone(), i))
            .collect();
        let mut placed = Vec::new();
        let mut pending = Vec::new();
        let mut to_run = Vec::new();
        let names = [DEFAULT_SCHEDULER];
        for pod in &pods {
            let (ns, name) = pod_key(pod);
            if let Some(node) = node_name(pod) {
                if finished(pod) {
                    continue;
                }
                let Some(&i) = index.get(node) else { continue };
                let Some(model) = self.model(pod) else {
                    continue;
                };
                let terminating = pod.metadata.deletion_timestamp.is_some();
                occupy(&mut infos[i], &mut placed, i, &ns, &model, terminating);
                let phase = pod.status.as_ref().and_then(|s| s.phase.as_deref());
                if self.config.run_pods
                    && infos[i].ready
                    && pod.metadata.deletion_timestamp.is_none()
                    && matches!(phase, None | Some("Pending"))
                {
                    to_run.push((ns, name, i));
                }
            } else if is_pending_for(pod, &names)
                && self
                    .config
                    .fargate
                    .as_ref()
                    .is_none_or(|f| f.selects(pod).is_none())
            {
                pending.push(pod);
            }
        }
        pending.sort_by(|a, b| {
            let prio = |p: &Pod| p.spec.as_ref().and_then(|s| s.priority).unwrap_or(0);
            prio(b)
                .cmp(&prio(a))
                .then_with(|| {
                    let t = |p: &Pod| p.metadata.creation_timestamp.as_ref().map(|t| t.0);
                    t(a).cmp(&t(b))
                })
                .then_with(|| pod_key(a).cmp(&pod_key(b)))
        });
        // Forget what was reported for pods that are no longer pending.
        let waiting: std::collections::HashSet<&str> = pending
            .iter()
            .filter_map(|p| p.metadata.uid.as_deref())
            .collect();
        self.reported
            .retain(|uid, _| waiting.contains(uid.as_str()));
        for pod in pending {
            let (ns, name) = pod_key(pod);
            let Some(model) = self.model(pod) else {
                continue;
            };
            let Ok(raw) = to_pk::<pk::Pod>(pod) else {
                continue;
            };
            match choose(&model, &raw.spec, &infos, &placed) {
                Ok(i) => {
                    if bind(&objects, &ns, &name, &infos[i].name)? {
                        tracing::debug!(pod = %model.key(), node = %infos[i].name, "bound");
                        if self.config.events {
                            let message =
                                format!("Successfully assigned {ns}/{name} to {}", infos[i].name);
                            record_event(&objects, pod, "Normal", "Scheduled", &message);
                        }
                        if let Some(uid) = &pod.metadata.uid {
                            self.reported.remove(uid);
                        }
                        occupy(&mut infos[i], &mut placed, i, &ns, &model, false);
                        if self.config.run_pods && infos[i].ready {
                            to_run.push((ns, name, i));
                        }
                    }
                }
                Err(message) => {
                    mark_unschedulable(&objects, &ns, &name, &message)?;
                    let uid = pod.metadata.uid.clone().unwrap_or_default();
                    if self.config.events && self.reported.get(&uid) != Some(&message) {
                        record_event(&objects, pod, "Warning", "FailedScheduling", &message);
                        self.reported.insert(uid, message);
                    }
                }
            }
        }
        for (ns, name, i) in to_run {
            run_pod(&objects, &ns, &name, infos[i].host_ip.as_deref())?;
        }
        Ok(())
    }

    fn model(&self, pod: &Pod) -> Option<PodModel> {
        let (ns, name) = pod_key(pod);
        let parsed: pk::Pod = match to_pk(pod) {
            Ok(p) => p,
            Err(e) => {
                tracing::warn!(pod = %format!("{ns}/{name}"), error = %e, "pod not understood; skipped");
                return None;
            }
        };
        match PodModel::from_manifest(
            &location(&ns, &name),
            "spec",
            &parsed.metadata,
            &parsed.spec,
            name.clone(),
        ) {
            Ok(mut m) => {
                m.namespace = ns;
                Some(m)
            }
            Err(e) => {
                tracing::warn!(pod = %format!("{ns}/{name}"), error = %e, "pod not understood; skipped");
                None
            }
        }
    }
}
