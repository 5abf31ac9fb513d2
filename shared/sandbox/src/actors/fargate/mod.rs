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
mod node;
mod profiles;

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::time::Duration;

use k8s_openapi::api::core::v1::{Node, Pod};
use provisioning::api::k8s as pk;
use provisioning::resources::{CPU, MEMORY};

use super::scheduler::{DEFAULT_SCHEDULER, bind, is_pending_for, record_event_from, run_pod};
use super::{ActorHandle, StopSignal, is_kind, react};
use crate::Result;
use crate::aws::{AwsAccount, MotoClient};
use crate::kube::{Objects, Store};
use node::{format_gb, format_vcpu, node_for};

pub use node::fargate_size;
pub use profiles::{FargateProfile, FargateProfiles, FargateSelector};

/// The scheduler name EKS gives Fargate pods.
pub const FARGATE_SCHEDULER: &str = "fargate-scheduler";
/// The label (and taint key) of Fargate nodes.
pub const COMPUTE_TYPE_LABEL: &str = "eks.amazonaws.com/compute-type";
/// The annotation (and optional pod label) naming a pod's Fargate profile.
pub const PROFILE_ANNOTATION: &str = "eks.amazonaws.com/fargate-profile";

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
