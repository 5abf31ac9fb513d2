//! Topology: pod counts per domain for every spread, affinity and anti-affinity group,
//! and the domains a pod may use on a given node or claim.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use crate::labels;
use crate::model::PodModel;
use crate::model::pod::{AffinityTerm, Namespaces, SpreadConstraint};
use crate::requirements::Requirements;
use crate::selector::Selector;

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
enum Kind {
    Spread {
        max_skew: u32,
        min_domains: Option<u32>,
        honor_node_affinity: bool,
    },
    Affinity,
    AntiAffinity,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
struct GroupKey {
    kind: Kind,
    key: String,
    namespaces: Namespaces,
    selector: Option<Selector>,
}

/// FxHash: the domain maps are probed once per pod and candidate node, with short
/// keys; SipHash's DoS resistance buys nothing here and costs most of the solve time.
#[derive(Default)]
struct FxHasher(u64);

impl std::hash::Hasher for FxHasher {
    fn write(&mut self, bytes: &[u8]) {
        const K: u64 = 0x517c_c1b7_2722_0a95;
        let mut chunks = bytes.chunks_exact(8);
        for chunk in &mut chunks {
            let mut word = [0u8; 8];
            word.copy_from_slice(chunk);
            self.0 = (self.0.rotate_left(5) ^ u64::from_le_bytes(word)).wrapping_mul(K);
        }
        // The tail byte by byte: a variable-length copy would call memmove.
        for &b in chunks.remainder() {
            self.0 = (self.0.rotate_left(5) ^ u64::from(b)).wrapping_mul(K);
        }
    }
    fn finish(&self) -> u64 {
        self.0
    }
}

type DomainCounts = HashMap<String, u32, std::hash::BuildHasherDefault<FxHasher>>;

#[derive(Debug)]
struct Group {
    id: GroupKey,
    /// Pods the selector matches, per domain.
    counts: DomainCounts,
    /// How many pods the selector matches in all.
    total: u32,
    /// Keyed on kubernetes.io/hostname (checked per pod and node: no string compare).
    on_hostname: bool,
    /// Anti-affinity only: where pods owning the term run (they repel matching pods).
    owners: DomainCounts,
}

impl Group {
    fn selects(&self, namespace: &str, labels: &BTreeMap<String, String>) -> bool {
        self.id.namespaces.contains(namespace)
            && self.id.selector.as_ref().is_some_and(|s| s.matches(labels))
    }
    fn count(&self, domain: &str) -> u32 {
        self.counts.get(domain).copied().unwrap_or(0)
    }
}

/// A pod's topology constraints as group ids.
#[derive(Debug, Clone, Default)]
pub struct PodTopology {
    spreads: Vec<(usize, bool)>,
    affinity: Vec<usize>,
    anti: Vec<usize>,
    preferred_affinity: Vec<usize>,
    preferred_anti: Vec<usize>,
    /// Required anti-affinity groups of other pods that select this pod.
    inverse: Vec<usize>,
}

impl PodTopology {
    pub fn is_empty(&self) -> bool {
        self.spreads.is_empty()
            && self.affinity.is_empty()
            && self.anti.is_empty()
            && self.preferred_affinity.is_empty()
            && self.preferred_anti.is_empty()
            && self.inverse.is_empty()
    }
    pub fn schedule_anyway_count(&self) -> usize {
        self.spreads
            .iter()
            .filter(|(_, required)| !required)
            .count()
    }
    pub fn preferred_affinity_count(&self) -> usize {
        self.preferred_affinity.len()
    }
    pub fn preferred_anti_count(&self) -> usize {
        self.preferred_anti.len()
    }
}

/// How much of a pod's preferences are still honoured.
#[derive(Debug, Clone, Copy, Default)]
pub struct Relaxed {
    pub preferred_affinity: usize,
    pub preferred_anti: usize,
    pub schedule_anyway: usize,
}

#[derive(Debug, Default)]
pub struct Topology {
    groups: Vec<Group>,
    index: HashMap<GroupKey, usize>,
    /// Known domains per key (zones, capacity types, custom label values).
    universe: HashMap<String, BTreeSet<String>>,
}

impl Topology {
    pub fn add_domains(&mut self, key: &str, values: impl IntoIterator<Item = String>) {
        self.universe
            .entry(key.to_string())
            .or_default()
            .extend(values);
    }

    pub fn domains(&self, key: &str) -> Option<&BTreeSet<String>> {
        self.universe.get(key)
    }

    fn group(&mut self, id: GroupKey) -> usize {
        if let Some(&i) = self.index.get(&id) {
            return i;
        }
        self.groups.push(Group {
            id: id.clone(),
            counts: DomainCounts::default(),
            total: 0,
            on_hostname: id.key == labels::HOSTNAME,
            owners: DomainCounts::default(),
        });
        self.index.insert(id, self.groups.len() - 1);
        self.groups.len() - 1
    }

    fn spread_group(&mut self, s: &SpreadConstraint) -> usize {
        self.group(GroupKey {
            kind: Kind::Spread {
                max_skew: s.max_skew,
                min_domains: s.min_domains,
                honor_node_affinity: s.honor_node_affinity,
            },
            key: s.topology_key.clone(),
            namespaces: Namespaces::Only(vec![s.namespace.clone()]),
            selector: s.selector.clone(),
        })
    }

