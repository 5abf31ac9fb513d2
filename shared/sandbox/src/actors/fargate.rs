//! EKS Fargate stand-in: a pod that an EKS Fargate profile selects (namespace and labels,
//! `*`/`?` wildcards allowed as in EKS) runs on its own `fargate-ip-...` node, as on EKS.
//!
//! The profiles are read from moto (EKS `ListFargateProfiles` + `DescribeFargateProfile`
//! for the configured account, region and cluster; zones from EC2 `DescribeSubnets` of the
//! profile's subnets) at start and every [`FargateConfig::refresh`]. For each selected
//! unbound pod it does what EKS's admission webhook and Fargate scheduler do: the pod gets
//! `schedulerName: fargate-scheduler` and the `eks.amazonaws.com/fargate-profile` and
//! `CapacityProvisioned` annotations (here after creation: the emulator has no mutating
//! admission, so a profile-selected pod shows `default-scheduler` until the actor claims
//! it — the scheduler actor leaves such pods alone through the shared
//! [`FargateProfiles`]); a Node sized to the pod's Fargate configuration is created (labels
//! `eks.amazonaws.com/compute-type=fargate`, zone and region, taint
//! `eks.amazonaws.com/compute-type=fargate:NoSchedule`, Ready), the pod is bound there and
//! started. The node is deleted once its pod is gone or finished.
//!
//! Pods owned by a DaemonSet are never selected (as on EKS). A pod matching several
//! profiles takes the one its `eks.amazonaws.com/fargate-profile` label names, else the
//! first by name.
use std::collections::{BTreeMap, BTreeSet};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, RwLock};

use std::time::Duration;
use tokio::sync::watch;

use k8s_openapi::api::core::v1::{
    Node, NodeAddress, NodeCondition, NodeSpec, NodeStatus, NodeSystemInfo, Pod, Taint,
};
use k8s_openapi::apimachinery::pkg::api::resource::Quantity;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use provisioning::api::k8s as pk;
use provisioning::resources::{CPU, MEMORY};
use serde_json::Value;

use super::scheduler::{DEFAULT_SCHEDULER, bind, is_pending_for, now, record_event_from, run_pod};
use super::{ActorHandle, StopSignal, is_kind, react};
use crate::Result;
use crate::aws::{AwsAccount, MotoClient, xml_texts};
use crate::kube::{Objects, Store};

/// The scheduler name EKS gives Fargate pods.
pub const FARGATE_SCHEDULER: &str = "fargate-scheduler";
/// The label (and taint key) of Fargate nodes.
pub const COMPUTE_TYPE_LABEL: &str = "eks.amazonaws.com/compute-type";
/// The annotation (and optional pod label) naming a pod's Fargate profile.
pub const PROFILE_ANNOTATION: &str = "eks.amazonaws.com/fargate-profile";

/// One Fargate profile selector: a namespace and labels (both may hold `*`/`?`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FargateSelector {
    pub namespace: String,
    pub labels: BTreeMap<String, String>,
}

/// An ACTIVE Fargate profile as the actor uses it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FargateProfile {
    pub name: String,
    pub selectors: Vec<FargateSelector>,
    pub subnets: Vec<String>,
    /// The zones of `subnets` (from EC2), where its nodes go.
    pub zones: Vec<String>,
}

/// The current profiles, shared between the Fargate actor and the scheduler (which leaves
/// the pods they select alone, and schedules nothing before they are first loaded). Cheap
/// to clone.
#[derive(Clone, Debug, Default)]
pub struct FargateProfiles(Arc<Shared>);

#[derive(Debug)]
struct Shared {
    profiles: RwLock<Vec<FargateProfile>>,
    /// Bumped on every load; 0 = never loaded.
    version: watch::Sender<u64>,
}

impl Default for Shared {
    fn default() -> Self {
        Self {
            profiles: RwLock::default(),
            version: watch::channel(0).0,
        }
    }
}

