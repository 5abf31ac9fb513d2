//! The node actor: what kubelet (and the AWS cloud controller) does for each instance the
//! product launches.
//!
//! Every `poll_interval` it lists the instances of one moto account and region that are
//! tagged for the cluster (`kubernetes.io/cluster/<name>`, `eks:eks-cluster-name`, or
//! Karpenter's `karpenter.sh/nodepool` / `karpenter.sh/nodeclaim`). A running instance,
//! `registration_delay` after it was first seen, reads its user data (DescribeInstanceAttribute
//! `userData`, else the launch template's) as its AMI's bootstrap would
//! ([`super::userdata`]) and registers a Node: named by its private DNS name, providerID
//! `aws:///<zone>/<instance-id>`, the well-known labels plus the user data's labels and
//! taints, capacity and allocatable from its instance type (the built-in catalog and the
//! user data's max pods and reservations), Ready. A node whose user data asks for labels
//! the NodeRestriction plugin forbids, or that has no bootstrap configuration, never joins:
//! the reason is logged and kept in [`JoinFailures`]. When the instance terminates (or is
//! gone), its Node is deleted, as the cloud controller's node lifecycle controller does;
//! a stopped instance's Node goes `Ready=Unknown`.
//!
//! As a real kubelet, it registers each instance once: a Node deleted while its instance
//! runs is not recreated.

use std::collections::{BTreeMap, HashMap};
use std::fmt;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant, SystemTime};

use k8s_openapi::api::core::v1::Node;
use provisioning::catalog::{Catalog, EvictionThreshold, InstanceType, KubeletConfig};
use provisioning::resources::Resources;
use serde_json::{Value, json};

use super::userdata::{self, NodeBootstrap};
use super::{ActorHandle, StopSignal};
use crate::aws::{AwsAccount, MotoClient};
use crate::error::{Error, Result};
use crate::kube::{Objects, Store};

/// The node actor's settings.
#[derive(Clone, Debug)]
pub struct NodeActorConfig {
    /// The moto server the instances run on.
    pub moto: MotoClient,
    /// The account and region to watch.
    pub account: AwsAccount,
    /// The EKS cluster the nodes join.
    pub cluster_name: String,
    /// How often to list instances (default 1 s).
    pub poll_interval: Duration,
    /// How long a running instance takes to register (default 2 s; tests use 0).
    pub registration_delay: Duration,
    /// `status.nodeInfo.kubeletVersion` (default `v1.31.2-eks-7f9249a`).
    pub kubelet_version: String,
    /// Where refused joins are recorded; clone it before spawning to read it.
    pub join_failures: JoinFailures,
}

impl NodeActorConfig {
    /// Defaults for everything but where to look.
    pub fn new(moto: MotoClient, account: AwsAccount, cluster_name: impl Into<String>) -> Self {
        Self {
            moto,
            account,
            cluster_name: cluster_name.into(),
            poll_interval: Duration::from_secs(1),
            registration_delay: Duration::from_secs(2),
            kubelet_version: "v1.31.2-eks-7f9249a".to_owned(),
            join_failures: JoinFailures::default(),
        }
    }

    pub fn with_poll_interval(mut self, interval: Duration) -> Self {
        self.poll_interval = interval;
        self
    }

    pub fn with_registration_delay(mut self, delay: Duration) -> Self {
        self.registration_delay = delay;
        self
    }
}

/// Why an instance did not join the cluster.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum JoinFailureReason {
    /// `--node-labels` in a namespace NodeRestriction reserves (the keys, sorted).
    ForbiddenLabels(Vec<String>),
    /// The user data holds no bootstrap configuration a node would act on.
    NoBootstrapConfig,
    /// The user data could not be read or parsed.
    InvalidUserData(String),
    /// The user data names another cluster.
    OtherCluster(String),
    /// The instance type is not in the built-in catalog.
    UnknownInstanceType(String),
}

