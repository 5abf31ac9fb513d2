//! The solve loop: pods, largest first, onto existing nodes, open claims, then new
//! claims, relaxing preferences when a pod fits nowhere.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use super::topology::{PodTopology, Relaxed, Topology};
use super::types::{TypeLabels, labels_satisfy, offering_allowed, type_labels};
use crate::catalog::{CapacityType, allocatable};
use crate::labels;
use crate::model::pod::HostPort;
use crate::model::{PodModel, Policy, Problem};
use crate::requirements::{Requirement, Requirements};
use crate::resources::{Resources, format_quantity};
use crate::taints::{Effect, Taint, first_untolerated};

mod claims;
mod output;

pub use output::{CheapestOffering, ExistingPlacement, NewClaim, Solution, Unschedulable};

/// How many open claims that could take a pod are compared when none takes it for free.
const BEST_FIT_CANDIDATES: usize = 6;

/// How many of a claim's types (cheapest first) the provisioner sends to CreateFleet.
pub const FLEET_TYPE_LIMIT: usize = 60;

struct PoolState<'a> {
    policy: &'a Policy,
    alloc: Vec<Resources>,
    capacity: Vec<Resources>,
    /// Types the pool's own requirements allow, with an allowed offering, cheapest first.
    base: Vec<u32>,
    /// Each catalog type's cheapest price under the pool's requirements.
    price: Vec<f64>,
    daemon: Resources,
    /// Limit usage of existing nodes plus the charges of open claims.
    used_by_nodes: Resources,
    charged: Resources,
}

struct Claim {
    pool: usize,
    reqs: Requirements,
    types: Vec<u32>,
    used: Resources,
    pods: Vec<usize>,
    ports: Vec<HostPort>,
    host: String,
    max_alloc: Resources,
    zones: Vec<String>,
    capacity_types: Vec<String>,
    charge: Resources,
}

struct NodeState {
    used: Resources,
    pods: Vec<usize>,
    ports: Vec<HostPort>,
}

/// What is relaxed of one pod's preferences in the current attempt.
#[derive(Clone, Copy, Default)]
struct Attempt {
    required_term: usize,
    preferred_node_dropped: usize,
    topo: Relaxed,
    tolerate_prefer_no_schedule: bool,
}

/// Which zones (by index) and capacity types a claim's requirements allow.
struct OfferFilter {
    zone_ok: Vec<bool>,
    ct_ok: [bool; 2],
}

impl OfferFilter {
    fn allows(&self, zone: u16, ct: CapacityType) -> bool {
        self.zone_ok[zone as usize] && self.ct_ok[ct as usize]
    }
}

struct Solver<'a> {
    p: &'a Problem,
    zone_names: Vec<String>,
    /// Available offerings per type, zone as an index into `zone_names`.
    offers: Vec<Vec<(u16, CapacityType)>>,
    /// Claims that may still take a pod (the smallest pending pod still fits).
    open: Vec<usize>,
    /// Per set of lasting hostname constraints, the claims known to break them (bitset).
    hostname_rejects: HashMap<Vec<(usize, u8)>, Vec<u64>>,
    smallest_pod: Resources,
    type_labels: Vec<TypeLabels>,
    pools: Vec<PoolState<'a>>,
    nodes: Vec<NodeState>,
    claims: Vec<Claim>,
    topology: Topology,
    pod_topology: Vec<PodTopology>,
    /// pending pods then bound pods, by index
    pods: Vec<&'a PodModel>,
    any_prefer_no_schedule: bool,
}

pub fn solve(p: &Problem) -> Solution {
    Solver::new(p).run()
}