/// `*` any run, `?` any one character, as EKS Fargate selectors allow.
fn glob(pattern: &str, text: &str) -> bool {
    let (p, t): (Vec<char>, Vec<char>) = (pattern.chars().collect(), text.chars().collect());
    let (mut pi, mut ti, mut star, mut mark) = (0, 0, None, 0);
    while ti < t.len() {
        if pi < p.len() && (p[pi] == '?' || p[pi] == t[ti]) {
            pi += 1;
            ti += 1;
        } else if pi < p.len() && p[pi] == '*' {
            star = Some(pi);
            mark = ti;
            pi += 1;
        } else if let Some(s) = star {
            pi = s + 1;
            mark += 1;
            ti = mark;
        } else {
            return false;
        }
    }
    p[pi..].iter().all(|c| *c == '*')
}

impl FargateSelector {
    pub fn matches(&self, namespace: &str, labels: &BTreeMap<String, String>) -> bool {
        glob(&self.namespace, namespace)
            && self
                .labels
                .iter()
                .all(|(k, v)| labels.get(k).is_some_and(|have| glob(v, have)))
    }
}

impl FargateProfiles {
    /// Profiles given directly (no moto).
    pub fn new(profiles: Vec<FargateProfile>) -> Self {
        let this = Self::default();
        this.set(profiles);
        this
    }

    /// Replaces the profiles (sorted by name).
    pub fn set(&self, mut profiles: Vec<FargateProfile>) {
        profiles.sort_by(|a, b| a.name.cmp(&b.name));
        *self
            .0
            .profiles
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = profiles;
        self.0.version.send_modify(|v| *v += 1);
    }

    /// Whether profiles were loaded (or a first load was at least attempted).
    pub fn loaded(&self) -> bool {
        *self.0.version.borrow() > 0
    }

    /// Counts loads, for waking those who wait on them.
    pub fn changes(&self) -> watch::Receiver<u64> {
        self.0.version.subscribe()
    }

    fn mark_attempted(&self) {
        self.0.version.send_if_modified(|v| {
            let first = *v == 0;
            if first {
                *v = 1;
            }
            first
        });
    }

    /// The current profiles.
    pub fn get(&self) -> Vec<FargateProfile> {
        self.0
            .profiles
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone()
    }

    /// The profile that takes `pod`, if any (DaemonSet pods never go to Fargate). Says
    /// nothing about whether the pod is still unbound.
    pub fn selects(&self, pod: &Pod) -> Option<FargateProfile> {
        let meta = &pod.metadata;
        if meta
            .owner_references
            .as_ref()
            .is_some_and(|os| os.iter().any(|o| o.kind == "DaemonSet"))
        {
            return None;
        }
        let ns = meta.namespace.as_deref().unwrap_or("default");
        let empty = BTreeMap::new();
        let labels = meta.labels.as_ref().unwrap_or(&empty);
        let wanted = labels.get(PROFILE_ANNOTATION);
        let profiles = self
            .0
            .profiles
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let mut matching = profiles
            .iter()
            .filter(|p| p.selectors.iter().any(|s| s.matches(ns, labels)));
        match wanted {
            Some(name) => matching.find(|p| &p.name == name).cloned(),
            None => matching.next().cloned(),
        }
    }