    fn term_group(&mut self, kind: Kind, t: &AffinityTerm) -> usize {
        self.group(GroupKey {
            kind,
            key: t.topology_key.clone(),
            namespaces: t.namespaces.clone(),
            selector: t.selector.clone(),
        })
    }

    /// Registers a pod's constraints; call for every pod before `inverse_for`.
    pub fn register(&mut self, pod: &PodModel) -> PodTopology {
        let mut t = PodTopology::default();
        for s in &pod.spreads {
            let g = self.spread_group(s);
            t.spreads.push((g, s.required));
        }
        for a in &pod.affinity {
            t.affinity.push(self.term_group(Kind::Affinity, a));
        }
        for a in &pod.anti_affinity {
            t.anti.push(self.term_group(Kind::AntiAffinity, a));
        }
        for a in &pod.preferred_affinity {
            t.preferred_affinity
                .push(self.term_group(Kind::Affinity, a));
        }
        for a in &pod.preferred_anti_affinity {
            t.preferred_anti
                .push(self.term_group(Kind::AntiAffinity, a));
        }
        t
    }

    /// Records the anti-affinity groups of others that select this pod.
    pub fn add_inverse(&self, pod: &PodModel, t: &mut PodTopology) {
        t.inverse = self
            .groups
            .iter()
            .enumerate()
            .filter(|(_, g)| {
                g.id.kind == Kind::AntiAffinity && g.selects(&pod.namespace, &pod.labels)
            })
            .map(|(i, _)| i)
            .collect();
    }

    /// Counts a placed pod. `domains(key)` gives the domains the pod may end up in for
    /// that key: one when known, several when its claim is not pinned.
    pub fn record(
        &mut self,
        pod: &PodModel,
        t: &PodTopology,
        domains: &dyn Fn(&str) -> Vec<String>,
    ) {
        for g in &mut self.groups {
            if !g.selects(&pod.namespace, &pod.labels) {
                continue;
            }
            let ds = domains(&g.id.key);
            // Spreads and affinities count only a known domain; anti-affinity counts
            // every possible one, so no later pod can break it.
            if ds.len() == 1 || g.id.kind == Kind::AntiAffinity {
                g.total += 1;
                for d in ds {
                    *g.counts.entry(d).or_default() += 1;
                }
            }
        }
        for &gi in &t.anti {
            let g = &mut self.groups[gi];
            for d in domains(&g.id.key) {
                *g.owners.entry(d).or_default() += 1;
            }
        }
    }

    /// Spread groups still honoured: DoNotSchedule ones, and ScheduleAnyway ones not relaxed.
    fn active_spreads(t: &PodTopology, relaxed: Relaxed) -> Vec<usize> {
        let mut anyway = 0;
        t.spreads
            .iter()
            .filter(|&&(_, required)| {
                if !required {
                    anyway += 1;
                }
                required || anyway > relaxed.schedule_anyway
            })
            .map(|&(gi, _)| gi)
            .collect()
    }

    /// The pod's hostname constraints that, once a node breaks them, it breaks for good
    /// (counts only grow): spreads, its anti-affinity and others' anti-affinity against it.
    /// Pods with the same list can share what was learnt about a node.
    pub fn lasting_hostname_constraints(
        &self,
        t: &PodTopology,
        relaxed: Relaxed,
    ) -> Vec<(usize, u8)> {
        let spreads = Self::active_spreads(t, relaxed)
            .into_iter()
            .map(|gi| (gi, 0));
        let anti = t
            .anti
            .iter()
            .chain(t.preferred_anti.iter().skip(relaxed.preferred_anti))
            .map(|&gi| (gi, 1));
        let inverse = t.inverse.iter().map(|&gi| (gi, 2));
        spreads
            .chain(anti)
            .chain(inverse)
            .filter(|&(gi, _)| self.groups[gi].on_hostname)
            .collect()
    }

    /// Whether a node allows the constraints of [`Self::lasting_hostname_constraints`].
    pub fn hostname_allows(&self, constraints: &[(usize, u8)], host: &str) -> bool {
        constraints.iter().all(|&(gi, role)| {
            let g = &self.groups[gi];
            match (role, &g.id.kind) {
                (0, Kind::Spread { max_skew, .. }) => g.count(host) < *max_skew,
                (1, _) => g.count(host) == 0,
                _ => g.owners.get(host).is_none_or(|c| *c == 0),
            }
        })
    }

