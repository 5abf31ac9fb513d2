//! The EKS cluster as a user has it, and what DescribeCluster tells about it.

use std::collections::BTreeMap;

use base64::Engine as _;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::account::AwsAccount;
use super::server::MotoServer;
use crate::error::Result;

/// What to seed: `POST /nodeless-api/seed-cluster`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct ClusterSpec {
    /// The EKS cluster name, also the `karpenter.sh/discovery` tag value.
    pub name: String,
    /// Kubernetes version, e.g. "1.31".
    pub version: String,
    /// The Kubernetes API emulator's HTTPS URL, if it is already up (else register it
    /// later with [`MotoServer::register_cluster`]).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub endpoint: Option<String>,
    /// Its CA certificate as base64 of the PEM, as EKS returns it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub certificate_authority_data: Option<String>,
    /// `CONFIG_MAP`, `API` or `API_AND_CONFIG_MAP` (default).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub authentication_mode: Option<String>,
    /// Default `KarpenterNodeRole-<name>`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub node_role_name: Option<String>,
}

impl ClusterSpec {
    /// A cluster named `name` running Kubernetes `version`.
    pub fn new(name: impl Into<String>, version: impl Into<String>) -> Self {
        Self {
            name: name.into(),
            version: version.into(),
            endpoint: None,
            certificate_authority_data: None,
            authentication_mode: None,
            node_role_name: None,
        }
    }

    /// With the Kubernetes API's URL and CA (PEM; encoded here as EKS does).
    pub fn with_api(mut self, endpoint: impl Into<String>, ca_pem: &str) -> Self {
        self.endpoint = Some(endpoint.into());
        self.certificate_authority_data = Some(encode_ca(ca_pem));
        self
    }
}

/// A private subnet the seed created.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct SeededSubnet {
    pub subnet_id: String,
    pub availability_zone: String,
    pub cidr_block: String,
}

/// What the seed created, with the ids moto gave it.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct SeededCluster {
    pub account_id: String,
    pub region: String,
    pub cluster_name: String,
    pub cluster_arn: String,
    pub version: String,
    pub vpc_id: String,
    /// Three private subnets in three zones, tagged `karpenter.sh/discovery: <cluster>`.
    pub subnets: Vec<SeededSubnet>,
    /// The cluster security group (as EKS creates it), tagged for discovery too.
    pub security_group_id: String,
    pub cluster_role_arn: String,
    pub fargate_pod_execution_role_arn: String,
    pub node_role_name: String,
    pub node_role_arn: String,
}

/// What DescribeCluster should answer for a cluster: `POST /nodeless-api/eks/clusters`.
/// Fields left `None` keep what moto (or an earlier registration) has.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct ClusterRegistration {
    pub name: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub endpoint: Option<String>,
    /// base64 of the PEM CA certificate.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub certificate_authority_data: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cluster_security_group_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub authentication_mode: Option<String>,
    /// Merged over the default `{"serviceIpv4Cidr": "10.100.0.0/16", "ipFamily": "ipv4", ...}`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub kubernetes_network_config: Option<Value>,
}

impl ClusterRegistration {
    /// The Kubernetes API of cluster `name` is at `endpoint` with CA `ca_pem`.
    pub fn api(name: impl Into<String>, endpoint: impl Into<String>, ca_pem: &str) -> Self {
        Self {
            name: name.into(),
            endpoint: Some(endpoint.into()),
            certificate_authority_data: Some(encode_ca(ca_pem)),
            ..Self::default()
        }
    }
}

/// base64 of a PEM certificate, the form of DescribeCluster's `certificateAuthority.data`.
pub fn encode_ca(pem: &str) -> String {
    base64::engine::general_purpose::STANDARD.encode(pem.as_bytes())
}

impl MotoServer {
    /// Creates, in `account`, a cluster the way a user has one: a VPC, three private
    /// subnets in three zones and the cluster security group, all tagged
    /// `karpenter.sh/discovery: <name>`; the cluster role, the Fargate pod execution role
    /// and the node role (with their AWS managed policies); the EKS cluster itself. The
    /// endpoint and CA in `spec`, if any, are registered for DescribeCluster.
    pub async fn seed_cluster(
        &self,
        account: &AwsAccount,
        spec: &ClusterSpec,
    ) -> Result<SeededCluster> {
        let mut body = serde_json::to_value(spec)?;
        if let Value::Object(map) = &mut body {
            map.insert("region".into(), account.region().into());
        }
        let answer = self
            .client()
            .nodeless_api(
                Some(account),
                "POST",
                "/nodeless-api/seed-cluster",
                Some(&body),
            )
            .await?;
        let seeded: SeededCluster = serde_json::from_value(answer)?;
        tracing::debug!(cluster = %seeded.cluster_name, account = %seeded.account_id, "seeded cluster");
        Ok(seeded)
    }

    /// Tells moto what DescribeCluster answers for `registration.name` in `account` (e.g.
    /// once the Kubernetes API emulator is listening).
    pub async fn register_cluster(
        &self,
        account: &AwsAccount,
        registration: &ClusterRegistration,
    ) -> Result<()> {
        let mut body = serde_json::to_value(registration)?;
        if let Value::Object(map) = &mut body {
            map.insert("region".into(), account.region().into());
        }
        self.client()
            .nodeless_api(
                Some(account),
                "POST",
                "/nodeless-api/eks/clusters",
                Some(&body),
            )
            .await?;
        Ok(())
    }

    /// The EKS-optimized AMI SSM parameters the server serves (name -> value), the same
    /// in every account and region.
    pub async fn ami_parameters(&self) -> Result<BTreeMap<String, String>> {
        let answer = self
            .client()
            .nodeless_api(None, "GET", "/nodeless-api/ssm/parameters", None)
            .await?;
        let params = answer.get("parameters").cloned().unwrap_or(Value::Null);
        Ok(serde_json::from_value(params)?)
    }
}
