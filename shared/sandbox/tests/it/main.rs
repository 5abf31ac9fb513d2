//! The sandbox crate's one integration-test binary (one link of kube + the AWS bits).
mod actors;
mod kube_api;
mod lambda_wiring;
mod moto;
mod node_actor;
