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

mod ec2;
mod registration;
mod xml;

use std::collections::HashMap;
use std::fmt;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant, SystemTime};

use k8s_openapi::api::core::v1::Node;
use provisioning::catalog::Catalog;

use super::userdata;
use super::{ActorHandle, StopSignal};
use crate::aws::{AwsAccount, MotoClient};
use crate::error::{Error, Result};
use crate::kube::{Objects, Store};
use ec2::{Ec2Instance, belongs_to};
use registration::{kubelet_config, node_object, ready_condition};

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
}
