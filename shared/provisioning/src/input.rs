//! Reading manifests: multi-document YAML (or JSON) files into typed objects, each kept
//! with where it came from so every later error can name file, document and field.

use serde::de::DeserializeOwned;
use serde_json::Value;

use crate::api::k8s::{Node, Pod, Workload};
use crate::api::karpenter::{NodeClaim, NodeClass, NodePool, Provisioner};
use crate::error::{Error, Result};

/// Where an object came from: file, 0-based document index, and the path inside the
/// document when it was an item of a `List`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Location {
    pub file: String,
    pub document: usize,
    pub prefix: String,
}

impl Location {
    pub fn error(&self, field: impl AsRef<str>, message: impl Into<String>) -> Error {
        let field = field.as_ref();
        let field = match (self.prefix.is_empty(), field.is_empty()) {
            (true, _) => field.to_string(),
            (false, true) => self.prefix.clone(),
            (false, false) => format!("{}.{}", self.prefix, field),
        };
        Error::InvalidManifest {
            file: self.file.clone(),
            document: self.document,
            field: if field.is_empty() {
                "(document)".into()
            } else {
                field
            },
            message: message.into(),
        }
    }
}

impl std::fmt::Display for Location {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: document {}", self.file, self.document)?;
        if !self.prefix.is_empty() {
            write!(f, " ({})", self.prefix)?;
        }
        Ok(())
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PoolVersion {
    V1,
    V1beta1,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WorkloadKind {
    Deployment,
    ReplicaSet,
    StatefulSet,
    Job,
}

/// Every object of the input, typed, in reading order.
#[derive(Debug, Default)]
pub struct Manifests {
    pub pods: Vec<(Location, Pod)>,
    pub workloads: Vec<(Location, WorkloadKind, Workload)>,
    pub daemonsets: Vec<(Location, Workload)>,
    pub nodes: Vec<(Location, Node)>,
    pub node_claims: Vec<(Location, NodeClaim)>,
    pub node_pools: Vec<(Location, PoolVersion, NodePool)>,
    pub provisioners: Vec<(Location, Provisioner)>,
    pub node_classes: Vec<(Location, String, NodeClass)>,
    /// Things worth telling the user that are not errors (ignored kinds, ...).
    pub notes: Vec<String>,
}

impl Manifests {
    /// Reads every document of one file's text.
    pub fn add_file(&mut self, file: &str, text: &str) -> Result<()> {
        for (document, chunk) in split_documents(text).into_iter().enumerate() {
            let loc = Location {
                file: file.to_string(),
                document,
                prefix: String::new(),
            };
            let Some(value) = parse_document(&loc, chunk)? else {
                continue;
            };
            self.add_value(loc, value)?;
        }
        Ok(())
    }

    fn add_value(&mut self, loc: Location, value: Value) -> Result<()> {
        let Value::Object(map) = &value else {
            return Err(loc.error("", "a manifest must be a mapping with apiVersion and kind"));
        };
        if map.is_empty() {
            return Ok(());
        }
        let text = |key: &str| match map.get(key) {
            Some(Value::String(s)) if !s.is_empty() => Ok(s.clone()),
            Some(_) => Err(loc.error(key, "must be a non-empty string")),
            None => Err(loc.error(key, "required")),
        };
        let api_version = text("apiVersion")?;
        let kind = text("kind")?;
        let accepted: &[&str] = match kind.as_str() {
            "Pod" | "Node" | "List" => &["v1"],
            "Deployment" | "ReplicaSet" | "StatefulSet" | "DaemonSet" => &["apps/v1"],
            "Job" => &["batch/v1"],
            "NodeClaim" => &["karpenter.sh/v1"],
            "NodePool" => &["karpenter.sh/v1", "karpenter.sh/v1beta1"],
            "Provisioner" => &["karpenter.sh/v1alpha5"],
            "EC2NodeClass" => &["karpenter.k8s.aws/v1", "karpenter.k8s.aws/v1beta1"],
            "AWSNodeTemplate" => &["karpenter.k8s.aws/v1alpha1"],
            _ => {
                let name = map
                    .get("metadata")
                    .and_then(|m| m.get("name"))
                    .and_then(Value::as_str)
                    .unwrap_or("(unnamed)");
                self.notes.push(format!(
                    "{loc}: ignoring {kind} {name} ({api_version}): not used by the simulation"
                ));
                return Ok(());
            }
        };
        if !accepted.contains(&api_version.as_str()) {
            return Err(loc.error(
                "apiVersion",
                format!(
                    "{kind} must have apiVersion {} (got {api_version})",
                    accepted.join(" or ")
                ),
            ));
        }
        if kind == "List" {
            let Some(Value::Array(items)) = map.get("items") else {
                return match map.get("items") {
                    None | Some(Value::Null) => Ok(()),
                    Some(_) => Err(loc.error("items", "must be a list")),
                };
            };
            for (i, item) in items.iter().enumerate() {
                let item_loc = Location {
                    prefix: format!("{}items[{i}]", dotted(&loc.prefix)),
                    ..loc.clone()
                };
                self.add_value(item_loc, item.clone())?;
            }
            return Ok(());
        }
        let has_name = map
            .get("metadata")
            .and_then(|m| m.get("name"))
            .and_then(Value::as_str)
            .is_some_and(|n| !n.is_empty());
        if !has_name {
            return Err(loc.error("metadata.name", format!("required for a {kind}")));
        }
        match kind.as_str() {
            "Pod" => self.pods.push((loc.clone(), typed(&loc, value)?)),
            "Node" => self.nodes.push((loc.clone(), typed(&loc, value)?)),
            "Deployment" => {
                self.workloads
                    .push((loc.clone(), WorkloadKind::Deployment, typed(&loc, value)?))
            }
            "ReplicaSet" => {
                self.workloads
                    .push((loc.clone(), WorkloadKind::ReplicaSet, typed(&loc, value)?))
            }
            "StatefulSet" => {
                self.workloads
                    .push((loc.clone(), WorkloadKind::StatefulSet, typed(&loc, value)?))
            }
            "Job" => self
                .workloads
                .push((loc.clone(), WorkloadKind::Job, typed(&loc, value)?)),
            "DaemonSet" => self.daemonsets.push((loc.clone(), typed(&loc, value)?)),
            "NodeClaim" => self.node_claims.push((loc.clone(), typed(&loc, value)?)),
            "NodePool" => {
                let version = if api_version.ends_with("v1beta1") {
                    PoolVersion::V1beta1
                } else {
                    PoolVersion::V1
                };
                self.node_pools
                    .push((loc.clone(), version, typed(&loc, value)?));
            }
            "Provisioner" => self.provisioners.push((loc.clone(), typed(&loc, value)?)),
            _ => self
                .node_classes
                .push((loc.clone(), kind.clone(), typed(&loc, value)?)),
        }
        Ok(())
    }
}

fn dotted(prefix: &str) -> String {
    if prefix.is_empty() {
        String::new()
    } else {
        format!("{prefix}.")
    }
}

fn typed<T: DeserializeOwned>(loc: &Location, value: Value) -> Result<T> {
    serde_path_to_error::deserialize(value).map_err(|e| {
        let path = e.path().to_string();
        let path = if path == "." { String::new() } else { path };
        loc.error(path, e.into_inner().to_string())
    })
}

/// Splits a YAML stream at document markers. Comment-only text before the first marker
/// is not a document, as in YAML.
fn split_documents(text: &str) -> Vec<&str> {
    let mut docs = Vec::new();
    let mut start = 0;
    let mut first = true;
    let mut offset = 0;
    for line in text.split_inclusive('\n') {
        let trimmed = line.trim_end();
        let is_marker =
            trimmed == "---" || trimmed.starts_with("--- ") || trimmed.starts_with("---\t");
        if is_marker {
            let chunk = &text[start..offset];
            if !(first && is_blank(chunk)) {
                docs.push(chunk);
            }
            first = false;
            // content after `--- ` on the marker line belongs to the next document
            start = offset + 3;
        }
        offset += line.len();
    }
    let last = &text[start..];
    if !(first && is_blank(last)) || docs.is_empty() {
        docs.push(last);
    }
    docs
}

fn is_blank(chunk: &str) -> bool {
    chunk.lines().all(|l| {
        let t = l.trim();
        t.is_empty() || t.starts_with('#') || t.starts_with('%')
    })
}

/// One document to a JSON value; `None` for an empty document.
fn parse_document(loc: &Location, chunk: &str) -> Result<Option<Value>> {
    let trimmed = chunk.trim_start();
    // JSON is YAML; parsing it as JSON is much faster for generated inputs.
    if trimmed.starts_with('{')
        && let Ok(v) =
            serde_json::from_str::<Value>(trimmed.trim_end().trim_end_matches("...").trim_end())
    {
        return Ok(Some(v));
    }
    if is_blank(chunk) || chunk.trim() == "..." {
        return Ok(None);
    }
    match serde_yaml_ng::from_str::<Value>(chunk) {
        Ok(Value::Null) => Ok(None),
        Ok(v) => Ok(Some(v)),
        Err(e) => {
            let at = e.location().map(|l| {
                format!(
                    " at line {} column {} of the document",
                    l.line(),
                    l.column()
                )
            });
            Err(loc.error(
                "",
                format!("YAML syntax error{}: {e}", at.unwrap_or_default()),
            ))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splits_documents_like_yaml() {
        assert_eq!(split_documents("a: 1\n---\nb: 2\n").len(), 2);
        assert_eq!(split_documents("# header\n---\na: 1\n---\nb: 2\n").len(), 2);
        assert_eq!(split_documents("---\na: 1\n").len(), 1);
        let docs = split_documents("a: 1\n--- \n---\nb: 2\n");
        assert_eq!(docs.len(), 3, "an empty document keeps its index");
    }

    #[test]
    fn errors_name_file_document_and_field() {
        let mut m = Manifests::default();
        let text = "apiVersion: v1\nkind: Pod\nmetadata: {name: a}\n---\napiVersion: v1\nkind: Pod\nmetadata: {name: b}\nspec:\n  containers:\n  - name: c\n    resources: {requests: {cpu: lots}}\n";
        let e = m.add_file("in.yaml", text).unwrap_err().to_string();
        assert!(
            e.contains("in.yaml")
                && e.contains("document 1")
                && e.contains("spec.containers[0].resources.requests.cpu"),
            "{e}"
        );
    }

    #[test]
    fn bad_input_kinds() {
        let cases = [
            ("kind: Pod\nmetadata: {name: a}\n", "apiVersion"),
            ("apiVersion: v1\nmetadata: {name: a}\n", "kind"),
            ("apiVersion: v1\nkind: Pod\nmetadata: {}\n", "metadata.name"),
            (
                "apiVersion: karpenter.sh/v1alpha5\nkind: NodePool\nmetadata: {name: a}\n",
                "apiVersion",
            ),
            ("apiVersion: v1\nkind: Pod\nmetadata: {name: a\n", "YAML"),
            ("- 1\n- 2\n", "mapping"),
        ];
        for (text, want) in cases {
            let e = Manifests::default()
                .add_file("f.yaml", text)
                .unwrap_err()
                .to_string();
            assert!(e.contains(want) && e.contains("f.yaml"), "{text:?}: {e}");
        }
    }

    #[test]
    fn lists_unwrap_and_unknown_kinds_are_noted() {
        let mut m = Manifests::default();
        let text = "apiVersion: v1\nkind: List\nitems:\n- apiVersion: v1\n  kind: Pod\n  metadata: {name: a}\n- apiVersion: policy/v1\n  kind: PodDisruptionBudget\n  metadata: {name: pdb}\n";
        m.add_file("f.yaml", text).unwrap();
        assert_eq!(m.pods.len(), 1);
        assert_eq!(m.notes.len(), 1);
        assert!(m.notes[0].contains("PodDisruptionBudget"));
    }

    #[test]
    fn json_documents_parse() {
        let mut m = Manifests::default();
        m.add_file("f.yaml", "{\"apiVersion\":\"v1\",\"kind\":\"Pod\",\"metadata\":{\"name\":\"a\"}}\n---\n{\"apiVersion\":\"v1\",\"kind\":\"Pod\",\"metadata\":{\"name\":\"b\"}}\n").unwrap();
        assert_eq!(m.pods.len(), 2);
    }
}
