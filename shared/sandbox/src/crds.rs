//! Installs CustomResourceDefinitions from a folder of manifests (Karpenter's, in
//! infra/crds) through the Kubernetes API, as the bootstrap function will on a cluster:
//! created when missing, left alone when present.

use std::path::Path;

use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::api::{Api, PostParams};

use crate::{Error, Result};

/// Creates every CRD of `dir`'s `*.yaml` files that the cluster lacks. Returns the names
/// of those it created.
pub async fn install_crds(client: &kube::Client, dir: &Path) -> Result<Vec<String>> {
    let api: Api<CustomResourceDefinition> = Api::all(client.clone());
    let mut files: Vec<_> = std::fs::read_dir(dir)?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "yaml" || x == "yml"))
        .collect();
    files.sort();
    let mut created = Vec::new();
    for file in files {
        let text = std::fs::read_to_string(&file)?;
        let crd: CustomResourceDefinition = serde_yaml_ng::from_str(&text)?;
        let name = crd.metadata.name.clone().unwrap_or_default();
        match api.create(&PostParams::default(), &crd).await {
            Ok(_) => created.push(name),
            Err(kube::Error::Api(status)) if status.code == 409 => {}
            Err(e) => return Err(Error::Kube(e)),
        }
    }
    Ok(created)
}