    /// Reloads the ACTIVE profiles of `cluster` from moto.
    pub async fn refresh(
        &self,
        client: &MotoClient,
        account: &AwsAccount,
        cluster: &str,
    ) -> Result<()> {
        let base = format!("/clusters/{cluster}/fargate-profiles");
        let mut names = Vec::new();
        let mut token: Option<String> = None;
        loop {
            let path = match &token {
                Some(t) => format!("{base}?nextToken={}", urlencode(t)),
                None => base.clone(),
            };
            let page = client.rest_json(account, "eks", "GET", &path, None).await?;
            names.extend(
                page["fargateProfileNames"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .filter_map(Value::as_str)
                    .map(String::from),
            );
            token = page["nextToken"]
                .as_str()
                .filter(|t| !t.is_empty())
                .map(String::from);
            if token.is_none() {
                break;
            }
        }
        let mut profiles = Vec::new();
        for name in names {
            let path = format!("{base}/{}", urlencode(&name));
            let answer = client.rest_json(account, "eks", "GET", &path, None).await?;
            let p = &answer["fargateProfile"];
            if p["status"].as_str().is_some_and(|s| s != "ACTIVE") {
                continue;
            }
            let selectors = p["selectors"]
                .as_array()
                .into_iter()
                .flatten()
                .map(|s| FargateSelector {
                    namespace: s["namespace"].as_str().unwrap_or_default().to_string(),
                    labels: s["labels"]
                        .as_object()
                        .map(|m| {
                            m.iter()
                                .map(|(k, v)| (k.clone(), v.as_str().unwrap_or_default().into()))
                                .collect()
                        })
                        .unwrap_or_default(),
                })
                .collect();
            let subnets: Vec<String> = p["subnets"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(Value::as_str)
                .map(String::from)
                .collect();
            let zones = if subnets.is_empty() {
                Vec::new()
            } else {
                let params: Vec<(String, String)> = subnets
                    .iter()
                    .enumerate()
                    .map(|(i, s)| (format!("SubnetId.{}", i + 1), s.clone()))
                    .collect();
                let refs: Vec<(&str, &str)> = params
                    .iter()
                    .map(|(k, v)| (k.as_str(), v.as_str()))
                    .collect();
                match describe_subnets(client, account, &refs).await {
                    Ok(xml) => xml_texts(&xml, "availabilityZone")
                        .into_iter()
                        .collect::<BTreeSet<_>>()
                        .into_iter()
                        .collect(),
                    Err(e) => {
                        tracing::warn!(profile = %name, error = %e, "subnet zones unknown");
                        Vec::new()
                    }
                }
            };
            profiles.push(FargateProfile {
                name,
                selectors,
                subnets,
                zones,
            });
        }
        tracing::debug!(
            cluster,
            count = profiles.len(),
            "fargate profiles refreshed"
        );
        self.set(profiles);
        Ok(())
    }
}

/// EC2 DescribeSubnets.
async fn describe_subnets(
    client: &MotoClient,
    account: &AwsAccount,
    params: &[(&str, &str)],
) -> Result<String> {
    client.ec2(account, "DescribeSubnets", params).await
}

fn urlencode(s: &str) -> String {
    url::form_urlencoded::byte_serialize(s.as_bytes()).collect()
}

/// Where the profiles come from: moto's EKS for one account, region and cluster.
#[derive(Clone, Debug)]
pub struct FargateSource {
    pub client: MotoClient,
    pub account: AwsAccount,
    pub cluster: String,
}

/// Fargate actor settings.
#[derive(Clone, Debug)]
pub struct FargateConfig {
    /// Read the profiles from moto (`None`: only what [`Self::profiles`] holds).
    pub source: Option<FargateSource>,
    /// The profiles in use; share them with the scheduler ([`super::ActorsConfig`] does).
    pub profiles: FargateProfiles,
    /// How often the profiles are re-read from moto (default 30 s).
    pub refresh: Duration,
    /// A full pass even without changes (default 5 s).
    pub resync: Duration,
    /// Changes arriving within this window make one pass (default 10 ms).
    pub debounce: Duration,
    /// The region for node labels when no profile subnet names a zone.
    pub region: String,
    /// The Kubernetes version fargate nodes report (`v<version>-eks-...`).
    pub kubernetes_version: String,
}

impl FargateConfig {
    /// Profiles of `cluster` read from moto in `account`.
    pub fn from_moto(client: MotoClient, account: AwsAccount, cluster: impl Into<String>) -> Self {
        let region = account.region().to_string();
        Self {
            source: Some(FargateSource {
                client,
                account,
                cluster: cluster.into(),
            }),
            region,
            ..Self::with_profiles(FargateProfiles::default())
        }
    }

    /// Fixed profiles, no moto.
    pub fn with_profiles(profiles: FargateProfiles) -> Self {
        Self {
            source: None,
            profiles,
            refresh: Duration::from_secs(30),
            resync: Duration::from_secs(5),
            debounce: Duration::from_millis(10),
            region: crate::aws::DEFAULT_REGION.into(),
            kubernetes_version: "1.31".into(),
        }
    }
}

/// Starts the Fargate actor on `store`.
pub fn start(store: Arc<Store>, config: FargateConfig) -> ActorHandle {
    ActorHandle::spawn("fargate", move |stop: StopSignal| async move {
        let read = |src: FargateSource, profiles: FargateProfiles| async move {
            if let Err(e) = profiles
                .refresh(&src.client, &src.account, &src.cluster)
                .await
            {
                tracing::warn!(cluster = %src.cluster, error = %e, "reading fargate profiles");
                profiles.mark_attempted();
            }
        };
        // The first read before the first pass, so pods already waiting are taken.
        match &config.source {
            Some(src) => read(src.clone(), config.profiles.clone()).await,
            None => config.profiles.mark_attempted(),
        }
        let refresher = async {
            let Some(src) = config.source.clone() else {
                return;
            };
            let mut stop = stop.clone();
            while stop.sleep(config.refresh).await {
                read(src.clone(), config.profiles.clone()).await;
            }
        };
        let mut actor = Fargate::new(config.clone());
        let watch = react(
            "fargate",
            store,
            stop.clone(),
            config.resync,
            config.debounce,
            Some(config.profiles.changes()),
            |e| is_kind(e, "", "pods") || is_kind(e, "", "nodes"),
            |store| {
                if let Err(e) = actor.pass(store) {
                    tracing::warn!(error = %e, "fargate pass failed");
                }
            },
        );
        tokio::join!(refresher, watch);
    })
}

struct Fargate {
    config: FargateConfig,
    /// Pods (uid) already told they are too large for Fargate.
    too_large: BTreeSet<String>,
}

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

fn format_vcpu(milli: i64) -> String {
    if milli % 1000 == 0 {
        (milli / 1000).to_string()
    } else {
        let s = format!("{:.2}", milli as f64 / 1000.0);
        s.trim_end_matches('0').to_string()
    }
}

fn format_gb(mib: i64) -> String {
    if mib % 1024 == 0 {
        (mib / 1024).to_string()
    } else {
        let s = format!("{:.2}", mib as f64 / 1024.0);
        s.trim_end_matches('0').to_string()
    }
}

static NEXT_IP: AtomicU64 = AtomicU64::new(0);

fn node_for(
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

impl Fargate {
    fn new(config: FargateConfig) -> Self {
        Self {
            config,
            too_large: BTreeSet::new(),
        }
    }

    fn pass(&mut self, store: &Arc<Store>) -> Result<()> {
        let objects = Objects::new(store);
        let pods: Vec<Pod> = objects.list(None)?;
        let nodes: Vec<Node> = objects.list(None)?;
        let mut taken: BTreeSet<String> = nodes
            .iter()
            .filter_map(|n| n.metadata.name.clone())
            .collect();
        // Fargate nodes whose pod is gone or finished go away.
        for node in &nodes {
            let is_fargate = node
                .metadata
                .labels
                .as_ref()
                .and_then(|l| l.get(COMPUTE_TYPE_LABEL))
                .is_some_and(|v| v == "fargate");
            let Some(name) = node.metadata.name.as_deref() else {
                continue;
            };
            if !is_fargate {
                continue;
            }
            let occupied = pods.iter().any(|p| {
                p.spec.as_ref().and_then(|s| s.node_name.as_deref()) == Some(name)
                    && !matches!(
                        p.status.as_ref().and_then(|s| s.phase.as_deref()),
                        Some("Succeeded" | "Failed")
                    )
            });
            if !occupied {
                match objects.delete::<Node>(None, name, Some(0)) {
                    Ok(()) | Err(crate::Error::Api { code: 404, .. }) => {
                        tracing::debug!(node = name, "fargate node removed");
                    }
                    Err(e) => return Err(e),
                }
            }
        }
        for pod in &pods {
            if !is_pending_for(pod, &[DEFAULT_SCHEDULER, FARGATE_SCHEDULER]) {
                continue;
            }
            let Some(profile) = self.config.profiles.selects(pod) else {
                continue;
            };
            let ns = pod
                .metadata
                .namespace
                .clone()
                .unwrap_or_else(|| "default".into());
            let name = pod.metadata.name.clone().unwrap_or_default();
            let key = format!("{ns}/{name}");
            let parsed: pk::Pod = serde_json::from_value(serde_json::to_value(pod)?)?;
            let requests = provisioning::model::pod::pod_requests(&parsed.spec);
            let Some((cpu, mib)) = fargate_size(requests.fixed(CPU), requests.fixed(MEMORY)) else {
                // As on EKS: the pod stays Pending, with a warning.
                let uid = pod.metadata.uid.clone().unwrap_or_default();
                if self.too_large.insert(uid) {
                    record_event_from(
                        &objects,
                        pod,
                        FARGATE_SCHEDULER,
                        "Warning",
                        "FailedScheduling",
                        "Pod not supported on Fargate: total resource requests exceed the \
                         largest Fargate configuration (16 vCPU, 120 GB)",
                    );
                }
                continue;
            };
            let capacity = format!("{}vCPU {}GB", format_vcpu(cpu), format_gb(mib));
            let zone = if profile.zones.is_empty() {
                format!("{}a", self.config.region)
            } else {
                let h = key.bytes().fold(0usize, |h, b| {
                    h.wrapping_mul(31).wrapping_add(usize::from(b))
                });
                profile.zones[h % profile.zones.len()].clone()
            };
            let region = zone
                .trim_end_matches(|c: char| c.is_ascii_alphabetic())
                .to_string();
            let region = if region.is_empty() {
                self.config.region.clone()
            } else {
                region
            };
            // What EKS's webhook would have written at admission.
            let claimed = objects.modify::<Pod>(Some(&ns), &name, |p| {
                let spec = p.spec.get_or_insert_with(Default::default);
                if spec.node_name.as_deref().is_some_and(|n| !n.is_empty()) {
                    return;
                }
                spec.scheduler_name = Some(FARGATE_SCHEDULER.into());
                let ann = p.metadata.annotations.get_or_insert_with(BTreeMap::new);
                ann.insert(PROFILE_ANNOTATION.into(), profile.name.clone());
                ann.insert("CapacityProvisioned".into(), capacity.clone());
            });
            match claimed {
                Ok(_) => {}
                Err(crate::Error::Api { code: 404, .. }) => continue,
                Err(e) => return Err(e),
            }
            let (node, ip) = node_for(
                &key,
                &zone,
                &region,
                cpu,
                mib,
                &self.config.kubernetes_version,
                &taken,
            );
            let node_name = node.metadata.name.clone().unwrap_or_default();
            objects.create(&node)?;
            taken.insert(node_name.clone());
            if bind(&objects, &ns, &name, &node_name)? {
                tracing::debug!(pod = %key, node = %node_name, profile = %profile.name, %capacity, "fargate pod bound");
                record_event_from(
                    &objects,
                    pod,
                    FARGATE_SCHEDULER,
                    "Normal",
                    "Scheduled",
                    &format!("Successfully assigned {key} to {node_name}"),
                );
                run_pod(&objects, &ns, &name, Some(&ip))?;
            } else {
                let _ = objects.delete::<Node>(None, &node_name, Some(0));
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn selectors_take_eks_wildcards() {
        assert!(glob("kube-*", "kube-system"));
        assert!(glob("*", ""));
        assert!(glob("app-?", "app-1"));
        assert!(!glob("app-?", "app-10"));
        assert!(glob("a*b*c", "axxbyyc"));
        assert!(!glob("a*b*c", "axxbyy"));
        let s = FargateSelector {
            namespace: "prod-*".into(),
            labels: [("compute".to_string(), "far*".to_string())].into(),
        };
        let labels: BTreeMap<String, String> =
            [("compute".to_string(), "fargate".to_string())].into();
        assert!(s.matches("prod-eu", &labels));
        assert!(!s.matches("dev", &labels));
        assert!(!s.matches("prod-eu", &BTreeMap::new()));
    }

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