impl<'a> Solver<'a> {
    fn new(p: &'a Problem) -> Self {
        let region = p.catalog.region.clone();
        let type_labels: Vec<TypeLabels> = p
            .catalog
            .instance_types
            .iter()
            .map(|it| type_labels(it, &region))
            .collect();
        let pods: Vec<&PodModel> = p.pending.iter().chain(p.bound.iter()).collect();
        let pools: Vec<PoolState> = p
            .pools
            .iter()
            .map(|policy| Self::pool_state(p, policy, &type_labels))
            .collect();
        let mut topology = Topology::default();
        // Domains: the zones and capacity types some pool can launch, every value pools
        // and nodes name.
        for pool in &pools {
            for &t in &pool.base {
                let offerings = p.catalog.instance_types[t as usize]
                    .offerings
                    .iter()
                    .filter(|o| offering_allowed(o, &pool.policy.requirements));
                for o in offerings {
                    topology.add_domains(labels::ZONE, [o.zone.clone()]);
                    topology.add_domains(
                        labels::CAPACITY_TYPE,
                        [o.capacity_type.as_str().to_string()],
                    );
                }
            }
        }
        for pool in &p.pools {
            for (k, r) in pool.requirements.iter() {
                if !r.is_complement() && k != labels::ZONE && k != labels::CAPACITY_TYPE {
                    topology.add_domains(k, r.values().iter().cloned());
                }
            }
        }
        for n in &p.nodes {
            for (k, v) in &n.labels {
                topology.add_domains(k, [v.clone()]);
            }
        }
        let mut pod_topology: Vec<PodTopology> =
            pods.iter().map(|pod| topology.register(pod)).collect();
        for (pod, t) in pods.iter().zip(pod_topology.iter_mut()) {
            topology.add_inverse(pod, t);
        }
        let any_prefer_no_schedule = p
            .pools
            .iter()
            .flat_map(|pl| pl.taints.iter())
            .chain(p.nodes.iter().flat_map(|n| n.taints.iter()))
            .any(|t| t.effect == Effect::PreferNoSchedule);
        let nodes = p
            .nodes
            .iter()
            .map(|_| NodeState {
                used: Resources::new(),
                pods: vec![],
                ports: vec![],
            })
            .collect();
        let zone_names = p.catalog.zones();
        let offers = p
            .catalog
            .instance_types
            .iter()
            .map(|it| {
                it.offerings
                    .iter()
                    .filter(|o| o.available)
                    .filter_map(|o| {
                        Some((
                            zone_names.binary_search(&o.zone).ok()? as u16,
                            o.capacity_type,
                        ))
                    })
                    .collect()
            })
            .collect();
        let mut smallest_pod = p
            .pending
            .first()
            .map(|pod| pod.requests.clone())
            .unwrap_or_default();
        for pod in &p.pending {
            for idx in [crate::resources::CPU, crate::resources::MEMORY] {
                smallest_pod.set_fixed(idx, smallest_pod.fixed(idx).min(pod.requests.fixed(idx)));
            }
        }
        let mut s = Solver {
            p,
            zone_names,
            offers,
            open: Vec::new(),
            hostname_rejects: HashMap::new(),
            smallest_pod: {
                let mut r = Resources::new();
                r.set_fixed(
                    crate::resources::CPU,
                    smallest_pod.fixed(crate::resources::CPU),
                );
                r.set_fixed(
                    crate::resources::MEMORY,
                    smallest_pod.fixed(crate::resources::MEMORY),
                );
                r.set_fixed(crate::resources::PODS, 1);
                r
            },
            type_labels,
            pools,
            nodes,
            claims: vec![],
            topology,
            pod_topology,
            pods,
            any_prefer_no_schedule,
        };
        s.place_bound_pods();
        s
    }