impl fmt::Display for JoinFailureReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            JoinFailureReason::ForbiddenLabels(keys) => write!(
                f,
                "unknown 'kubernetes.io' or 'k8s.io' labels specified with --node-labels: \
                 {keys:?}; --node-labels in the 'kubernetes.io' namespace must begin with an \
                 allowed prefix (kubelet.kubernetes.io, node.kubernetes.io) or be in the \
                 specifically allowed set"
            ),
            JoinFailureReason::NoBootstrapConfig => {
                f.write_str("no bootstrap configuration in the user data")
            }
            JoinFailureReason::InvalidUserData(m) => write!(f, "invalid user data: {m}"),
            JoinFailureReason::OtherCluster(c) => write!(f, "user data joins cluster {c:?}"),
            JoinFailureReason::UnknownInstanceType(t) => {
                write!(f, "instance type {t:?} is not in the catalog")
            }
        }
    }
}

/// One instance that failed to join.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct JoinFailure {
    pub instance_id: String,
    /// The Node name it would have registered.
    pub node_name: String,
    pub reason: JoinFailureReason,
    pub at: SystemTime,
}

/// The refused joins so far, shared between the actor and whoever watches it.
#[derive(Clone, Debug, Default)]
pub struct JoinFailures(Arc<Mutex<Vec<JoinFailure>>>);

impl JoinFailures {
    /// Every failure, oldest first.
    pub fn list(&self) -> Vec<JoinFailure> {
        self.0
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// The failure of one instance, if it failed.
    pub fn for_instance(&self, instance_id: &str) -> Option<JoinFailure> {
        self.list()
            .into_iter()
            .find(|f| f.instance_id == instance_id)
    }

    fn record(&self, failure: JoinFailure) {
        tracing::warn!(
            instance = %failure.instance_id,
            node = %failure.node_name,
            reason = %failure.reason,
            "node failed to join the cluster"
        );
        self.0
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push(failure);
    }
}

/// Spawns the actor on `store`.
pub fn start(store: Arc<Store>, config: NodeActorConfig) -> ActorHandle {
    ActorHandle::spawn("node", move |stop| run(NodeAgent::new(store, config), stop))
}

async fn run(mut agent: NodeAgent, mut stop: StopSignal) {
    loop {
        if let Err(e) = agent.sync().await {
            tracing::warn!(error = %e, "node actor: sync failed; retrying");
        }
        if !stop.sleep(agent.config.poll_interval).await {
            break;
        }
    }
}

#[derive(Debug)]
enum Tracked {
    /// Running, seen first at this time, not registered yet.
    Waiting(Instant),
    /// Registered as this Node.
    Registered(String),
    /// Refused (see [`JoinFailures`]) or gone: nothing more to do.
    Done,
}

/// The actor's state and one step of its loop, usable directly by tests.
pub struct NodeAgent {
    store: Arc<Store>,
    config: NodeActorConfig,
    catalog: Option<Catalog>,
    tracked: HashMap<String, Tracked>,
}

/// What one [`NodeAgent::sync`] did.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct SyncReport {
    /// Nodes registered.
    pub registered: Vec<String>,
    /// Nodes deleted.
    pub deleted: Vec<String>,
    /// Instances refused.
    pub refused: Vec<String>,
}

impl NodeAgent {
    pub fn new(store: Arc<Store>, config: NodeActorConfig) -> Self {
        Self {
            store,
            config,
            catalog: None,
            tracked: HashMap::new(),
        }
    }

