//! What the node actor reads from EC2: the cluster's instances and their user data.

use std::collections::BTreeMap;

use super::NodeAgent;
use super::xml::{XmlElement, parse_xml};
use crate::actors::userdata;
use crate::aws::{AwsAccount, MotoClient};
use crate::error::Result;

impl NodeAgent {
    /// The instance's decoded user data: its own, else its launch template's.
    pub(super) async fn user_data(&self, instance: &Ec2Instance) -> Result<Option<String>> {
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
    pub(super) async fn describe_instances(&self) -> Result<Vec<Ec2Instance>> {
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
pub(super) fn belongs_to(tags: &BTreeMap<String, String>, cluster: &str) -> bool {
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

/// What the actor reads of an EC2 instance.
#[derive(Debug, Clone)]
pub(super) struct Ec2Instance {
    pub(super) id: String,
    pub(super) state: String,
    pub(super) instance_type: String,
    pub(super) zone: String,
    pub(super) private_ip: Option<String>,
    pub(super) private_dns: Option<String>,
    pub(super) tags: BTreeMap<String, String>,
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
    pub(super) fn node_name(&self, region: &str) -> String {
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
}
