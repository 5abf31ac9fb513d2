//! The solution: what to launch, what goes where, what stays pending and why.

use super::*;

#[derive(Debug, Clone, PartialEq)]
pub struct CheapestOffering {
    pub instance_type: String,
    pub zone: String,
    pub capacity_type: String,
    pub price: f64,
}

#[derive(Debug, Clone, PartialEq)]
pub struct NewClaim {
    pub pool: String,
    /// Every type that fits, cheapest first.
    pub instance_types: Vec<String>,
    pub zones: Vec<String>,
    pub capacity_types: Vec<String>,
    pub cheapest: CheapestOffering,
    pub labels: BTreeMap<String, String>,
    pub taints: Vec<Taint>,
    pub pods: Vec<String>,
    /// The claim's requirements, for whoever launches it.
    pub requirements: Requirements,
}

#[derive(Debug, Clone, PartialEq)]
pub struct ExistingPlacement {
    pub name: String,
    pub pods: Vec<String>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Unschedulable {
    pub pod: String,
    pub reason: String,
}

#[derive(Debug, Clone, Default, PartialEq)]
pub struct Solution {
    pub claims: Vec<NewClaim>,
    pub existing: Vec<ExistingPlacement>,
    pub fargate: Vec<String>,
    pub unschedulable: Vec<Unschedulable>,
}

impl Solution {
    pub fn pod_count(&self) -> usize {
        self.claims.iter().map(|c| c.pods.len()).sum::<usize>()
            + self.existing.iter().map(|e| e.pods.len()).sum::<usize>()
            + self.fargate.len()
            + self.unschedulable.len()
    }
    pub fn hourly_cost(&self) -> f64 {
        // Folded from +0.0: an empty f64 sum is -0.0, which would print as "-0.0".
        self.claims
            .iter()
            .fold(0.0, |total, c| total + c.cheapest.price)
    }
}

impl Solver<'_> {
    pub(super) fn into_solution(self, reasons: BTreeMap<usize, String>) -> Solution {
        let mut existing: Vec<ExistingPlacement> = self
            .p
            .nodes
            .iter()
            .zip(self.nodes.iter())
            .map(|(n, s)| ExistingPlacement {
                name: n.name.clone(),
                pods: s.pods.iter().map(|&i| self.pods[i].key()).collect(),
            })
            .collect();
        // Pods bound to nodes the input does not have are still listed under them.
        for pod in &self.p.bound {
            let Some(name) = &pod.node_name else { continue };
            if self.p.nodes.iter().any(|n| &n.name == name) {
                continue;
            }
            match existing.iter_mut().find(|e| &e.name == name) {
                Some(e) => e.pods.push(pod.key()),
                None => existing.push(ExistingPlacement {
                    name: name.clone(),
                    pods: vec![pod.key()],
                }),
            }
        }
        let claims = self.claims.iter().map(|c| self.claim_output(c)).collect();
        let unschedulable = reasons
            .into_iter()
            .map(|(i, reason)| Unschedulable {
                pod: self.pods[i].key(),
                reason,
            })
            .collect();
        Solution {
            claims,
            existing,
            fargate: self.p.fargate.clone(),
            unschedulable,
        }
    }

    pub(super) fn claim_output(&self, c: &Claim) -> NewClaim {
        let pool = &self.pools[c.pool];
        let catalog = &self.p.catalog.instance_types;
        let mut priced: Vec<(f64, &str, &crate::catalog::Offering)> = c
            .types
            .iter()
            .filter_map(|&t| {
                let it = &catalog[t as usize];
                let o = it.cheapest_offering(|o| offering_allowed(o, &c.reqs))?;
                Some((o.price, it.name.as_str(), o))
            })
            .collect();
        priced.sort_by(|a, b| {
            a.0.total_cmp(&b.0)
                .then(a.2.capacity_type.cmp(&b.2.capacity_type))
                .then_with(|| a.1.cmp(b.1))
                .then_with(|| a.2.zone.cmp(&b.2.zone))
        });
        let cheapest = priced
            .first()
            .map(|(price, name, o)| CheapestOffering {
                instance_type: name.to_string(),
                zone: o.zone.clone(),
                capacity_type: o.capacity_type.as_str().to_string(),
                price: *price,
            })
            .unwrap_or(CheapestOffering {
                instance_type: String::new(),
                zone: String::new(),
                capacity_type: String::new(),
                price: 0.0,
            });
        let mut labels = pool.policy.labels.clone();
        for (k, r) in c.reqs.iter() {
            if let Some(v) = r.single_value()
                && k != labels::HOSTNAME
            {
                labels.insert(k.clone(), v.to_string());
            }
        }
        if let [zone] = c.zones.as_slice() {
            labels.insert(labels::ZONE.to_string(), zone.clone());
        }
        if let [ct] = c.capacity_types.as_slice() {
            labels.insert(labels::CAPACITY_TYPE.to_string(), ct.clone());
        }
        let mut taints = pool.policy.taints.clone();
        taints.extend(pool.policy.startup_taints.iter().cloned());
        NewClaim {
            pool: pool.policy.name.clone(),
            instance_types: priced.iter().map(|(_, n, _)| n.to_string()).collect(),
            zones: c.zones.clone(),
            capacity_types: c.capacity_types.clone(),
            cheapest,
            labels,
            taints,
            pods: c.pods.iter().map(|&i| self.pods[i].key()).collect(),
            requirements: c.reqs.clone(),
        }
    }
}