    /// Lists the cluster's instances once and registers, updates or deletes their Nodes.
    pub async fn sync(&mut self) -> Result<SyncReport> {
        let instances = self.describe_instances().await?;
        let mut report = SyncReport::default();
        let now = Instant::now();
        let mut present = std::collections::HashSet::new();
        let cluster = self.config.cluster_name.clone();
        for instance in instances.iter().filter(|i| belongs_to(&i.tags, &cluster)) {
            present.insert(instance.id.clone());
            match instance.state.as_str() {
                "pending" | "running" => {
                    let entry = self
                        .tracked
                        .entry(instance.id.clone())
                        .or_insert(Tracked::Waiting(now));
                    let running = instance.state == "running";
                    match entry {
                        Tracked::Waiting(seen)
                            if running
                                && now.duration_since(*seen) >= self.config.registration_delay =>
                        {
                            let next = match self.register(instance).await {
                                Ok(Some(name)) => {
                                    report.registered.push(name.clone());
                                    Tracked::Registered(name)
                                }
                                Ok(None) => {
                                    report.refused.push(instance.id.clone());
                                    Tracked::Done
                                }
                                // Transient (moto or store): retry next time.
                                Err(e) => {
                                    tracing::warn!(instance = %instance.id, error = %e, "node registration failed; retrying");
                                    continue;
                                }
                            };
                            self.tracked.insert(instance.id.clone(), next);
                        }
                        Tracked::Registered(name) if running => {
                            let name = name.clone();
                            self.set_ready(&name, true)?;
                        }
                        _ => {}
                    }
                }
                "stopping" | "stopped" => {
                    if let Some(Tracked::Registered(name)) = self.tracked.get(&instance.id) {
                        let name = name.clone();
                        self.set_ready(&name, false)?;
                    }
                }
                // shutting-down, terminated
                _ => {
                    if let Some(name) = self.forget(&instance.id)? {
                        report.deleted.push(name);
                    }
                }
            }
        }
        let gone: Vec<String> = self
            .tracked
            .keys()
            .filter(|id| !present.contains(*id))
            .cloned()
            .collect();
        for id in gone {
            if let Some(name) = self.forget(&id)? {
                report.deleted.push(name);
            }
            self.tracked.remove(&id);
        }
        Ok(report)
    }

    /// Marks an instance done and deletes its Node if it had one.
    fn forget(&mut self, instance_id: &str) -> Result<Option<String>> {
        let Some(Tracked::Registered(name)) =
            self.tracked.insert(instance_id.to_owned(), Tracked::Done)
        else {
            return Ok(None);
        };
        match Objects::new(&self.store).delete::<Node>(None, &name, None) {
            Ok(()) => {
                tracing::info!(node = %name, instance = %instance_id, "instance gone: node deleted");
                Ok(Some(name))
            }
            Err(Error::Api { code: 404, .. }) => Ok(None),
            Err(e) => {
                // Retry next time.
                self.tracked
                    .insert(instance_id.to_owned(), Tracked::Registered(name));
                Err(e)
            }
        }
    }

    /// Keeps the Ready condition of a registered node: True while the instance runs (a
    /// restarted instance's kubelet posts Ready again), Unknown once it stops.
    fn set_ready(&self, name: &str, running: bool) -> Result<()> {
        let objects = Objects::new(&self.store);
        let node = match objects.get::<Node>(None, name) {
            Ok(node) => node,
            Err(Error::Api { code: 404, .. }) => return Ok(()),
            Err(e) => return Err(e),
        };
        let (status, reason, message) = if running {
            ("True", "KubeletReady", "kubelet is posting ready status")
        } else {
            (
                "Unknown",
                "NodeStatusUnknown",
                "Kubelet stopped posting node status.",
            )
        };
        let current = node
            .status
            .as_ref()
            .and_then(|s| s.conditions.as_ref())
            .and_then(|c| c.iter().find(|c| c.type_ == "Ready"))
            .map(|c| c.status.clone());
        if current.as_deref() == Some(status) {
            return Ok(());
        }
        let condition: k8s_openapi::api::core::v1::NodeCondition =
            serde_json::from_value(ready_condition(status, reason, message))?;
        match objects.modify::<Node>(None, name, |node| {
            let conditions = node
                .status
                .get_or_insert_with(Default::default)
                .conditions
                .get_or_insert_with(Vec::new);
            conditions.retain(|c| c.type_ != "Ready");
            conditions.push(condition);
        }) {
            Ok(_) | Err(Error::Api { code: 404, .. }) => Ok(()),
            Err(e) => Err(e),
        }
    }

