//! kubelet flags, shared by nodeadm `flags` and bootstrap.sh `--kubelet-extra-args`.

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::Taint;

use super::{NodeBootstrap, invalid};
use crate::error::Result;

#[derive(Debug, Default)]
pub(super) struct KubeletFlags {
    labels: Option<BTreeMap<String, String>>,
    taints: Option<Vec<Taint>>,
    max_pods: Option<u32>,
    kube_reserved: Option<BTreeMap<String, String>>,
    system_reserved: Option<BTreeMap<String, String>>,
    eviction_hard: Option<BTreeMap<String, String>>,
}

impl KubeletFlags {
    /// Flags win over config-file values.
    pub(super) fn apply(self, out: &mut NodeBootstrap) {
        if let Some(labels) = self.labels {
            out.labels.extend(labels);
        }
        if let Some(taints) = self.taints {
            out.taints = taints;
        }
        if let Some(max) = self.max_pods {
            out.max_pods = Some(max);
        }
        if let Some(r) = self.kube_reserved {
            out.kube_reserved = r;
        }
        if let Some(r) = self.system_reserved {
            out.system_reserved = r;
        }
        if let Some(e) = self.eviction_hard {
            out.eviction_hard = e;
        }
    }
}

/// The kubelet flags we read, from already-split arguments (`--flag=value` or
/// `--flag value`); others are ignored.
pub(super) fn parse_kubelet_flags(args: &[String]) -> Result<KubeletFlags> {
    const WITH_VALUE: [&str; 6] = [
        "node-labels",
        "register-with-taints",
        "max-pods",
        "kube-reserved",
        "system-reserved",
        "eviction-hard",
    ];
    let mut flags = KubeletFlags::default();
    let mut i = 0;
    while i < args.len() {
        let arg = &args[i];
        i += 1;
        let Some(flag) = arg.strip_prefix("--").or_else(|| arg.strip_prefix('-')) else {
            continue;
        };
        let (name, value) = match flag.split_once('=') {
            Some((n, v)) => (n, v.to_owned()),
            None if WITH_VALUE.contains(&flag) => {
                let Some(v) = args.get(i) else {
                    return Err(invalid(format!("kubelet flag --{flag} has no value")));
                };
                i += 1;
                (flag, v.clone())
            }
            None => continue,
        };
        match name {
            "node-labels" => {
                // A map flag: repeated flags add to the same map.
                let labels = flags.labels.get_or_insert_with(BTreeMap::new);
                labels.extend(parse_pairs(&value, '=', "--node-labels")?);
            }
            "register-with-taints" => flags.taints = Some(parse_taints(&value)?),
            "max-pods" => {
                flags.max_pods = Some(
                    value
                        .trim()
                        .parse()
                        .map_err(|e| invalid(format!("kubelet flag --max-pods={value}: {e}")))?,
                );
            }
            "kube-reserved" => {
                flags.kube_reserved = Some(parse_pairs(&value, '=', "--kube-reserved")?);
            }
            "system-reserved" => {
                flags.system_reserved = Some(parse_pairs(&value, '=', "--system-reserved")?);
            }
            "eviction-hard" => {
                flags.eviction_hard = Some(parse_pairs(&value, '<', "--eviction-hard")?);
            }
            _ => {}
        }
    }
    Ok(flags)
}

/// `k=v,k2=v2` (kubelet's map flags; `sep` is `<` for `--eviction-hard`).
fn parse_pairs(value: &str, sep: char, flag: &str) -> Result<BTreeMap<String, String>> {
    let mut out = BTreeMap::new();
    for pair in value.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        let (k, v) = pair
            .split_once(sep)
            .ok_or_else(|| invalid(format!("{flag}: malformed pair {pair:?} (want k{sep}v)")))?;
        out.insert(k.trim().to_owned(), v.trim().to_owned());
    }
    Ok(out)
}

/// `key=value:Effect,key2:Effect` (kubelet's `--register-with-taints`).
pub fn parse_taints(value: &str) -> Result<Vec<Taint>> {
    value
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(|spec| {
            let (kv, effect) = spec.rsplit_once(':').ok_or_else(|| {
                invalid(format!(
                    "invalid taint spec {spec:?}: no effect (key=value:Effect)"
                ))
            })?;
            let (key, value) = match kv.split_once('=') {
                Some((k, v)) => (k, Some(v.to_owned())),
                None => (kv, None),
            };
            taint(key, value, effect)
        })
        .collect()
}

pub(super) fn taint(key: &str, value: Option<String>, effect: &str) -> Result<Taint> {
    if key.is_empty() {
        return Err(invalid("a taint needs a key"));
    }
    check_effect(effect)?;
    Ok(Taint {
        key: key.to_owned(),
        value: value.filter(|v| !v.is_empty()),
        effect: effect.to_owned(),
        time_added: None,
    })
}

pub(super) fn check_effect(effect: &str) -> Result<()> {
    match effect {
        "NoSchedule" | "PreferNoSchedule" | "NoExecute" => Ok(()),
        other => Err(invalid(format!(
            "invalid taint effect {other:?} (NoSchedule, PreferNoSchedule or NoExecute)"
        ))),
    }
}
