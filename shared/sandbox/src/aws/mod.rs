//! The AWS side of the sandbox: a real `moto_server` on 127.0.0.1, patched where the
//! product reads what moto lacks (see `shared/notes/moto.md` in the steering repo):
//!
//! * EKS DescribeCluster returns the Kubernetes API emulator's HTTPS URL and CA, the
//!   cluster security group, `accessConfig.authenticationMode` and a realistic
//!   `kubernetesNetworkConfig` ([`MotoServer::register_cluster`]);
//! * the EKS-optimized AMI public SSM parameters (AL2023, AL2, Bottlerocket) resolve to
//!   AMIs that DescribeImages knows ([`MotoServer::ami_parameters`]);
//! * [`MotoServer::seed_cluster`] creates a cluster the way a user has one.
//!
//! moto runs from the project venv (`scripts/setup-venv.sh`) as
//! `python shared/sandbox/python/nodeless_moto.py`. Each test takes a fresh account
//! ([`MotoServer::new_account`]) on one shared server ([`MotoServer::shared`]) and sends
//! its id in the [`ACCOUNT_HEADER`] header with every request.

mod account;
mod cluster;
mod http;
mod server;

pub use account::{
    ACCOUNT_HEADER, AwsAccount, DEFAULT_ACCOUNT_ID, DEFAULT_REGION, fresh_account_id,
};
pub use cluster::{ClusterRegistration, ClusterSpec, SeededCluster, SeededSubnet, encode_ca};
pub use http::{
    EC2_API_VERSION, HttpResponse, IAM_API_VERSION, MotoClient, STS_API_VERSION, xml_text,
    xml_texts,
};
pub use server::{MotoOptions, MotoServer};