    /// Registers `instance`: `Ok(Some(node))`, or `Ok(None)` if it fails to join (recorded).
    async fn register(&mut self, instance: &Ec2Instance) -> Result<Option<String>> {
        let node_name = instance.node_name(self.config.account.region());
        let refuse = |reason: JoinFailureReason| {
            self.config.join_failures.record(JoinFailure {
                instance_id: instance.id.clone(),
                node_name: node_name.clone(),
                reason,
                at: SystemTime::now(),
            });
            Ok(None)
        };
        let raw = self.user_data(instance).await?;
        let bootstrap = match raw.as_deref().map(userdata::parse) {
            None | Some(Ok(None)) => return refuse(JoinFailureReason::NoBootstrapConfig),
            Some(Err(e)) => return refuse(JoinFailureReason::InvalidUserData(e.to_string())),
            Some(Ok(Some(b))) => b,
        };
        if let Some(cluster) = &bootstrap.cluster_name {
            if cluster != &self.config.cluster_name {
                return refuse(JoinFailureReason::OtherCluster(cluster.clone()));
            }
        }
        let forbidden = userdata::node_restriction_violations(&bootstrap.labels);
        if !forbidden.is_empty() {
            return refuse(JoinFailureReason::ForbiddenLabels(forbidden));
        }
        if self.catalog.is_none() {
            let region = self.config.account.region();
            let catalog = provisioning::catalog::builtin::load(region)
                .map_err(|e| Error::UserData(format!("the catalog of {region}: {e}")))?;
            self.catalog = Some(catalog);
        }
        let Some(it) = self.catalog.as_ref().and_then(|c| {
            c.instance_types
                .iter()
                .find(|t| t.name == instance.instance_type)
        }) else {
            return refuse(JoinFailureReason::UnknownInstanceType(
                instance.instance_type.clone(),
            ));
        };
        let kubelet = match kubelet_config(&bootstrap, it) {
            Ok(k) => k,
            Err(m) => return refuse(JoinFailureReason::InvalidUserData(m)),
        };
        let node = node_object(
            instance,
            &node_name,
            self.config.account.region(),
            &bootstrap,
            it,
            &kubelet,
            &self.config.kubelet_version,
        );
        let node: Node = serde_json::from_value(node)?;
        match Objects::new(&self.store).create(&node) {
            Ok(_) => {
                tracing::info!(node = %node_name, instance = %instance.id, instance_type = %instance.instance_type, "node registered");
                Ok(Some(node_name))
            }
            Err(Error::Api { code: 409, .. }) => {
                tracing::info!(node = %node_name, instance = %instance.id, "node already registered");
                Ok(Some(node_name))
            }
            Err(e) => Err(e),
        }
    }

    /// The instance's decoded user data: its own, else its launch template's.
    async fn user_data(&self, instance: &Ec2Instance) -> Result<Option<String>> {
        let (moto, account) = (&self.config.moto, &self.config.account);
        let xml = ec2(
            moto,
            account,
            "DescribeInstanceAttribute",
            &[("InstanceId", &instance.id), ("Attribute", "userData")],
        )
        .await?;
        let doc = parse_xml(&xml)?;
        let encoded = doc
            .find("userData")
            .and_then(|u| u.text_of("value"))
            .map(str::to_owned);
        let encoded = match encoded {
            Some(e) => Some(e),
            None => match instance.tags.get("aws:ec2launchtemplate:id") {
                Some(template) => {
                    let version = instance
                        .tags
                        .get("aws:ec2launchtemplate:version")
                        .map_or("$Default", String::as_str);
                    let xml = ec2(
                        moto,
                        account,
                        "DescribeLaunchTemplateVersions",
                        &[
                            ("LaunchTemplateId", template),
                            ("LaunchTemplateVersion.1", version),
                        ],
                    )
                    .await?;
                    parse_xml(&xml)?
                        .find("launchTemplateData")
                        .and_then(|d| d.text_of("userData"))
                        .map(str::to_owned)
                }
                None => None,
            },
        };
        encoded.map(|e| userdata::decode_base64(&e)).transpose()
    }

