//! A pod as the scheduler sees it: total requests, node requirements, tolerations and
//! topology constraints, converted and validated from the manifest.

use std::collections::BTreeMap;

use crate::api::k8s::{self, LabelSelector, NodeSelectorRequirement, PodSpec};
use crate::api::to_resources;
use crate::error::Result;
use crate::input::Location;
use crate::requirements::{Operator, Requirement, Requirements};
use crate::resources::{PODS, Resources};
use crate::selector::{Selector, SelectorOp};
use crate::taints::{Effect, Toleration, TolerationOperator};

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Namespaces {
    All,
    Only(Vec<String>),
}

impl Namespaces {
    pub fn contains(&self, ns: &str) -> bool {
        match self {
            Namespaces::All => true,
            Namespaces::Only(list) => list.iter().any(|n| n == ns),
        }
    }
}

/// A pod (anti-)affinity term.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct AffinityTerm {
    pub selector: Option<Selector>,
    pub namespaces: Namespaces,
    pub topology_key: String,
}

impl AffinityTerm {
    pub fn selects(&self, namespace: &str, labels: &BTreeMap<String, String>) -> bool {
        self.namespaces.contains(namespace)
            && self.selector.as_ref().is_some_and(|s| s.matches(labels))
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct SpreadConstraint {
    pub max_skew: u32,
    pub topology_key: String,
    /// DoNotSchedule; ScheduleAnyway constraints are preferences.
    pub required: bool,
    pub selector: Option<Selector>,
    pub namespace: String,
    pub min_domains: Option<u32>,
    /// nodeAffinityPolicy Honor (the default): only domains the pod may use count.
    pub honor_node_affinity: bool,
    /// nodeTaintsPolicy Honor: only domains of nodes whose taints the pod tolerates.
    pub honor_taints: bool,
}

impl SpreadConstraint {
    pub fn selects(&self, namespace: &str, labels: &BTreeMap<String, String>) -> bool {
        self.namespace == namespace && self.selector.as_ref().is_some_and(|s| s.matches(labels))
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct HostPort {
    pub port: i32,
    pub protocol: String,
    pub ip: String,
}

impl HostPort {
    pub fn conflicts(&self, other: &HostPort) -> bool {
        self.port == other.port
            && self.protocol == other.protocol
            && (self.ip == other.ip || self.ip == "0.0.0.0" || other.ip == "0.0.0.0")
    }
}

#[derive(Debug, Clone)]
pub struct PodModel {
    pub namespace: String,
    pub name: String,
    pub labels: BTreeMap<String, String>,
    pub node_name: Option<String>,
    pub requests: Resources,
    pub node_selector: Requirements,
    /// Required node affinity: any one term must hold.
    pub required_terms: Vec<Requirements>,
    /// Preferred node affinity, heaviest first.
    pub preferred_terms: Vec<Requirements>,
    pub tolerations: Vec<Toleration>,
    pub spreads: Vec<SpreadConstraint>,
    pub affinity: Vec<AffinityTerm>,
    pub anti_affinity: Vec<AffinityTerm>,
    /// Preferred pod affinity / anti-affinity, heaviest first.
    pub preferred_affinity: Vec<AffinityTerm>,
    pub preferred_anti_affinity: Vec<AffinityTerm>,
    pub host_ports: Vec<HostPort>,
    pub daemonset_owned: bool,
}

impl PodModel {
    pub fn key(&self) -> String {
        format!("{}/{}", self.namespace, self.name)
    }

    /// Converts a pod spec; `base` is the path of the spec in the document.
    pub fn from_manifest(
        loc: &Location,
        base: &str,
        meta: &k8s::ObjectMeta,
        spec: &PodSpec,
        name: String,
    ) -> Result<PodModel> {
        let namespace = meta
            .namespace
            .clone()
            .filter(|n| !n.is_empty())
            .unwrap_or_else(|| "default".into());
        let at = |p: String| format!("{base}.{p}");
        let mut node_selector = Requirements::new();
        for (k, v) in &spec.node_selector {
            node_selector.add(k, Requirement::exactly(v));
        }
        let mut required_terms = Vec::new();
        let mut preferred = Vec::new();
        let mut affinity = Vec::new();
        let mut anti_affinity = Vec::new();
        let mut preferred_affinity = Vec::new();
        let mut preferred_anti_affinity = Vec::new();
        if let Some(aff) = &spec.affinity {
            if let Some(na) = &aff.node_affinity {
                let req_path = "affinity.nodeAffinity.requiredDuringSchedulingIgnoredDuringExecution.nodeSelectorTerms";
                if let Some(required) = &na.required_during_scheduling_ignored_during_execution {
                    for (i, term) in required.node_selector_terms.iter().enumerate() {
                        let path = at(format!("{req_path}[{i}].matchExpressions"));
                        required_terms.push(node_requirements(
                            loc,
                            &path,
                            &term.match_expressions,
                            false,
                        )?);
                    }
                }
                let pref_path =
                    "affinity.nodeAffinity.preferredDuringSchedulingIgnoredDuringExecution";
                for (i, p) in na
                    .preferred_during_scheduling_ignored_during_execution
                    .iter()
                    .enumerate()
                {
                    let path = at(format!("{pref_path}[{i}].preference.matchExpressions"));
                    preferred.push((
                        p.weight,
                        node_requirements(loc, &path, &p.preference.match_expressions, false)?,
                    ));
                }
            }
            let terms = |which: &Option<k8s::PodAffinity>,
                         name: &str,
                         req: &mut Vec<AffinityTerm>,
                         pref: &mut Vec<AffinityTerm>|
             -> Result<()> {
                let Some(pa) = which else { return Ok(()) };
                for (i, t) in pa
                    .required_during_scheduling_ignored_during_execution
                    .iter()
                    .enumerate()
                {
                    let path = at(format!(
                        "affinity.{name}.requiredDuringSchedulingIgnoredDuringExecution[{i}]"
                    ));
                    req.push(affinity_term(loc, &path, t, &namespace, &meta.labels)?);
                }
                let mut weighted = Vec::new();
                for (i, t) in pa
                    .preferred_during_scheduling_ignored_during_execution
                    .iter()
                    .enumerate()
                {
                    let path = at(format!(
                        "affinity.{name}.preferredDuringSchedulingIgnoredDuringExecution[{i}].podAffinityTerm"
                    ));
                    weighted.push((
                        t.weight,
                        affinity_term(loc, &path, &t.pod_affinity_term, &namespace, &meta.labels)?,
                    ));
                }
                weighted.sort_by_key(|(w, _)| -w);
                pref.extend(weighted.into_iter().map(|(_, t)| t));
                Ok(())
            };
            terms(
                &aff.pod_affinity,
                "podAffinity",
                &mut affinity,
                &mut preferred_affinity,
            )?;
            terms(
                &aff.pod_anti_affinity,
                "podAntiAffinity",
                &mut anti_affinity,
                &mut preferred_anti_affinity,
            )?;
        }
        preferred.sort_by_key(|(w, _)| -w);
        let mut tolerations = Vec::new();
        for (i, t) in spec.tolerations.iter().enumerate() {
            let operator = match t.operator.as_deref() {
                None | Some("Equal") | Some("") => TolerationOperator::Equal,
                Some("Exists") => TolerationOperator::Exists,
                Some(other) => {
                    return Err(loc.error(
                        at(format!("tolerations[{i}].operator")),
                        format!("unknown operator {other:?} (Equal or Exists)"),
                    ));
                }
            };
            let effect = match t.effect.as_deref() {
                None | Some("") => None,
                Some(e) => Some(Effect::parse(e).ok_or_else(|| {
                    loc.error(
                        at(format!("tolerations[{i}].effect")),
                        format!(
                            "unknown taint effect {e:?} (NoSchedule, PreferNoSchedule or NoExecute)"
                        ),
                    )
                })?),
            };
            tolerations.push(Toleration {
                key: t.key.clone().unwrap_or_default(),
                operator,
                value: t.value.as_ref().map(|v| v.0.clone()).unwrap_or_default(),
                effect,
            });
        }
        let mut spreads = Vec::new();
        for (i, c) in spec.topology_spread_constraints.iter().enumerate() {
            let path = at(format!("topologySpreadConstraints[{i}]"));
            let required = match c.when_unsatisfiable.as_str() {
                "DoNotSchedule" | "" => true,
                "ScheduleAnyway" => false,
                other => {
                    return Err(loc.error(
                        format!("{path}.whenUnsatisfiable"),
                        format!("unknown value {other:?} (DoNotSchedule or ScheduleAnyway)"),
                    ));
                }
            };
            if c.max_skew < 1 {
                return Err(loc.error(format!("{path}.maxSkew"), "must be at least 1"));
            }
            let mut selector = c
                .label_selector
                .as_ref()
                .map(|s| selector(loc, &format!("{path}.labelSelector"), s))
                .transpose()?;
            if let Some(sel) = selector.as_mut() {
                for key in &c.match_label_keys {
                    if let Some(v) = meta.labels.get(key) {
                        sel.match_labels.insert(key.clone(), v.clone());
                    }
                }
            }
            spreads.push(SpreadConstraint {
                max_skew: c.max_skew as u32,
                topology_key: c.topology_key.clone(),
                required,
                selector,
                namespace: namespace.clone(),
                min_domains: c.min_domains.filter(|m| *m > 0).map(|m| m as u32),
                honor_node_affinity: c.node_affinity_policy.as_deref() != Some("Ignore"),
                honor_taints: c.node_taints_policy.as_deref() == Some("Honor"),
            });
        }
        let mut host_ports = Vec::new();
        for c in spec.containers.iter().chain(spec.init_containers.iter()) {
            for p in &c.ports {
                if let Some(port) = p.host_port.filter(|p| *p > 0) {
                    host_ports.push(HostPort {
                        port,
                        protocol: p.protocol.clone().unwrap_or_else(|| "TCP".into()),
                        ip: p
                            .host_ip
                            .clone()
                            .filter(|ip| !ip.is_empty())
                            .unwrap_or_else(|| "0.0.0.0".into()),
                    });
                }
            }
        }
        Ok(PodModel {
            namespace,
            name,
            labels: meta.labels.clone(),
            node_name: spec.node_name.clone().filter(|n| !n.is_empty()),
            requests: pod_requests(spec),
            node_selector,
            required_terms,
            preferred_terms: preferred.into_iter().map(|(_, r)| r).collect(),
            tolerations,
            spreads,
            affinity,
            anti_affinity,
            preferred_affinity,
            preferred_anti_affinity,
            host_ports,
            daemonset_owned: meta.owner_references.iter().any(|o| o.kind == "DaemonSet"),
        })
    }
}

/// What a pod requests: the larger of its running containers (with sidecars) and its
/// init phase, plus overhead, plus one pod slot.
pub fn pod_requests(spec: &PodSpec) -> Resources {
    let container = |c: &k8s::Container| {
        let mut list = c.resources.limits.clone();
        list.extend(c.resources.requests.iter().map(|(k, v)| (k.clone(), *v)));
        to_resources(&list)
    };
    let mut running = Resources::new();
    for c in &spec.containers {
        running.add(&container(c));
    }
    let mut sidecars = Resources::new();
    let mut init_peak = Resources::new();
    for c in &spec.init_containers {
        let r = container(c);
        if c.restart_policy.as_deref() == Some("Always") {
            sidecars.add(&r);
        } else {
            let mut during = sidecars.clone();
            during.add(&r);
            init_peak.max_with(&during);
        }
    }
    running.add(&sidecars);
    running.max_with(&init_peak);
    running.add(&to_resources(&spec.overhead));
    running.set_fixed(PODS, 1);
    running
}

/// Node selector requirements; `pool` allows NodePool-only operators and minValues.
pub fn node_requirements(
    loc: &Location,
    path: &str,
    exprs: &[NodeSelectorRequirement],
    pool: bool,
) -> Result<Requirements> {
    let mut out = Requirements::new();
    for (i, e) in exprs.iter().enumerate() {
        let field = |f: &str| format!("{path}[{i}].{f}");
        let op = Operator::parse(&e.operator)
            .filter(|op| pool || !matches!(op, Operator::Gte | Operator::Lte))
            .ok_or_else(|| {
                let allowed = if pool {
                    "In, NotIn, Exists, DoesNotExist, Gt, Lt, Gte, Lte"
                } else {
                    "In, NotIn, Exists, DoesNotExist, Gt, Lt"
                };
                loc.error(
                    field("operator"),
                    format!("unknown operator {:?} ({allowed})", e.operator),
                )
            })?;
        if e.key.is_empty() {
            return Err(loc.error(field("key"), "required"));
        }
        let values: Vec<String> = e.values.iter().map(|v| v.0.clone()).collect();
        let mut req = Requirement::new(op, &values).map_err(|m| loc.error(field("values"), m))?;
        if let Some(min) = e.min_values {
            if !pool {
                return Err(loc.error(
                    field("minValues"),
                    "only NodePool requirements take minValues",
                ));
            }
            req.min_values = Some(min);
        }
        out.add(&e.key, req);
    }
    Ok(out)
}

pub fn selector(loc: &Location, path: &str, s: &LabelSelector) -> Result<Selector> {
    let mut out = Selector {
        match_labels: s.match_labels.clone(),
        expressions: Vec::new(),
    };
    for (i, e) in s.match_expressions.iter().enumerate() {
        let op = SelectorOp::parse(&e.operator).ok_or_else(|| {
            loc.error(
                format!("{path}.matchExpressions[{i}].operator"),
                format!(
                    "unknown operator {:?} (In, NotIn, Exists, DoesNotExist)",
                    e.operator
                ),
            )
        })?;
        out.expressions.push((
            e.key.clone(),
            op,
            e.values.iter().map(|v| v.0.clone()).collect(),
        ));
    }
    Ok(out)
}

fn affinity_term(
    loc: &Location,
    path: &str,
    t: &k8s::PodAffinityTerm,
    namespace: &str,
    labels: &BTreeMap<String, String>,
) -> Result<AffinityTerm> {
    let mut sel = t
        .label_selector
        .as_ref()
        .map(|s| selector(loc, &format!("{path}.labelSelector"), s))
        .transpose()?;
    if let Some(s) = sel.as_mut() {
        for key in &t.match_label_keys {
            if let Some(v) = labels.get(key) {
                s.match_labels.insert(key.clone(), v.clone());
            }
        }
    }
    let namespaces = if t.namespace_selector.is_some() {
        // Namespace objects are not part of the input: a namespace selector is read as
        // "any namespace", the widest (safest for anti-affinity) reading.
        Namespaces::All
    } else if t.namespaces.is_empty() {
        Namespaces::Only(vec![namespace.to_string()])
    } else {
        Namespaces::Only(t.namespaces.clone())
    };
    if t.topology_key.is_empty() {
        return Err(loc.error(format!("{path}.topologyKey"), "required"));
    }
    Ok(AffinityTerm {
        selector: sel,
        namespaces,
        topology_key: t.topology_key.clone(),
    })
}
