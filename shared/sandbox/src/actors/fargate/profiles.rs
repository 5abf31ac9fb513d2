//! EKS Fargate profiles: their selectors, and reading them from moto.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, RwLock};

use k8s_openapi::api::core::v1::Pod;
use serde_json::Value;
use tokio::sync::watch;

use super::PROFILE_ANNOTATION;
use crate::Result;
use crate::aws::{AwsAccount, MotoClient, xml_texts};

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

    pub(super) fn mark_attempted(&self) {
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
}
