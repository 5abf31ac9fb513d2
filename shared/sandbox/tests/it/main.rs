//! The sandbox crate's one integration-test binary (one link of kube + the AWS bits).
mod kube_api;
mod moto;
