//! A kubeconfig for kubectl and the CLI: the server URL, the CA, and the static token.
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use serde_json::json;

use crate::Result;

/// The kubeconfig YAML (context and cluster named `nodeless-sandbox`).
pub fn render(url: &str, ca_pem: &str, token: &str) -> Result<String> {
    let name = "nodeless-sandbox";
    let doc = json!({
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{"name": name, "cluster": {
            "server": url,
            "certificate-authority-data": STANDARD.encode(ca_pem),
        }}],
        "users": [{"name": name, "user": {"token": token}}],
        "contexts": [{"name": name, "context": {"cluster": name, "user": name, "namespace": "default"}}],
        "current-context": name,
        "preferences": {},
    });
    Ok(serde_yaml_ng::to_string(&doc)?)
}
