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
use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use k8s_openapi::api::core::v1::{
    ContainerState, ContainerStateRunning, ContainerStatus, Event, EventSource, Node,
    ObjectReference, Pod, PodCondition, PodIP,
};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{MicroTime, ObjectMeta, Time};
use provisioning::api::k8s as pk;
use provisioning::api::to_resources;
use provisioning::input::Location;
use provisioning::model::pod::{HostPort, PodModel};
use provisioning::requirements::Requirements;
use provisioning::resources::{CPU, MEMORY, Resources};
use provisioning::taints::{Effect, Taint, first_untolerated};

use super::fargate::FargateProfiles;
use super::{ActorHandle, StopSignal, is_kind, react};
use crate::Result;
use crate::kube::{Objects, Store};

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
                infos[i].requested.add(&model.requests);
                infos[i].host_ports.extend(model.host_ports.iter().cloned());
                placed.push(Placed {
                    namespace: ns.clone(),
                    labels: model.labels.clone(),
                    node: i,
                    terminating: pod.metadata.deletion_timestamp.is_some(),
                    anti_affinity: model.anti_affinity.clone(),
                });
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
                        infos[i].requested.add(&model.requests);
                        infos[i].host_ports.extend(model.host_ports.iter().cloned());
                        placed.push(Placed {
                            namespace: ns.clone(),
                            labels: model.labels.clone(),
                            node: i,
                            terminating: false,
                            anti_affinity: model.anti_affinity.clone(),
                        });
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

/// The best feasible node, or kube-scheduler's FitError message.
fn choose(
    pod: &PodModel,
    spec: &pk::PodSpec,
    nodes: &[NodeInfo],
    placed: &[Placed],
) -> std::result::Result<usize, String> {
    if nodes.is_empty() {
        return Err("no nodes available to schedule pods".into());
    }
    let mut feasible = Vec::new();
    let mut reasons: BTreeMap<String, usize> = BTreeMap::new();
    let mut preemption: BTreeMap<&str, usize> = BTreeMap::new();
    for (i, node) in nodes.iter().enumerate() {
        match filter(pod, spec, node, nodes, placed) {
            Ok(()) => feasible.push(i),
            Err(rs) => {
                let resolvable = rs.iter().all(|r| r.resolvable);
                for r in rs {
                    *reasons.entry(r.text).or_default() += 1;
                }
                let p = if resolvable {
                    "No preemption victims found for incoming pod"
                } else {
                    "Preemption is not helpful for scheduling"
                };
                *preemption.entry(p).or_default() += 1;
            }
        }
    }
    if let Some(best) = feasible.into_iter().max_by(|&a, &b| {
        score(pod, &nodes[a])
            .total_cmp(&score(pod, &nodes[b]))
            .then_with(|| nodes[b].name.cmp(&nodes[a].name))
    }) {
        return Ok(best);
    }
    let histogram = |m: BTreeMap<String, usize>| {
        let mut v: Vec<String> = m.into_iter().map(|(k, n)| format!("{n} {k}")).collect();
        v.sort();
        v.join(", ")
    };
    let total = nodes.len();
    let pre = histogram(
        preemption
            .into_iter()
            .map(|(k, v)| (k.to_string(), v))
            .collect(),
    );
    Err(format!(
        "0/{total} nodes are available: {}. preemption: 0/{total} nodes are available: {pre}.",
        histogram(reasons)
    ))
}

/// NodeResourcesLeastAllocated over cpu and memory: the free share after placing.
fn score(pod: &PodModel, node: &NodeInfo) -> f64 {
    let free = |r: usize| {
        let alloc = node.allocatable.fixed(r);
        if alloc <= 0 {
            return 0.0;
        }
        let used = node.requested.fixed(r) + pod.requests.fixed(r);
        (alloc - used).max(0) as f64 / alloc as f64
    };
    (free(CPU) + free(MEMORY)) / 2.0
}