    fn pool_state(p: &'a Problem, policy: &'a Policy, type_labels: &[TypeLabels]) -> PoolState<'a> {
        let types = &p.catalog.instance_types;
        let alloc = types
            .iter()
            .map(|it| allocatable(it, &policy.kubelet))
            .collect();
        let capacity = types
            .iter()
            .map(|it| it.capacity(policy.kubelet.max_pods(it)))
            .collect();
        // Cheapest first, so every claim's types stay in price order as they narrow.
        let mut priced: Vec<(f64, u32)> = (0..types.len() as u32)
            .filter(|&t| labels_satisfy(&type_labels[t as usize], &policy.requirements))
            .filter_map(|t| {
                let o = types[t as usize]
                    .cheapest_offering(|o| offering_allowed(o, &policy.requirements))?;
                Some((o.price, t))
            })
            .collect();
        priced.sort_by(|a, b| {
            a.0.total_cmp(&b.0)
                .then_with(|| types[a.1 as usize].name.cmp(&types[b.1 as usize].name))
        });
        let mut price = vec![f64::INFINITY; types.len()];
        for &(p, t) in &priced {
            price[t as usize] = p;
        }
        let base = priced.into_iter().map(|(_, t)| t).collect();
        let mut daemon = Resources::new();
        for ds in &p.daemonsets {
            // Required node affinity holds if any of its terms does (as Karpenter's
            // isDaemonPodCompatible tries each term).
            let compatible = |term: Option<&Requirements>| {
                let mut reqs = ds.node_selector.clone();
                if let Some(term) = term {
                    reqs.add_all(term);
                }
                policy.requirements.compatible(&reqs).is_ok()
            };
            let matches_pool = if ds.required_terms.is_empty() {
                compatible(None)
            } else {
                ds.required_terms.iter().any(|t| compatible(Some(t)))
            };
            let tolerated = first_untolerated(&policy.taints, &ds.tolerations, false).is_none();
            if tolerated && matches_pool {
                daemon.add(&ds.requests);
            }
        }
        let mut used_by_nodes = Resources::new();
        for n in p
            .nodes
            .iter()
            .filter(|n| n.pool.as_deref() == Some(policy.name.as_str()))
        {
            used_by_nodes.add(&n.capacity);
        }
        PoolState {
            policy,
            alloc,
            capacity,
            base,
            price,
            daemon,
            used_by_nodes,
            charged: Resources::new(),
        }
    }

    fn place_bound_pods(&mut self) {
        let first_bound = self.p.pending.len();
        for i in first_bound..self.pods.len() {
            let pod = self.pods[i];
            let Some(name) = &pod.node_name else { continue };
            if let Some(ni) = self.p.nodes.iter().position(|n| &n.name == name) {
                self.nodes[ni].used.add(&pod.requests);
                self.nodes[ni].pods.push(i);
                self.nodes[ni].ports.extend(pod.host_ports.iter().cloned());
                let labels = &self.p.nodes[ni].labels;
                let domains = |k: &str| labels.get(k).cloned().into_iter().collect::<Vec<_>>();
                self.topology.record(pod, &self.pod_topology[i], &domains);
            } else {
                let name = name.clone();
                let domains = move |k: &str| {
                    if k == labels::HOSTNAME {
                        vec![name.clone()]
                    } else {
                        vec![]
                    }
                };
                self.topology.record(pod, &self.pod_topology[i], &domains);
            }
        }
    }

    fn run(mut self) -> Solution {
        let mut queue: std::collections::VecDeque<usize> = {
            let mut order: Vec<usize> = (0..self.p.pending.len()).collect();
            order.sort_by(|&a, &b| {
                let (ra, rb) = (&self.pods[a].requests, &self.pods[b].requests);
                rb.fixed(crate::resources::CPU)
                    .cmp(&ra.fixed(crate::resources::CPU))
                    .then(
                        rb.fixed(crate::resources::MEMORY)
                            .cmp(&ra.fixed(crate::resources::MEMORY)),
                    )
                    .then(a.cmp(&b))
            });
            order.into()
        };
        let mut reasons: BTreeMap<usize, String> = BTreeMap::new();
        // Stop once a whole pass over the queue places nothing.
        let mut since_progress = 0;
        while let Some(i) = queue.pop_front() {
            match self.try_schedule(i) {
                Ok(()) => {
                    reasons.remove(&i);
                    since_progress = 0;
                }
                Err(reason) => {
                    reasons.insert(i, reason);
                    since_progress += 1;
                    if since_progress > queue.len() {
                        break;
                    }
                    queue.push_back(i);
                }
            }
        }
        self.into_solution(reasons)
    }

    fn try_schedule(&mut self, i: usize) -> Result<(), String> {
        let mut attempt = Attempt::default();
        loop {
            match self.add(i, &attempt) {
                Ok(()) => return Ok(()),
                Err(e) => {
                    if !self.relax(i, &mut attempt) {
                        return Err(e);
                    }
                }
            }
        }
    }

    /// Karpenter's relaxation order: required node-affinity terms (OR), preferred pod
    /// affinity, preferred pod anti-affinity, preferred node affinity, ScheduleAnyway
    /// spreads, then PreferNoSchedule taints.
    fn relax(&self, i: usize, a: &mut Attempt) -> bool {
        let pod = self.pods[i];
        let t = &self.pod_topology[i];
        if a.required_term + 1 < pod.required_terms.len() {
            a.required_term += 1;
        } else if a.topo.preferred_affinity < t.preferred_affinity_count() {
            a.topo.preferred_affinity += 1;
        } else if a.topo.preferred_anti < t.preferred_anti_count() {
            a.topo.preferred_anti += 1;
        } else if a.preferred_node_dropped < pod.preferred_terms.len() {
            a.preferred_node_dropped += 1;
        } else if a.topo.schedule_anyway < t.schedule_anyway_count() {
            a.topo.schedule_anyway += 1;
        } else if !a.tolerate_prefer_no_schedule && self.any_prefer_no_schedule {
            a.tolerate_prefer_no_schedule = true;
        } else {
            return false;
        }
        true
    }

    fn pod_requirements(pod: &PodModel, a: &Attempt) -> Requirements {
        let mut reqs = pod.node_selector.clone();
        if let Some(term) = pod.required_terms.get(a.required_term) {
            reqs.add_all(term);
        }
        if let Some(term) = pod.preferred_terms.get(a.preferred_node_dropped) {
            reqs.add_all(term);
        }
        reqs
    }

    fn add(&mut self, i: usize, a: &Attempt) -> Result<(), String> {
        let pod = self.pods[i];
        let reqs = Self::pod_requirements(pod, a);
        for ni in 0..self.nodes.len() {
            if self.try_node(i, ni, &reqs, a).is_ok() {
                return Ok(());
            }
        }
        // A claim that broke lasting hostname constraints once breaks them for good: pods
        // with the same constraints skip it (a bitset of claim ids per constraint set).
        let lasting = self
            .topology
            .lasting_hostname_constraints(&self.pod_topology[i], a.topo);
        let mut known = if lasting.is_empty() {
            Vec::new()
        } else {
            self.hostname_rejects.remove(&lasting).unwrap_or_default()
        };
        // Best fit among open claims by what taking the pod adds to the claim's cheapest
        // price: the first claim where it costs nothing wins at once; otherwise the
        // cheapest of a few candidates.
        let mut best: Option<(f64, usize, usize, claims::ClaimFit)> = None;
        let mut candidates_seen = 0;
        for k in 0..self.open.len() {
            let ci = self.open[k];
            if !lasting.is_empty() {
                if known
                    .get(ci / 64)
                    .is_some_and(|w| w & (1 << (ci % 64)) != 0)
                {
                    continue;
                }
                if !self
                    .topology
                    .hostname_allows(&lasting, &self.claims[ci].host)
                {
                    if known.len() <= ci / 64 {
                        known.resize(ci / 64 + 1, 0);
                    }
                    known[ci / 64] |= 1 << (ci % 64);
                    continue;
                }
            }
            if let Some(fit) = self.fit_claim(i, ci, &reqs, a) {
                let claim = &self.claims[ci];
                let price = &self.pools[claim.pool].price;
                let added = price[fit.cheapest_type() as usize] - price[claim.types[0] as usize];
                if best.as_ref().is_none_or(|b| added < b.0) {
                    best = Some((added, k, ci, fit));
                }
                candidates_seen += 1;
                if added <= 0.0 || candidates_seen >= BEST_FIT_CANDIDATES {
                    break;
                }
            }
        }
        if !lasting.is_empty() {
            self.hostname_rejects.insert(lasting, known);
        }
        if let Some((_, k, ci, fit)) = best {
            self.place_on_claim(i, ci, fit);
            self.settle(k);
            return Ok(());
        }
        let mut why = Vec::new();
        for pi in 0..self.pools.len() {
            match self.try_new_claim(i, pi, &reqs, a) {
                Ok(()) => return Ok(()),
                Err(e) => why.push(format!("nodepool {}: {e}", self.pools[pi].policy.name)),
            }
        }
        if why.is_empty() {
            why.push("no NodePool or Provisioner in the input, and no existing node fits".into());
        }
        Err(why.join("; "))
    }

    fn try_node(
        &mut self,
        i: usize,
        ni: usize,
        reqs: &Requirements,
        a: &Attempt,
    ) -> Result<(), String> {
        let node = &self.p.nodes[ni];
        let pod = self.pods[i];
        if !node.accepts_pods {
            return Err("node takes no new pods".into());
        }
        let mut used = self.nodes[ni].used.clone();
        used.add(&pod.requests);
        if let Some(r) = used.exceeds(&node.allocatable) {
            return Err(format!("not enough {r}"));
        }
        if let Some(t) = first_untolerated(
            &node.taints,
            &pod.tolerations,
            !a.tolerate_prefer_no_schedule,
        ) {
            return Err(format!("taint {} not tolerated", t.key));
        }
        reqs.matches_labels(&node.labels)?;
        if pod
            .host_ports
            .iter()
            .any(|p| self.nodes[ni].ports.iter().any(|q| p.conflicts(q)))
        {
            return Err("host port in use".into());
        }
        let t = &self.pod_topology[i];
        if !t.is_empty() {
            let mut candidates = |k: &str| node.labels.get(k).map(|v| vec![v.clone()]);
            let host = node.labels.get(labels::HOSTNAME).unwrap_or(&node.name);
            self.topology
                .allowed_domains(pod, t, a.topo, reqs, host, &mut candidates)?;
        }
        let state = &mut self.nodes[ni];
        state.used = used;
        state.pods.push(i);
        state.ports.extend(pod.host_ports.iter().cloned());
        let labels = &node.labels;
        let domains = |k: &str| labels.get(k).cloned().into_iter().collect::<Vec<_>>();
        self.topology.record(pod, &self.pod_topology[i], &domains);
        Ok(())
    }
}
