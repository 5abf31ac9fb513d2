//! What a new node of a type can hold: capacity less kube-reserved, system-reserved and
//! the hard eviction threshold, with the EKS-optimized AMI's defaults (as Karpenter).

use super::InstanceType;
use crate::resources::{CPU, EPHEMERAL_STORAGE, MEMORY, PODS, Resources};

/// A hard eviction threshold: an absolute amount or a percentage of capacity.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum EvictionThreshold {
    Absolute(i64),
    Percent(f64),
}

impl EvictionThreshold {
    fn of(self, capacity: i64) -> i64 {
        match self {
            EvictionThreshold::Absolute(v) => v,
            EvictionThreshold::Percent(p) => (capacity as f64 * p / 100.0).ceil() as i64,
        }
    }
}

/// Kubelet settings from an EC2NodeClass, a v1beta1 NodePool or a v1alpha5 Provisioner.
/// Each `Some` overrides the AMI default.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct KubeletConfig {
    pub max_pods: Option<u32>,
    pub pods_per_core: Option<u32>,
    pub kube_reserved: Option<Resources>,
    pub system_reserved: Option<Resources>,
    pub eviction_memory: Option<EvictionThreshold>,
    pub eviction_nodefs: Option<EvictionThreshold>,
}

impl KubeletConfig {
    /// Later settings win field by field (NodePool over NodeClass).
    pub fn merged_over(&self, base: &KubeletConfig) -> KubeletConfig {
        KubeletConfig {
            max_pods: self.max_pods.or(base.max_pods),
            pods_per_core: self.pods_per_core.or(base.pods_per_core),
            kube_reserved: self
                .kube_reserved
                .clone()
                .or_else(|| base.kube_reserved.clone()),
            system_reserved: self
                .system_reserved
                .clone()
                .or_else(|| base.system_reserved.clone()),
            eviction_memory: self.eviction_memory.or(base.eviction_memory),
            eviction_nodefs: self.eviction_nodefs.or(base.eviction_nodefs),
        }
    }

    pub fn max_pods(&self, it: &InstanceType) -> u32 {
        let max = self.max_pods.unwrap_or(it.max_pods);
        match self.pods_per_core {
            Some(ppc) if ppc > 0 => max.min(ppc.saturating_mul(it.vcpu)),
            _ => max,
        }
    }
}

/// Default kube-reserved CPU in millicores: 6% of the first core, 1% of the second,
/// 0.5% of cores 3-4, 0.25% of the rest, each band truncated.
pub fn default_kube_reserved_cpu(vcpu: u32) -> i64 {
    let cpu = i64::from(vcpu) * 1000;
    let bands: [(i64, i64, i64); 4] = [
        (0, 1000, 600),
        (1000, 2000, 100),
        (2000, 4000, 50),
        (4000, i64::MAX, 25),
    ];
    bands
        .iter()
        .filter(|(start, _, _)| cpu > *start)
        .map(|&(start, end, per_ten_thousand)| (cpu.min(end) - start) * per_ten_thousand / 10_000)
        .sum()
}

/// Allocatable of a new node of `it` under `kubelet`.
pub fn allocatable(it: &InstanceType, kubelet: &KubeletConfig) -> Resources {
    let max_pods = kubelet.max_pods(it);
    let mut r = it.capacity(max_pods);
    let capacity_memory = r.fixed(MEMORY);
    let capacity_storage = r.fixed(EPHEMERAL_STORAGE);

    let mut kube_reserved = Resources::new();
    kube_reserved.set_fixed(CPU, default_kube_reserved_cpu(it.vcpu));
    kube_reserved.set_fixed(MEMORY, (11 * i64::from(max_pods) + 255) << 20);
    kube_reserved.set_fixed(EPHEMERAL_STORAGE, 1 << 30);
    if let Some(overrides) = &kubelet.kube_reserved {
        for (name, v) in overrides.iter() {
            kube_reserved.set(name, v);
        }
    }
    r.sub(&kube_reserved);
    if let Some(system) = &kubelet.system_reserved {
        r.sub(system);
    }
    let memory_eviction = kubelet
        .eviction_memory
        .unwrap_or(EvictionThreshold::Absolute(100 << 20));
    let nodefs_eviction = kubelet
        .eviction_nodefs
        .unwrap_or(EvictionThreshold::Percent(10.0));
    r.set_fixed(
        MEMORY,
        r.fixed(MEMORY) - memory_eviction.of(capacity_memory),
    );
    r.set_fixed(
        EPHEMERAL_STORAGE,
        r.fixed(EPHEMERAL_STORAGE) - nodefs_eviction.of(capacity_storage),
    );
    r.set_fixed(PODS, i64::from(max_pods));
    for i in [CPU, MEMORY, EPHEMERAL_STORAGE] {
        r.set_fixed(i, r.fixed(i).max(0));
    }
    r
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::catalog::Arch;

    fn m5_large() -> InstanceType {
        InstanceType {
            name: "m5.large".into(),
            architecture: Arch::Amd64,
            vcpu: 2,
            memory_mib: 8192,
            max_pods: 29,
            gpus: vec![],
            ephemeral_storage_gib: 20,
            hypervisor: Some("nitro".into()),
            cpu_manufacturer: None,
            network_bandwidth_mbps: None,
            ebs_bandwidth_mbps: None,
            local_nvme_gib: None,
            extended_resources: vec![],
            offerings: vec![],
        }
    }

    #[test]
    fn kube_reserved_cpu_bands() {
        assert_eq!(default_kube_reserved_cpu(1), 60);
        assert_eq!(default_kube_reserved_cpu(2), 70);
        assert_eq!(default_kube_reserved_cpu(4), 80);
        assert_eq!(default_kube_reserved_cpu(5), 82, "2.5m truncated to 2");
        assert_eq!(default_kube_reserved_cpu(96), 310);
    }

    #[test]
    fn m5_large_allocatable_matches_the_contract() {
        let a = allocatable(&m5_large(), &KubeletConfig::default());
        assert_eq!(a.fixed(CPU), 1930);
        // 8192 - ceil(614.4)=615 -> 7577; - (11*29+255)=574 -> 7003; - 100 -> 6903 MiB
        assert_eq!(a.fixed(MEMORY), 6903 << 20);
        assert_eq!(a.fixed(PODS), 29);
        // 20 GiB - 1 GiB - 2 GiB
        assert_eq!(a.fixed(EPHEMERAL_STORAGE), 17 << 30);
    }

    #[test]
    fn kubelet_overrides() {
        let kubelet = KubeletConfig {
            max_pods: Some(110),
            pods_per_core: Some(10),
            eviction_memory: Some(EvictionThreshold::Percent(5.0)),
            ..Default::default()
        };
        let a = allocatable(&m5_large(), &kubelet);
        assert_eq!(
            a.fixed(PODS),
            20,
            "podsPerCore 10 x 2 vCPU caps maxPods 110"
        );
        let capacity = 7577i64 << 20;
        let expected = capacity - ((11 * 20 + 255) << 20) - (capacity as f64 * 0.05).ceil() as i64;
        assert_eq!(a.fixed(MEMORY), expected);
    }
}
