//! The disruption controller stand-in: keeps every PodDisruptionBudget's status current as
//! pods, budgets and workloads change, as kube-controller-manager's disruption controller
//! (`pkg/controller/disruption`) does:
//!
//! * pods: those in the budget's namespace its selector matches (a missing selector
//!   matches none, an empty one all);
//! * `expectedPods`: with an integer `minAvailable`, the number of those pods; otherwise
//!   (`maxUnavailable`, or a percentage) the sum of their controllers' scale — a
//!   ReplicaSet's replicas (its Deployment's when it has one), a StatefulSet's or
//!   ReplicationController's; pods of another controller count one each; pods without a
//!   controller are "unmanaged" and not counted;
//! * `desiredHealthy`: `minAvailable`, or `expectedPods - maxUnavailable` (percentages of
//!   `expectedPods` rounded up), at least 0;
//! * `currentHealthy`: Ready pods neither terminating nor in `disruptedPods`;
//! * `disruptionsAllowed`: `currentHealthy - desiredHealthy`, 0 when negative or when no
//!   pods are expected;
//! * `disruptedPods` entries (written by evictions) dropped once their pod is gone or
//!   terminating, or after 2 minutes;
//! * the `DisruptionAllowed` condition (`SufficientPods` / `InsufficientPods`) and
//!   `observedGeneration`.
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use k8s_openapi::api::apps::v1::{Deployment, ReplicaSet, StatefulSet};
use k8s_openapi::api::core::v1::{Pod, ReplicationController};
use k8s_openapi::api::policy::v1::{PodDisruptionBudget, PodDisruptionBudgetStatus};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{Condition, LabelSelector, Time};
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;

use super::scheduler::now;
use super::{ActorHandle, StopSignal, is_kind, react};
use crate::Result;
use crate::kube::{Objects, Store};

/// How long an eviction's `disruptedPods` entry holds (the controller's DeletionTimeout).
const DELETION_TIMEOUT: Duration = Duration::from_secs(120);

/// Disruption-controller settings.
#[derive(Clone, Debug)]
pub struct DisruptionConfig {
    /// A full pass even without changes (default 5 s; also expires `disruptedPods`).
    pub resync: Duration,
    /// Changes arriving within this window make one pass (default 10 ms).
    pub debounce: Duration,
}

impl Default for DisruptionConfig {
    fn default() -> Self {
        Self {
            resync: Duration::from_secs(5),
            debounce: Duration::from_millis(10),
        }
    }
}

/// Starts the disruption controller on `store`.
pub fn start(store: Arc<Store>, config: DisruptionConfig) -> ActorHandle {
    ActorHandle::spawn("disruption", move |stop: StopSignal| async move {
        react(
            "disruption",
            store,
            stop,
            config.resync,
            config.debounce,
            None,
            |e| {
                is_kind(e, "", "pods")
                    || is_kind(e, "policy", "poddisruptionbudgets")
                    || is_kind(e, "apps", "replicasets")
                    || is_kind(e, "apps", "statefulsets")
                    || is_kind(e, "apps", "deployments")
                    || is_kind(e, "", "replicationcontrollers")
            },
            |store| {
                if let Err(e) = refresh(store) {
                    tracing::warn!(error = %e, "disruption controller pass failed");
                }
            },
        )
        .await;
    })
}

/// `matchLabels` and `matchExpressions` (In, NotIn, Exists, DoesNotExist).
fn selector_matches(sel: &LabelSelector, labels: &BTreeMap<String, String>) -> bool {
    sel.match_labels
        .iter()
        .flatten()
        .all(|(k, v)| labels.get(k) == Some(v))
        && sel.match_expressions.iter().flatten().all(|e| {
            let values = e.values.as_deref().unwrap_or_default();
            let have = labels.get(&e.key);
            match e.operator.as_str() {
                "In" => have.is_some_and(|v| values.contains(v)),
                "NotIn" => have.is_none_or(|v| !values.contains(v)),
                "Exists" => have.is_some(),
                "DoesNotExist" => have.is_none(),
                _ => false,
            }
        })
}

fn ready(pod: &Pod) -> bool {
    pod.status
        .as_ref()
        .and_then(|s| s.conditions.as_ref())
        .is_some_and(|cs| cs.iter().any(|c| c.type_ == "Ready" && c.status == "True"))
}

/// An integer, or a percentage of `total` rounded up.
fn scaled(v: &IntOrString, total: i32) -> i32 {
    match v {
        IntOrString::Int(i) => *i,
        IntOrString::String(s) => match s.strip_suffix('%') {
            Some(p) => {
                let p: i64 = p.trim().parse().unwrap_or(0);
                ((p * i64::from(total) + 99) / 100) as i32
            }
            None => s.parse().unwrap_or(0),
        },
    }
}