    /// Every instance carrying one of the cluster tags (any state).
    async fn describe_instances(&self) -> Result<Vec<Ec2Instance>> {
        let cluster_tag = format!("kubernetes.io/cluster/{}", self.config.cluster_name);
        let mut out = Vec::new();
        let mut token: Option<String> = None;
        loop {
            let mut params: Vec<(&str, &str)> = vec![
                ("Filter.1.Name", "tag-key"),
                ("Filter.1.Value.1", &cluster_tag),
                ("Filter.1.Value.2", "eks:eks-cluster-name"),
                ("Filter.1.Value.3", "karpenter.sh/nodepool"),
                ("Filter.1.Value.4", "karpenter.sh/nodeclaim"),
            ];
            if let Some(t) = &token {
                params.push(("NextToken", t));
            }
            let xml = ec2(
                &self.config.moto,
                &self.config.account,
                "DescribeInstances",
                &params,
            )
            .await?;
            let doc = parse_xml(&xml)?;
            if let Some(reservations) = doc.find("reservationSet") {
                for reservation in reservations.children("item") {
                    let Some(set) = reservation.child("instancesSet") else {
                        continue;
                    };
                    out.extend(set.children("item").filter_map(Ec2Instance::from_xml));
                }
            }
            token = doc
                .find("nextToken")
                .and_then(|n| n.text())
                .map(str::to_owned);
            if token.is_none() {
                return Ok(out);
            }
        }
    }
}

/// An EC2 query call.
async fn ec2(
    moto: &MotoClient,
    account: &AwsAccount,
    action: &str,
    params: &[(&str, &str)],
) -> Result<String> {
    moto.ec2(account, action, params).await
}

/// Whether the tags put an instance in `cluster` (Karpenter's tags count when no tag names
/// another cluster).
fn belongs_to(tags: &BTreeMap<String, String>, cluster: &str) -> bool {
    if tags.contains_key(&format!("kubernetes.io/cluster/{cluster}")) {
        return true;
    }
    if let Some(name) = tags.get("eks:eks-cluster-name") {
        return name == cluster;
    }
    if tags.keys().any(|k| k.starts_with("kubernetes.io/cluster/")) {
        return false;
    }
    tags.contains_key("karpenter.sh/nodepool") || tags.contains_key("karpenter.sh/nodeclaim")
}

