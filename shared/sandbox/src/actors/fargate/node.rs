//! The node a Fargate pod runs on, sized to the pod's Fargate configuration.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::atomic::{AtomicU64, Ordering};

use k8s_openapi::api::core::v1::{
    Node, NodeAddress, NodeCondition, NodeSpec, NodeStatus, NodeSystemInfo, Taint,
};
use k8s_openapi::apimachinery::pkg::api::resource::Quantity;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;

use super::COMPUTE_TYPE_LABEL;
use crate::actors::scheduler::now;

/// A Fargate configuration: the smallest vCPU/memory combination that holds the pod's
/// requests plus the 256 MiB Fargate reserves for the kubelet and friends.
/// Returns (millicores, MiB); `None` when larger than 16 vCPU / 120 GB.
pub fn fargate_size(cpu_milli: i64, memory_bytes: i64) -> Option<(i64, i64)> {
    const GIB: i64 = 1024;
    let need_mib = (memory_bytes + (1 << 20) - 1) / (1 << 20) + 256;
    // (vCPU in millicores, memory options in MiB)
    let table: [(i64, Vec<i64>); 7] = [
        (250, vec![512, GIB, 2 * GIB]),
        (500, (1..=4).map(|g| g * GIB).collect()),
        (1000, (2..=8).map(|g| g * GIB).collect()),
        (2000, (4..=16).map(|g| g * GIB).collect()),
        (4000, (8..=30).map(|g| g * GIB).collect()),
        (8000, (4..=15).map(|g| g * 4 * GIB).collect()),
        (16000, (4..=15).map(|g| g * 8 * GIB).collect()),
    ];
    for (cpu, mems) in &table {
        if *cpu < cpu_milli {
            continue;
        }
        if let Some(m) = mems.iter().find(|m| **m >= need_mib) {
            return Some((*cpu, *m));
        }
    }
    None
}

pub(super) fn format_vcpu(milli: i64) -> String {
    if milli % 1000 == 0 {
        (milli / 1000).to_string()
    } else {
        let s = format!("{:.2}", milli as f64 / 1000.0);
        s.trim_end_matches('0').to_string()
    }
}

pub(super) fn format_gb(mib: i64) -> String {
    if mib % 1024 == 0 {
        (mib / 1024).to_string()
    } else {
        let s = format!("{:.2}", mib as f64 / 1024.0);
        s.trim_end_matches('0').to_string()
    }
}

static NEXT_IP: AtomicU64 = AtomicU64::new(0);