/// The sum of the scale of the controllers of `pods` (each counted once).
fn expected_scale(objects: &Objects<'_>, ns: &str, pods: &[&Pod]) -> i32 {
    let mut seen: BTreeMap<String, i32> = BTreeMap::new();
    for pod in pods {
        let Some(owner) = pod
            .metadata
            .owner_references
            .iter()
            .flatten()
            .find(|o| o.controller == Some(true))
        else {
            continue; // unmanaged
        };
        if seen.contains_key(&owner.uid) {
            continue;
        }
        let scale = match owner.kind.as_str() {
            "ReplicaSet" => objects
                .get::<ReplicaSet>(Some(ns), &owner.name)
                .ok()
                .map(|rs| {
                    let deployment = rs
                        .metadata
                        .owner_references
                        .iter()
                        .flatten()
                        .find(|o| o.controller == Some(true) && o.kind == "Deployment")
                        .and_then(|o| objects.get::<Deployment>(Some(ns), &o.name).ok());
                    match deployment {
                        Some(d) => d.spec.replicas.unwrap_or(1),
                        None => rs.spec.replicas.unwrap_or(1),
                    }
                }),
            "StatefulSet" => objects
                .get::<StatefulSet>(Some(ns), &owner.name)
                .ok()
                .map(|s| s.spec.replicas.unwrap_or(1)),
            "ReplicationController" => objects
                .get::<ReplicationController>(Some(ns), &owner.name)
                .ok()
                .map(|s| s.spec.and_then(|s| s.replicas).unwrap_or(1)),
            _ => None,
        };
        let scale = scale.unwrap_or_else(|| {
            pods.iter()
                .filter(|p| {
                    p.metadata
                        .owner_references
                        .iter()
                        .flatten()
                        .any(|o| o.uid == owner.uid)
                })
                .count() as i32
        });
        seen.insert(owner.uid.clone(), scale);
    }
    seen.values().sum()
}

/// Recomputes every PodDisruptionBudget's status. Returns how many changed.
pub fn refresh(store: &Arc<Store>) -> Result<usize> {
    let objects = Objects::new(store);
    let budgets: Vec<PodDisruptionBudget> = objects.list(None)?;
    let pods: Vec<Pod> = objects.list(None)?;
    let current = now();
    let mut changed = 0;
    for pdb in budgets {
        let ns = pdb.metadata.namespace.clone().unwrap_or_default();
        let name = pdb.metadata.name.clone().unwrap_or_default();
        let spec = pdb.spec.clone().unwrap_or_default();
        let matching: Vec<&Pod> = match &spec.selector {
            None => Vec::new(),
            Some(sel) => pods
                .iter()
                .filter(|p| p.metadata.namespace.as_deref() == Some(ns.as_str()))
                .filter(|p| {
                    selector_matches(sel, p.metadata.labels.as_ref().unwrap_or(&BTreeMap::new()))
                })
                .collect(),
        };
        let (expected, desired) = match (&spec.min_available, &spec.max_unavailable) {
            (Some(IntOrString::Int(min)), _) => (matching.len() as i32, *min),
            (Some(min), _) => {
                let expected = expected_scale(&objects, &ns, &matching);
                (expected, scaled(min, expected))
            }
            (None, Some(max)) => {
                let expected = expected_scale(&objects, &ns, &matching);
                (expected, (expected - scaled(max, expected)).max(0))
            }
            (None, None) => (matching.len() as i32, 0),
        };
        let old = pdb.status.clone().unwrap_or_default();
        let disrupted: BTreeMap<String, Time> = old
            .disrupted_pods
            .clone()
            .unwrap_or_default()
            .into_iter()
            .filter(|(pod, at)| {
                let alive = matching.iter().any(|p| {
                    p.metadata.name.as_deref() == Some(pod)
                        && p.metadata.deletion_timestamp.is_none()
                });
                let age = current.0.duration_since(at.0).unsigned_abs();
                alive && age < DELETION_TIMEOUT
            })
            .collect();
        let healthy = matching
            .iter()
            .filter(|p| {
                p.metadata.deletion_timestamp.is_none()
                    && !p
                        .metadata
                        .name
                        .as_ref()
                        .is_some_and(|n| disrupted.contains_key(n))
                    && ready(p)
            })
            .count() as i32;
        let mut allowed = healthy - desired;
        if expected <= 0 || allowed <= 0 {
            allowed = 0;
        }
        let generation = pdb.metadata.generation;
        let (cond_status, reason) = if allowed > 0 {
            ("True", "SufficientPods")
        } else {
            ("False", "InsufficientPods")
        };
        let mut conditions = old.conditions.clone().unwrap_or_default();
        match conditions
            .iter_mut()
            .find(|c| c.type_ == "DisruptionAllowed")
        {
            Some(c) => {
                if c.status != cond_status {
                    c.last_transition_time = current.clone();
                }
                c.status = cond_status.into();
                c.reason = reason.into();
                c.message = String::new();
                c.observed_generation = generation;
            }
            None => conditions.push(Condition {
                type_: "DisruptionAllowed".into(),
                status: cond_status.into(),
                reason: reason.into(),
                message: String::new(),
                observed_generation: generation,
                last_transition_time: current.clone(),
            }),
        }
        let next = PodDisruptionBudgetStatus {
            conditions: Some(conditions),
            current_healthy: Some(healthy),
            desired_healthy: Some(desired),
            disrupted_pods: if disrupted.is_empty() {
                None
            } else {
                Some(disrupted)
            },
            disruptions_allowed: Some(allowed),
            expected_pods: Some(expected),
            observed_generation: generation,
        };
        if pdb.status.as_ref() == Some(&next) {
            continue;
        }
        // Only over the status this was computed from (an eviction in between wins; its
        // change brings another pass).
        let seen = pdb.metadata.resource_version.clone();
        let mut written = false;
        match objects.modify::<PodDisruptionBudget>(Some(&ns), &name, |p| {
            if p.metadata.resource_version == seen {
                p.status = Some(next);
                written = true;
            }
        }) {
            Ok(_) => changed += usize::from(written),
            Err(crate::Error::Api {
                code: 404 | 409, ..
            }) => {}
            Err(e) => return Err(e),
        }
    }
    Ok(changed)
}
