//! The instance-type catalog: types, per-zone offerings and prices, the labels Karpenter
//! derives from them, and the allocatable capacity of a node of each type.

mod allocatable;
pub mod builtin;
mod json;
mod labels;

pub use allocatable::{EvictionThreshold, KubeletConfig, allocatable};
pub use json::{catalog_to_json, parse_catalog_json};
pub use labels::name_labels;

use crate::resources::Resources;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Arch {
    Amd64,
    Arm64,
}

impl Arch {
    pub fn as_str(self) -> &'static str {
        match self {
            Arch::Amd64 => "amd64",
            Arch::Arm64 => "arm64",
        }
    }
}

/// Purchase options an offering can have. `reserved` only appears in requirements.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum CapacityType {
    Spot,
    OnDemand,
}

impl CapacityType {
    pub fn as_str(self) -> &'static str {
        match self {
            CapacityType::OnDemand => "on-demand",
            CapacityType::Spot => "spot",
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct Gpu {
    /// `nvidia.com/gpu`, `amd.com/gpu` or `aws.amazon.com/neuron`.
    pub resource: String,
    pub count: u32,
    pub name: String,
    pub manufacturer: String,
    pub memory_mib: Option<u64>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Offering {
    pub zone: String,
    pub capacity_type: CapacityType,
    /// USD per hour.
    pub price: f64,
    pub available: bool,
}

#[derive(Debug, Clone, PartialEq)]
pub struct InstanceType {
    pub name: String,
    pub architecture: Arch,
    pub vcpu: u32,
    pub memory_mib: u64,
    /// ENI-limited max pods (the EKS AMI default).
    pub max_pods: u32,
    pub gpus: Vec<Gpu>,
    pub ephemeral_storage_gib: u64,
    pub hypervisor: Option<String>,
    pub cpu_manufacturer: Option<String>,
    pub network_bandwidth_mbps: Option<u64>,
    pub ebs_bandwidth_mbps: Option<u64>,
    pub local_nvme_gib: Option<u64>,
    /// Extra schedulable resources (`vpc.amazonaws.com/efa`, ...), name -> count.
    pub extended_resources: Vec<(String, i64)>,
    pub offerings: Vec<Offering>,
}

impl InstanceType {
    /// Node capacity before any reservation: what `status.capacity` shows, less the
    /// hypervisor's share of memory.
    pub fn capacity(&self, max_pods: u32) -> Resources {
        use crate::resources::*;
        let mut r = Resources::new();
        r.set_fixed(CPU, i64::from(self.vcpu) * 1000);
        let mib = self.memory_mib as i64;
        r.set_fixed(MEMORY, (mib - vm_overhead_mib(mib)) << 20);
        r.set_fixed(EPHEMERAL_STORAGE, (self.ephemeral_storage_gib as i64) << 30);
        r.set_fixed(PODS, i64::from(max_pods));
        for gpu in &self.gpus {
            if gpu.count > 0 {
                let cur = r.get(&gpu.resource);
                r.set(&gpu.resource, cur + i64::from(gpu.count));
            }
        }
        for (name, count) in &self.extended_resources {
            r.set(name, *count);
        }
        r
    }

    /// The cheapest available offering that `allowed` accepts.
    pub fn cheapest_offering(
        &self,
        mut allowed: impl FnMut(&Offering) -> bool,
    ) -> Option<&Offering> {
        self.offerings
            .iter()
            .filter(|o| o.available && allowed(o))
            .min_by(|a, b| compare_offerings(a, b))
    }
}

/// Price first; at equal price spot (Karpenter launches spot whenever allowed), then zone.
pub fn compare_offerings(a: &Offering, b: &Offering) -> std::cmp::Ordering {
    a.price
        .total_cmp(&b.price)
        .then(a.capacity_type.cmp(&b.capacity_type))
        .then_with(|| a.zone.cmp(&b.zone))
}

/// Memory the hypervisor keeps: 7.5% of the type's memory, as Karpenter's default
/// `vmMemoryOverheadPercent`, rounded up to whole MiB.
pub fn vm_overhead_mib(memory_mib: i64) -> i64 {
    (memory_mib * 75 + 999) / 1000
}

#[derive(Debug, Clone, PartialEq)]
pub struct Catalog {
    pub region: String,
    pub instance_types: Vec<InstanceType>,
}

impl Catalog {
    /// Every zone any offering names, sorted.
    pub fn zones(&self) -> Vec<String> {
        let mut zones: Vec<String> = self
            .instance_types
            .iter()
            .flat_map(|t| t.offerings.iter().map(|o| o.zone.clone()))
            .collect();
        zones.sort();
        zones.dedup();
        zones
    }
}