pub(super) fn node_for(
    pod_key: &str,
    zone: &str,
    region: &str,
    cpu: i64,
    mib: i64,
    version: &str,
    taken: &BTreeSet<String>,
) -> (Node, String) {
    let (name, ip) = loop {
        let n = NEXT_IP.fetch_add(1, Ordering::Relaxed)
            + u64::from(
                pod_key
                    .bytes()
                    .fold(0u16, |h, b| h.wrapping_mul(31).wrapping_add(u16::from(b))),
            );
        let ip = format!("10.0.{}.{}", 128 + (n / 250) % 128, n % 250 + 4);
        let name = format!(
            "fargate-ip-{}.{region}.compute.internal",
            ip.replace('.', "-")
        );
        if !taken.contains(&name) {
            break (name, ip);
        }
    };
    let labels: BTreeMap<String, String> = [
        (COMPUTE_TYPE_LABEL, "fargate"),
        ("kubernetes.io/hostname", name.as_str()),
        ("kubernetes.io/os", "linux"),
        ("kubernetes.io/arch", "amd64"),
        ("beta.kubernetes.io/os", "linux"),
        ("beta.kubernetes.io/arch", "amd64"),
        ("topology.kubernetes.io/region", region),
        ("topology.kubernetes.io/zone", zone),
        ("failure-domain.beta.kubernetes.io/region", region),
        ("failure-domain.beta.kubernetes.io/zone", zone),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect();
    let resources: BTreeMap<String, Quantity> = [
        ("cpu", format!("{cpu}m")),
        ("memory", format!("{}Ki", mib * 1024)),
        ("ephemeral-storage", "20Gi".to_string()),
        ("pods", "1".to_string()),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), Quantity(v)))
    .collect();
    let t = now();
    let cond = |type_: &str, status: &str, reason: &str, message: &str| NodeCondition {
        type_: type_.into(),
        status: status.into(),
        reason: Some(reason.into()),
        message: Some(message.into()),
        last_heartbeat_time: Some(t.clone()),
        last_transition_time: Some(t.clone()),
    };
    let id = format!(
        "{:016x}",
        NEXT_IP
            .load(Ordering::Relaxed)
            .wrapping_mul(0x9e37_79b9_7f4a_7c15)
    );
    let node = Node {
        metadata: ObjectMeta {
            name: Some(name.clone()),
            labels: Some(labels),
            ..ObjectMeta::default()
        },
        spec: Some(NodeSpec {
            provider_id: Some(format!("aws:///{zone}/{id}/{name}")),
            taints: Some(vec![Taint {
                key: COMPUTE_TYPE_LABEL.into(),
                value: Some("fargate".into()),
                effect: "NoSchedule".into(),
                time_added: None,
            }]),
            ..NodeSpec::default()
        }),
        status: Some(NodeStatus {
            capacity: Some(resources.clone()),
            allocatable: Some(resources),
            conditions: Some(vec![
                cond(
                    "MemoryPressure",
                    "False",
                    "KubeletHasSufficientMemory",
                    "kubelet has sufficient memory available",
                ),
                cond(
                    "DiskPressure",
                    "False",
                    "KubeletHasNoDiskPressure",
                    "kubelet has no disk pressure",
                ),
                cond(
                    "PIDPressure",
                    "False",
                    "KubeletHasSufficientPID",
                    "kubelet has sufficient PID available",
                ),
                cond(
                    "Ready",
                    "True",
                    "KubeletReady",
                    "kubelet is posting ready status",
                ),
            ]),
            addresses: Some(vec![
                NodeAddress {
                    type_: "InternalIP".into(),
                    address: ip.clone(),
                },
                NodeAddress {
                    type_: "Hostname".into(),
                    address: name.clone(),
                },
            ]),
            node_info: Some(NodeSystemInfo {
                architecture: "amd64".into(),
                operating_system: "linux".into(),
                os_image: "Amazon Linux 2".into(),
                kernel_version: "5.10.0-fargate".into(),
                container_runtime_version: "containerd://1.7.27".into(),
                kubelet_version: format!("v{version}.0-eks-fargate"),
                kube_proxy_version: format!("v{version}.0-eks-fargate"),
                ..NodeSystemInfo::default()
            }),
            phase: None,
            ..NodeStatus::default()
        }),
    };
    (node, ip)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pods_get_the_smallest_fargate_configuration_that_holds_them() {
        // Requests + 256 MiB, rounded up to a vCPU/memory combination.
        assert_eq!(fargate_size(0, 0), Some((250, 512)));
        assert_eq!(fargate_size(100, 256 << 20), Some((250, 512)));
        assert_eq!(fargate_size(100, 257 << 20), Some((250, 1024)));
        assert_eq!(fargate_size(250, 2048 << 20), Some((500, 3072)));
        assert_eq!(fargate_size(1000, 64 << 20), Some((1000, 2048)));
        assert_eq!(fargate_size(3000, 1 << 30), Some((4000, 8192)));
        assert_eq!(fargate_size(16_000, 120 << 30), None);
        assert_eq!(fargate_size(64_000, 0), None);
        assert_eq!(format_vcpu(250), "0.25");
        assert_eq!(format_vcpu(500), "0.5");
        assert_eq!(format_vcpu(2000), "2");
        assert_eq!(format_gb(512), "0.5");
        assert_eq!(format_gb(3072), "3");
    }
}
