//! The Node object kubelet registers for an instance: labels, taints, capacity and
//! allocatable, Ready.

use std::collections::BTreeMap;
use std::time::SystemTime;

use provisioning::catalog::{EvictionThreshold, InstanceType, KubeletConfig};
use provisioning::resources::Resources;
use serde_json::{Value, json};

use super::ec2::Ec2Instance;
use crate::actors::userdata::NodeBootstrap;

/// The KubeletConfig the node runs with, for the allocatable math.
pub(super) fn kubelet_config(
    bootstrap: &NodeBootstrap,
    it: &InstanceType,
) -> std::result::Result<KubeletConfig, String> {
    let list = |m: &BTreeMap<String, String>, what: &str| {
        if m.is_empty() {
            return Ok(None);
        }
        Resources::from_list(m.iter())
            .map(Some)
            .map_err(|(name, e)| format!("{what} {name}: {e}"))
    };
    let threshold = |signal: &str| -> std::result::Result<Option<EvictionThreshold>, String> {
        let Some(v) = bootstrap.eviction_hard.get(signal) else {
            return Ok(None);
        };
        if let Some(p) = v.strip_suffix('%') {
            let p: f64 = p
                .trim()
                .parse()
                .map_err(|e| format!("evictionHard {signal}={v}: {e}"))?;
            return Ok(Some(EvictionThreshold::Percent(p)));
        }
        provisioning::quantity::parse_units(v)
            .map(|b| Some(EvictionThreshold::Absolute(b)))
            .map_err(|e| format!("evictionHard {signal}={v}: {e}"))
    };
    Ok(KubeletConfig {
        max_pods: Some(bootstrap.max_pods.unwrap_or(it.max_pods)),
        pods_per_core: None,
        kube_reserved: list(&bootstrap.kube_reserved, "kubeReserved")?,
        system_reserved: list(&bootstrap.system_reserved, "systemReserved")?,
        eviction_memory: threshold("memory.available")?,
        eviction_nodefs: threshold("nodefs.available")?,
    })
}

pub(super) fn ready_condition(status: &str, reason: &str, message: &str) -> Value {
    let now = now_rfc3339();
    json!({
        "type": "Ready", "status": status, "reason": reason, "message": message,
        "lastHeartbeatTime": now, "lastTransitionTime": now,
    })
}

fn resource_list(r: &Resources) -> Value {
    let mut list: serde_json::Map<String, Value> = r
        .to_list()
        .into_iter()
        .map(|(k, v)| (k, Value::String(v)))
        .collect();
    for hp in ["hugepages-1Gi", "hugepages-2Mi"] {
        list.insert(hp.to_owned(), json!("0"));
    }
    Value::Object(list)
}