    /// Narrows, per topology key, the candidate domains of a node or claim to those the
    /// pod may use. `host` is the target's hostname domain; `candidates(key)` lists its
    /// domains for any other key (`None`: the target has no such label). Returns the
    /// allowed values per key (hostname excluded), a single value where the pod's own
    /// constraints pin the claim.
    pub fn allowed_domains(
        &self,
        pod: &PodModel,
        t: &PodTopology,
        relaxed: Relaxed,
        pod_reqs: &Requirements,
        host: &str,
        candidates: &mut dyn FnMut(&str) -> Option<Vec<String>>,
    ) -> Result<Vec<(String, Vec<String>)>, &'static str> {
        let spreads = Self::active_spreads(t, relaxed);
        let affinity = t
            .affinity
            .iter()
            .chain(t.preferred_affinity.iter().skip(relaxed.preferred_affinity));
        let anti = t
            .anti
            .iter()
            .chain(t.preferred_anti.iter().skip(relaxed.preferred_anti));
        // Hostname constraints first: the target is exactly one domain, no allocation.
        for &gi in &spreads {
            let g = &self.groups[gi];
            if let Kind::Spread { max_skew, .. } = g.id.kind
                && g.on_hostname
                && g.count(host) + 1 > max_skew
            {
                return Err("topology spread on hostname");
            }
        }
        for &gi in affinity.clone() {
            let g = &self.groups[gi];
            if g.on_hostname && g.count(host) == 0 {
                let anywhere = g.total > 0;
                if anywhere || !g.selects(&pod.namespace, &pod.labels) {
                    return Err("pod affinity on hostname");
                }
            }
        }
        for &gi in anti.clone() {
            let g = &self.groups[gi];
            if g.on_hostname && g.count(host) > 0 {
                return Err("pod anti-affinity on hostname");
            }
        }
        for &gi in &t.inverse {
            let g = &self.groups[gi];
            if g.on_hostname && g.owners.get(host).is_some_and(|c| *c > 0) {
                return Err("another pod's anti-affinity on hostname");
            }
        }

        let mut per_key: Vec<(String, Vec<String>, bool)> = Vec::new();
        let mut narrow = |key: &str,
                          pin: bool,
                          keep: &dyn Fn(&str) -> bool,
                          what: &'static str|
         -> Result<(), &'static str> {
            let idx = match per_key.iter().position(|(k, _, _)| k == key) {
                Some(i) => i,
                None => {
                    per_key.push((key.to_string(), candidates(key).ok_or(what)?, false));
                    per_key.len() - 1
                }
            };
            let entry = &mut per_key[idx];
            entry.1.retain(|d| keep(d));
            entry.2 |= pin;
            if entry.1.is_empty() {
                return Err(what);
            }
            Ok(())
        };
        for &gi in &spreads {
            let g = &self.groups[gi];
            let Kind::Spread {
                max_skew,
                min_domains,
                honor_node_affinity,
            } = g.id.kind
            else {
                continue;
            };
            if g.on_hostname {
                continue;
            }
            let min = self.global_min(g, min_domains, honor_node_affinity, pod_reqs);
            let keep = |d: &str| g.count(d) < min + max_skew;
            narrow(&g.id.key, true, &keep, "topology spread")?;
        }
        for &gi in affinity {
            let g = &self.groups[gi];
            if g.on_hostname {
                continue;
            }
            if g.total > 0 {
                narrow(&g.id.key, true, &|d: &str| g.count(d) > 0, "pod affinity")?;
            } else if g.selects(&pod.namespace, &pod.labels) {
                narrow(&g.id.key, true, &|_: &str| true, "pod affinity")?;
            } else {
                return Err("pod affinity: no matching pod is scheduled");
            }
        }
        for &gi in anti {
            let g = &self.groups[gi];
            if !g.on_hostname {
                narrow(
                    &g.id.key,
                    true,
                    &|d: &str| g.count(d) == 0,
                    "pod anti-affinity",
                )?;
            }
        }
        for &gi in &t.inverse {
            let g = &self.groups[gi];
            if !g.on_hostname {
                let free = |d: &str| g.owners.get(d).copied().unwrap_or(0) == 0;
                narrow(&g.id.key, false, &free, "another pod's anti-affinity")?;
            }
        }
        // Pin: the least crowded domain of the spreads on that key, then by name.
        Ok(per_key
            .into_iter()
            .map(|(key, mut values, pin)| {
                if pin && values.len() > 1 {
                    let crowd = |d: &str| -> u32 {
                        spreads
                            .iter()
                            .map(|&gi| &self.groups[gi])
                            .filter(|g| g.id.key == key)
                            .map(|g| g.count(d))
                            .sum()
                    };
                    let best = values
                        .iter()
                        .min_by(|a, b| crowd(a).cmp(&crowd(b)).then_with(|| a.cmp(b)))
                        .cloned();
                    values = best.into_iter().collect();
                }
                (key, values)
            })
            .collect())
    }

    fn global_min(
        &self,
        g: &Group,
        min_domains: Option<u32>,
        honor: bool,
        pod_reqs: &Requirements,
    ) -> u32 {
        if g.on_hostname {
            // A new node is always a possible domain with no pods.
            return 0;
        }
        let Some(domains) = self.universe.get(&g.id.key) else {
            return 0;
        };
        let eligible: Vec<&String> = domains
            .iter()
            .filter(|d| !honor || pod_reqs.get(&g.id.key).is_none_or(|r| r.has(d)))
            .collect();
        if min_domains.is_some_and(|m| (eligible.len() as u32) < m) {
            return 0;
        }
        eligible.iter().map(|d| g.count(d)).min().unwrap_or(0)
    }
}