/// The filter plugins in kube-scheduler's order; the first failing one's reasons.
fn filter(
    pod: &PodModel,
    spec: &pk::PodSpec,
    node: &NodeInfo,
    nodes: &[NodeInfo],
    placed: &[Placed],
) -> std::result::Result<(), Vec<Reason>> {
    // NodeUnschedulable.
    if node.unschedulable {
        let cordon = Taint {
            key: "node.kubernetes.io/unschedulable".into(),
            value: None,
            effect: Effect::NoSchedule,
        };
        if first_untolerated(std::slice::from_ref(&cordon), &pod.tolerations, false).is_some() {
            return Err(vec![Reason::hard("node(s) were unschedulable")]);
        }
    }
    // TaintToleration (NoSchedule and NoExecute; PreferNoSchedule only scores).
    if let Some(t) = first_untolerated(&node.taints, &pod.tolerations, false) {
        return Err(vec![Reason::hard(format!(
            "node(s) had untolerated taint {{{}: {}}}",
            t.key,
            t.value.as_deref().unwrap_or("")
        ))]);
    }
    // NodeAffinity.
    if !node_affinity_matches(pod, spec, node) {
        return Err(vec![Reason::hard(
            "node(s) didn't match Pod's node affinity/selector",
        )]);
    }
    // NodePorts.
    if pod
        .host_ports
        .iter()
        .any(|p| node.host_ports.iter().any(|q| p.conflicts(q)))
    {
        return Err(vec![Reason::soft(
            "node(s) didn't have free ports for the requested pod ports",
        )]);
    }
    // NodeResourcesFit.
    let mut insufficient = Vec::new();
    for (name, want) in pod.requests.iter() {
        if want > 0 && node.requested.get(name) + want > node.allocatable.get(name) {
            insufficient.push(Reason::soft(if name == "pods" {
                "Too many pods".to_string()
            } else {
                format!("Insufficient {name}")
            }));
        }
    }
    if !insufficient.is_empty() {
        return Err(insufficient);
    }
    // PodTopologySpread (DoNotSchedule).
    for c in pod.spreads.iter().filter(|c| c.required) {
        let Some(domain) = node.labels.get(&c.topology_key) else {
            return Err(vec![Reason::hard(
                "node(s) didn't match pod topology spread constraints (missing required label)",
            )]);
        };
        let eligible = |n: &NodeInfo| {
            n.labels.contains_key(&c.topology_key)
                && (!c.honor_node_affinity || node_affinity_matches(pod, spec, n))
                && (!c.honor_taints
                    || first_untolerated(&n.taints, &pod.tolerations, false).is_none())
        };
        let mut counts: BTreeMap<&str, usize> = BTreeMap::new();
        for n in nodes.iter().filter(|n| eligible(n)) {
            counts
                .entry(n.labels[&c.topology_key].as_str())
                .or_default();
        }
        for p in placed.iter().filter(|p| !p.terminating) {
            let n = &nodes[p.node];
            if eligible(n) && c.selects(&p.namespace, &p.labels) {
                *counts
                    .entry(n.labels[&c.topology_key].as_str())
                    .or_default() += 1;
            }
        }
        let mut min = counts.values().copied().min().unwrap_or(0);
        if c.min_domains.is_some_and(|m| (counts.len() as u32) < m) {
            min = 0;
        }
        let own = counts.get(domain.as_str()).copied().unwrap_or(0);
        let self_match = usize::from(c.selects(&pod.namespace, &pod.labels));
        if own + self_match > min + c.max_skew as usize {
            return Err(vec![Reason::soft(
                "node(s) didn't match pod topology spread constraints",
            )]);
        }
    }
    // InterPodAffinity, in its order: the pod's affinity, its anti-affinity, then the
    // anti-affinity of the pods already placed.
    let same_domain = |key: &str, other: usize| {
        node.labels
            .get(key)
            .is_some_and(|v| nodes[other].labels.get(key) == Some(v))
    };
    for t in &pod.affinity {
        let matching: Vec<&Placed> = placed
            .iter()
            .filter(|p| t.selects(&p.namespace, &p.labels))
            .collect();
        let ok = if matching.is_empty() {
            // The first pod of a group that selects itself may go anywhere the key exists.
            t.selects(&pod.namespace, &pod.labels) && node.labels.contains_key(&t.topology_key)
        } else {
            matching
                .iter()
                .any(|p| same_domain(&t.topology_key, p.node))
        };
        if !ok {
            return Err(vec![Reason::hard(
                "node(s) didn't match pod affinity rules",
            )]);
        }
    }
    for t in &pod.anti_affinity {
        if placed
            .iter()
            .any(|p| t.selects(&p.namespace, &p.labels) && same_domain(&t.topology_key, p.node))
        {
            return Err(vec![Reason::soft(
                "node(s) didn't match pod anti-affinity rules",
            )]);
        }
    }
    for p in placed {
        for t in &p.anti_affinity {
            if t.selects(&pod.namespace, &pod.labels) && same_domain(&t.topology_key, p.node) {
                return Err(vec![Reason::soft(
                    "node(s) didn't satisfy existing pods anti-affinity rules",
                )]);
            }
        }
    }
    Ok(())
}

/// nodeSelector, and any one required node-affinity term (its expressions on labels, its
/// `matchFields` on `metadata.name`; an empty term matches nothing).
fn node_affinity_matches(pod: &PodModel, spec: &pk::PodSpec, node: &NodeInfo) -> bool {
    if pod.node_selector.matches_labels(&node.labels).is_err() {
        return false;
    }
    let Some(required) = spec
        .affinity
        .as_ref()
        .and_then(|a| a.node_affinity.as_ref())
        .and_then(|na| {
            na.required_during_scheduling_ignored_during_execution
                .as_ref()
        })
    else {
        return true;
    };
    required
        .node_selector_terms
        .iter()
        .zip(&pod.required_terms)
        .any(|(term, exprs): (_, &Requirements)| {
            if term.match_expressions.is_empty() && term.match_fields.is_empty() {
                return false;
            }
            exprs.matches_labels(&node.labels).is_ok()
                && term.match_fields.iter().all(|f| {
                    let values: Vec<&str> = f.values.iter().map(|v| v.0.as_str()).collect();
                    f.key == "metadata.name"
                        && match f.operator.as_str() {
                            "In" => values.contains(&node.name.as_str()),
                            "NotIn" => !values.contains(&node.name.as_str()),
                            _ => false,
                        }
                })
        })
}

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
fn mark_unschedulable(objects: &Objects<'_>, ns: &str, name: &str, message: &str) -> Result<()> {
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