/// The Node kubelet registers (and the cloud controller completes).
pub(super) fn node_object(
    instance: &Ec2Instance,
    name: &str,
    region: &str,
    bootstrap: &NodeBootstrap,
    it: &InstanceType,
    kubelet: &KubeletConfig,
    kubelet_version: &str,
) -> Value {
    let arch = it.architecture.as_str();
    let mut labels: BTreeMap<String, String> = BTreeMap::new();
    for (k, v) in [
        ("kubernetes.io/hostname", name),
        ("kubernetes.io/os", "linux"),
        ("kubernetes.io/arch", arch),
        ("beta.kubernetes.io/os", "linux"),
        ("beta.kubernetes.io/arch", arch),
    ] {
        labels.insert(k.to_owned(), v.to_owned());
    }
    // --node-labels override kubelet's defaults ...
    labels.extend(bootstrap.labels.clone());
    // ... and the cloud controller sets the cloud's.
    for (k, v) in [
        ("node.kubernetes.io/instance-type", it.name.as_str()),
        ("beta.kubernetes.io/instance-type", it.name.as_str()),
        ("topology.kubernetes.io/zone", instance.zone.as_str()),
        (
            "failure-domain.beta.kubernetes.io/zone",
            instance.zone.as_str(),
        ),
        ("topology.kubernetes.io/region", region),
        ("failure-domain.beta.kubernetes.io/region", region),
    ] {
        labels.insert(k.to_owned(), v.to_owned());
    }
    let max_pods = kubelet.max_pods(it);
    let capacity = it.capacity(max_pods);
    let allocatable = provisioning::catalog::allocatable(it, kubelet);
    let now = now_rfc3339();
    let condition = |kind: &str, status: &str, reason: &str, message: &str| {
        json!({
            "type": kind, "status": status, "reason": reason, "message": message,
            "lastHeartbeatTime": now, "lastTransitionTime": now,
        })
    };
    let taints: Vec<Value> = bootstrap
        .taints
        .iter()
        .map(|t| {
            let mut v = json!({"key": t.key, "effect": t.effect});
            if let Some(value) = &t.value {
                v["value"] = json!(value);
            }
            v
        })
        .collect();
    let machine_id = pseudo_id(&instance.id, 32);
    let mut spec = json!({ "providerID": format!("aws:///{}/{}", instance.zone, instance.id) });
    if !taints.is_empty() {
        spec["taints"] = Value::Array(taints);
    }
    let mut addresses = Vec::new();
    if let Some(ip) = &instance.private_ip {
        addresses.push(json!({"type": "InternalIP", "address": ip}));
    }
    addresses.push(json!({"type": "InternalDNS", "address": name}));
    addresses.push(json!({"type": "Hostname", "address": name}));
    json!({
        "apiVersion": "v1",
        "kind": "Node",
        "metadata": {
            "name": name,
            "labels": labels,
            "annotations": {
                "alpha.kubernetes.io/provided-node-ip": instance.private_ip.clone().unwrap_or_default(),
                "node.alpha.kubernetes.io/ttl": "0",
                "volumes.kubernetes.io/controller-managed-attach-detach": "true",
            },
        },
        "spec": spec,
        "status": {
            "capacity": resource_list(&capacity),
            "allocatable": resource_list(&allocatable),
            "conditions": [
                condition("MemoryPressure", "False", "KubeletHasSufficientMemory", "kubelet has sufficient memory available"),
                condition("DiskPressure", "False", "KubeletHasNoDiskPressure", "kubelet has no disk pressure"),
                condition("PIDPressure", "False", "KubeletHasSufficientPID", "kubelet has sufficient PID available"),
                condition("Ready", "True", "KubeletReady", "kubelet is posting ready status"),
            ],
            "addresses": addresses,
            "daemonEndpoints": {"kubeletEndpoint": {"Port": 10250}},
            "nodeInfo": {
                "architecture": arch,
                "bootID": pseudo_uuid(&format!("boot-{}", instance.id)),
                "containerRuntimeVersion": bootstrap.family.container_runtime(),
                "kernelVersion": bootstrap.family.kernel_version(),
                "kubeProxyVersion": "",
                "kubeletVersion": kubelet_version,
                "machineID": machine_id,
                "operatingSystem": "linux",
                "osImage": bootstrap.family.os_image(),
                "systemUUID": format!("ec2{}", &pseudo_uuid(&instance.id)[3..]),
            },
        },
    })
}

/// The current time as the API writes it (`2026-11-30T10:20:00Z`).
fn now_rfc3339() -> String {
    let secs = SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64);
    // Howard Hinnant's civil-from-days.
    let (days, rem) = (secs.div_euclid(86_400), secs.rem_euclid(86_400));
    let z = days + 719_468;
    let (era, doe) = (z.div_euclid(146_097), z.rem_euclid(146_097));
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

/// `len` lower-case hex digits derived from `seed` (FNV-1a, repeated).
fn pseudo_id(seed: &str, len: usize) -> String {
    let mut out = String::with_capacity(len);
    let mut round = 0u64;
    while out.len() < len {
        let mut h: u64 = 0xcbf2_9ce4_8422_2325 ^ round;
        for b in seed.bytes() {
            h ^= u64::from(b);
            h = h.wrapping_mul(0x0100_0000_01b3);
        }
        out.push_str(&format!("{h:016x}"));
        round += 1;
    }
    out.truncate(len);
    out
}

fn pseudo_uuid(seed: &str) -> String {
    let h = pseudo_id(seed, 32);
    format!(
        "{}-{}-{}-{}-{}",
        &h[0..8],
        &h[8..12],
        &h[12..16],
        &h[16..20],
        &h[20..32]
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timestamps_are_rfc3339_seconds() {
        let t = now_rfc3339();
        assert_eq!(t.len(), 20, "{t}");
        assert!(t.starts_with("20") && t.ends_with('Z'), "{t}");
    }

    #[test]
    fn pseudo_ids_are_stable_hex() {
        let a = pseudo_uuid("i-1");
        assert_eq!(a, pseudo_uuid("i-1"));
        assert_ne!(a, pseudo_uuid("i-2"));
        assert_eq!(a.len(), 36);
        assert_eq!(pseudo_id("x", 40).len(), 40);
    }
}