/// The KubeletConfig the node runs with, for the allocatable math.
fn kubelet_config(
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

fn ready_condition(status: &str, reason: &str, message: &str) -> Value {
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
fn node_object(
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

/// What the actor reads of an EC2 instance.
#[derive(Debug, Clone)]
struct Ec2Instance {
    id: String,
    state: String,
    instance_type: String,
    zone: String,
    private_ip: Option<String>,
    private_dns: Option<String>,
    tags: BTreeMap<String, String>,
}

impl Ec2Instance {
    fn from_xml(item: &XmlElement) -> Option<Self> {
        let tags = item
            .child("tagSet")
            .map(|set| {
                set.children("item")
                    .filter_map(|t| {
                        Some((
                            t.text_of("key")?.to_owned(),
                            t.text_of("value").unwrap_or_default().to_owned(),
                        ))
                    })
                    .collect()
            })
            .unwrap_or_default();
        Some(Self {
            id: item.text_of("instanceId")?.to_owned(),
            state: item.child("instanceState")?.text_of("name")?.to_owned(),
            instance_type: item.text_of("instanceType")?.to_owned(),
            zone: item
                .child("placement")?
                .text_of("availabilityZone")?
                .to_owned(),
            private_ip: item.text_of("privateIpAddress").map(str::to_owned),
            private_dns: item.text_of("privateDnsName").map(str::to_owned),
            tags,
        })
    }

    /// The Node name: the private DNS name (`ip-10-0-1-2.ec2.internal` in us-east-1,
    /// `ip-10-0-1-2.<region>.compute.internal` elsewhere), as EKS AMIs name nodes.
    fn node_name(&self, region: &str) -> String {
        if let Some(dns) = self.private_dns.as_ref().filter(|d| !d.is_empty()) {
            return dns.clone();
        }
        let ip = self
            .private_ip
            .as_deref()
            .unwrap_or("0.0.0.0")
            .replace('.', "-");
        if region == "us-east-1" {
            format!("ip-{ip}.ec2.internal")
        } else {
            format!("ip-{ip}.{region}.compute.internal")
        }
    }
}

// ---------------------------------------------------------------------------------------
// Just enough XML for EC2 query answers: elements, text, entities; attributes ignored.

#[derive(Debug, Default)]
struct XmlElement {
    name: String,
    text: String,
    children: Vec<XmlElement>,
}

impl XmlElement {
    fn child(&self, name: &str) -> Option<&XmlElement> {
        self.children.iter().find(|c| c.name == name)
    }

    fn children<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a XmlElement> + 'a {
        self.children.iter().filter(move |c| c.name == name)
    }

    /// Trimmed non-empty text.
    fn text(&self) -> Option<&str> {
        Some(self.text.trim()).filter(|t| !t.is_empty())
    }

    fn text_of(&self, name: &str) -> Option<&str> {
        self.child(name)?.text()
    }

    /// The first descendant named `name` (depth first).
    fn find(&self, name: &str) -> Option<&XmlElement> {
        self.children.iter().find_map(|c| {
            if c.name == name {
                Some(c)
            } else {
                c.find(name)
            }
        })
    }
}

fn parse_xml(xml: &str) -> Result<XmlElement> {
    parse_xml_inner(xml).map_err(|message| Error::MotoRequest {
        request: "EC2 answer".to_owned(),
        status: None,
        message: format!("unreadable XML: {message}"),
    })
}

fn parse_xml_inner(xml: &str) -> std::result::Result<XmlElement, String> {
    let mut stack = vec![XmlElement::default()];
    let mut rest = xml;
    while !rest.is_empty() {
        let Some(lt) = rest.find('<') else {
            append_text(&mut stack, rest);
            break;
        };
        append_text(&mut stack, &rest[..lt]);
        rest = &rest[lt..];
        if let Some(after) = rest.strip_prefix("<?") {
            let end = after.find("?>").ok_or("unterminated <?")?;
            rest = &after[end + 2..];
        } else if let Some(after) = rest.strip_prefix("<!--") {
            let end = after.find("-->").ok_or("unterminated comment")?;
            rest = &after[end + 3..];
        } else if let Some(after) = rest.strip_prefix("<![CDATA[") {
            let end = after.find("]]>").ok_or("unterminated CDATA")?;
            if let Some(top) = stack.last_mut() {
                top.text.push_str(&after[..end]);
            }
            rest = &after[end + 3..];
        } else if let Some(after) = rest.strip_prefix("</") {
            let end = after.find('>').ok_or("unterminated end tag")?;
            let name = after[..end].trim();
            let element = stack.pop().ok_or("unbalanced end tag")?;
            if element.name != name {
                return Err(format!("</{name}> closes <{}>", element.name));
            }
            stack
                .last_mut()
                .ok_or("end tag without a parent")?
                .children
                .push(element);
            rest = &after[end + 1..];
        } else {
            let end = rest.find('>').ok_or("unterminated tag")?;
            let inner = &rest[1..end];
            let self_closing = inner.ends_with('/');
            let inner = inner.trim_end_matches('/');
            let name = inner
                .split(|c: char| c.is_whitespace())
                .next()
                .unwrap_or_default()
                .to_owned();
            let element = XmlElement {
                name,
                ..XmlElement::default()
            };
            if self_closing {
                stack.last_mut().ok_or("no parent")?.children.push(element);
            } else {
                stack.push(element);
            }
            rest = &rest[end + 1..];
        }
    }
    if stack.len() != 1 {
        return Err("unclosed elements".to_owned());
    }
    stack.pop().ok_or_else(|| "empty document".to_owned())
}

fn append_text(stack: &mut [XmlElement], text: &str) {
    if text.is_empty() {
        return;
    }
    if let Some(top) = stack.last_mut() {
        top.text.push_str(
            &text
                .replace("&lt;", "<")
                .replace("&gt;", ">")
                .replace("&quot;", "\"")
                .replace("&apos;", "'")
                .replace("&#xA;", "\n")
                .replace("&#10;", "\n")
                .replace("&amp;", "&"),
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_instances_from_describe_instances_xml() {
        let xml = r#"<?xml version="1.0" encoding="UTF-8"?>
<DescribeInstancesResponse xmlns="http://ec2.amazonaws.com/doc/2016-11-15/">
  <requestId>r</requestId>
  <reservationSet><item><reservationId>r-1</reservationId><groupSet/>
    <instancesSet><item>
      <instanceId>i-0abc</instanceId>
      <instanceState><code>16</code><name>running</name></instanceState>
      <privateDnsName>ip-10-0-1-2.ec2.internal</privateDnsName>
      <instanceType>m5.large</instanceType>
      <placement><availabilityZone>us-east-1b</availabilityZone><groupName/></placement>
      <privateIpAddress>10.0.1.2</privateIpAddress>
      <networkInterfaceSet><item><privateIpAddress>10.0.1.2</privateIpAddress></item></networkInterfaceSet>
      <tagSet>
        <item><key>kubernetes.io/cluster/c1</key><value>owned</value></item>
        <item><key>team</key><value>a &amp; b</value></item>
      </tagSet>
    </item></instancesSet>
  </item></reservationSet>
</DescribeInstancesResponse>"#;
        let doc = parse_xml(xml).expect("xml");
        let set = doc
            .find("reservationSet")
            .and_then(|r| r.child("item"))
            .and_then(|r| r.child("instancesSet"))
            .expect("instancesSet");
        let instances: Vec<Ec2Instance> = set
            .children("item")
            .filter_map(Ec2Instance::from_xml)
            .collect();
        assert_eq!(instances.len(), 1);
        let i = &instances[0];
        assert_eq!(
            (i.id.as_str(), i.state.as_str(), i.zone.as_str()),
            ("i-0abc", "running", "us-east-1b")
        );
        assert_eq!(i.tags["team"], "a & b");
        assert_eq!(i.node_name("us-east-1"), "ip-10-0-1-2.ec2.internal");
        let bare = Ec2Instance {
            private_dns: None,
            ..i.clone()
        };
        assert_eq!(
            bare.node_name("eu-west-1"),
            "ip-10-0-1-2.eu-west-1.compute.internal"
        );
        assert!(parse_xml("<a><b></a>").is_err());
    }

    #[test]
    fn cluster_membership_follows_karpenter_tags() {
        let tags = |pairs: &[(&str, &str)]| -> BTreeMap<String, String> {
            pairs
                .iter()
                .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
                .collect()
        };
        assert!(belongs_to(
            &tags(&[("kubernetes.io/cluster/c1", "owned")]),
            "c1"
        ));
        assert!(belongs_to(&tags(&[("eks:eks-cluster-name", "c1")]), "c1"));
        assert!(!belongs_to(&tags(&[("eks:eks-cluster-name", "c2")]), "c1"));
        assert!(belongs_to(
            &tags(&[("karpenter.sh/nodepool", "default")]),
            "c1"
        ));
        assert!(!belongs_to(
            &tags(&[
                ("karpenter.sh/nodepool", "default"),
                ("kubernetes.io/cluster/c2", "owned")
            ]),
            "c1"
        ));
        assert!(!belongs_to(&tags(&[("Name", "web")]), "c1"));
    }

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
