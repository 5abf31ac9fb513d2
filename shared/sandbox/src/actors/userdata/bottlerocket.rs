//! Bottlerocket: TOML `settings.kubernetes`.

use std::collections::BTreeMap;

use super::kubelet::taint;
use super::{AmiFamily, NodeBootstrap, invalid};
use crate::error::Result;

/// Reads Bottlerocket's `settings.kubernetes`.
pub fn parse_bottlerocket(text: &str) -> Result<NodeBootstrap> {
    let table: toml::Table = text
        .parse()
        .map_err(|e| invalid(format!("Bottlerocket user data is not TOML: {e}")))?;
    let mut out = NodeBootstrap::new(AmiFamily::Bottlerocket);
    let Some(k8s) = table
        .get("settings")
        .and_then(|s| s.get("kubernetes"))
        .and_then(toml::Value::as_table)
    else {
        return Ok(out);
    };
    out.cluster_name = k8s
        .get("cluster-name")
        .and_then(toml::Value::as_str)
        .map(str::to_owned);
    if let Some(max) = k8s.get("max-pods") {
        out.max_pods = Some(
            max.as_integer()
                .and_then(|m| u32::try_from(m).ok())
                .ok_or_else(|| {
                    invalid(format!(
                        "settings.kubernetes.max-pods {max:?} is not a count"
                    ))
                })?,
        );
    }
    out.labels = toml_string_map(k8s.get("node-labels"), "node-labels")?;
    out.kube_reserved = toml_string_map(k8s.get("kube-reserved"), "kube-reserved")?;
    out.system_reserved = toml_string_map(k8s.get("system-reserved"), "system-reserved")?;
    out.eviction_hard = toml_string_map(k8s.get("eviction-hard"), "eviction-hard")?;
    if let Some(taints) = k8s.get("node-taints") {
        let taints = taints
            .as_table()
            .ok_or_else(|| invalid("settings.kubernetes.node-taints is not a table"))?;
        for (key, specs) in taints {
            let specs: Vec<&str> = match specs {
                toml::Value::String(s) => s.split(',').collect(),
                toml::Value::Array(items) => items
                    .iter()
                    .map(|v| {
                        v.as_str().ok_or_else(|| {
                            invalid(format!("node-taints.{key}: {v:?} is not a string"))
                        })
                    })
                    .collect::<Result<_>>()?,
                other => {
                    return Err(invalid(format!(
                        "node-taints.{key}: {other:?} is not a string or list"
                    )));
                }
            };
            for spec in specs {
                let (value, effect) = spec.trim().rsplit_once(':').ok_or_else(|| {
                    invalid(format!("node-taints.{key}: {spec:?} is not value:Effect"))
                })?;
                out.taints.push(taint(key, Some(value.to_owned()), effect)?);
            }
        }
    }
    Ok(out)
}

fn toml_string_map(v: Option<&toml::Value>, what: &str) -> Result<BTreeMap<String, String>> {
    let Some(v) = v else {
        return Ok(BTreeMap::new());
    };
    let table = v
        .as_table()
        .ok_or_else(|| invalid(format!("settings.kubernetes.{what} is not a table")))?;
    table
        .iter()
        .map(|(k, v)| match v {
            toml::Value::String(s) => Ok((k.clone(), s.clone())),
            toml::Value::Integer(i) => Ok((k.clone(), i.to_string())),
            toml::Value::Boolean(b) => Ok((k.clone(), b.to_string())),
            other => Err(invalid(format!("{what}.{k}: {other:?} is not a string"))),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Karpenter's Bottlerocket output (merged with a user's settings).
    const BOTTLEROCKET: &str = r#"[settings]
[settings.kubernetes]
api-server = 'https://test-cluster'
cloud-provider = 'external'
cluster-certificate = 'ca-bundle'
cluster-name = 'test-cluster'
cluster-dns-ip = '10.0.100.10'
max-pods = 110

[settings.kubernetes.node-labels]
custom-node-label = 'custom'
'karpenter.k8s.aws/ec2nodeclass' = 'default'
'karpenter.sh/capacity-type' = 'on-demand'
'karpenter.sh/nodepool' = 'default'

[settings.kubernetes.node-taints]
baz = ['bin:NoExecute']
foo = ['bar:NoExecute', 'qux:NoSchedule']
'karpenter.sh/unregistered' = [':NoExecute']
single = 'one:PreferNoSchedule'

[settings.kubernetes.eviction-hard]
'memory.available' = '12%'

[settings.kubernetes.kube-reserved]
cpu = '100m'

[settings.network]
hostname = 'test.local'
no-proxy = ['localhost', '127.0.0.1']
"#;

    #[test]
    fn bottlerocket_toml_reads_labels_taints_and_max_pods() {
        let b = NodeBootstrap::parsed(BOTTLEROCKET);
        assert_eq!(b.family, AmiFamily::Bottlerocket);
        assert_eq!(b.cluster_name.as_deref(), Some("test-cluster"));
        assert_eq!(b.max_pods, Some(110));
        assert_eq!(b.labels.len(), 4);
        assert_eq!(b.labels["custom-node-label"], "custom");
        let taints = b.taint_triples();
        assert_eq!(
            taints,
            [
                ("baz", Some("bin"), "NoExecute"),
                ("foo", Some("bar"), "NoExecute"),
                ("foo", Some("qux"), "NoSchedule"),
                ("karpenter.sh/unregistered", None, "NoExecute"),
                ("single", Some("one"), "PreferNoSchedule"),
            ]
        );
        assert_eq!(b.eviction_hard["memory.available"], "12%");
        assert_eq!(b.kube_reserved["cpu"], "100m");
        // Without max-pods Bottlerocket computes the ENI default.
        let b = NodeBootstrap::parsed("[settings.kubernetes]\ncluster-name = \"x\"\n");
        assert_eq!(b.max_pods, None);
        assert!(parse_bottlerocket("[settings.kubernetes.node-taints]\na = 'nocolon'\n").is_err());
    }
}
