//! Instance types as the scheduler filters them: the well-known labels each type has,
//! and the checks of a claim's requirements against a type and its offerings.

use crate::catalog::{InstanceType, Offering};
use crate::labels::{self, TYPE_KEYS};
use crate::requirements::Requirements;

/// The value of every type-level well-known label, `None` where the type has none.
pub type TypeLabels = [Option<String>; TYPE_KEYS.len()];

pub fn type_labels(it: &InstanceType, region: &str) -> TypeLabels {
    let names = crate::catalog::name_labels(&it.name);
    let gpu = it
        .gpus
        .iter()
        .find(|g| g.count > 0 && (g.resource == "nvidia.com/gpu" || g.resource == "amd.com/gpu"));
    let mut l: TypeLabels = Default::default();
    let mut set = |key: &str, value: Option<String>| {
        if let Some(i) = labels::type_key_index(key) {
            l[i] = value;
        }
    };
    set(labels::INSTANCE_TYPE, Some(it.name.clone()));
    set(labels::ARCH, Some(it.architecture.as_str().to_string()));
    set(labels::OS, Some("linux".into()));
    set(labels::REGION, Some(region.to_string()));
    set(labels::INSTANCE_CATEGORY, names.category);
    set(labels::INSTANCE_FAMILY, Some(names.family));
    set(labels::INSTANCE_GENERATION, names.generation);
    set(labels::INSTANCE_SIZE, names.size);
    set(labels::INSTANCE_CPU, Some(it.vcpu.to_string()));
    set(labels::INSTANCE_MEMORY, Some(it.memory_mib.to_string()));
    set(labels::INSTANCE_GPU_COUNT, gpu.map(|g| g.count.to_string()));
    set(labels::INSTANCE_GPU_NAME, gpu.map(|g| g.name.clone()));
    set(
        labels::INSTANCE_GPU_MANUFACTURER,
        gpu.map(|g| g.manufacturer.clone()),
    );
    set(
        labels::INSTANCE_GPU_MEMORY,
        gpu.and_then(|g| g.memory_mib).map(|m| m.to_string()),
    );
    set(labels::INSTANCE_HYPERVISOR, it.hypervisor.clone());
    set(
        labels::INSTANCE_CPU_MANUFACTURER,
        it.cpu_manufacturer.clone(),
    );
    set(
        labels::INSTANCE_NETWORK_BANDWIDTH,
        it.network_bandwidth_mbps.map(|v| v.to_string()),
    );
    set(
        labels::INSTANCE_EBS_BANDWIDTH,
        it.ebs_bandwidth_mbps.map(|v| v.to_string()),
    );
    set(
        labels::INSTANCE_LOCAL_NVME,
        it.local_nvme_gib.map(|v| v.to_string()),
    );
    l
}

/// Whether the type's own labels satisfy every type-level requirement. A label the
/// type lacks only satisfies NotIn and DoesNotExist.
pub fn labels_satisfy(labels: &TypeLabels, reqs: &Requirements) -> bool {
    reqs.iter()
        .all(|(key, req)| match labels::type_key_index(key) {
            Some(i) => match &labels[i] {
                Some(v) => req.has(v),
                None => req.allows_absent(),
            },
            None => true,
        })
}

/// Whether an offering is allowed by the zone and capacity-type requirements.
pub fn offering_allowed(o: &Offering, reqs: &Requirements) -> bool {
    o.available
        && reqs.get(labels::ZONE).is_none_or(|r| r.has(&o.zone))
        && reqs
            .get(labels::CAPACITY_TYPE)
            .is_none_or(|r| r.has(o.capacity_type.as_str()))
}
