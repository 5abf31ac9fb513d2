//! Manifests as users write them: the Kubernetes objects the simulation reads and the
//! Karpenter CRDs (v1, v1beta1, and v0.27's v1alpha5/v1alpha1). Only the fields that
//! change scheduling are modelled; everything else is ignored, as the API server would
//! keep it but the scheduler does not look at it.

pub mod k8s;
pub mod karpenter;

use serde::{Deserialize, Deserializer};
use std::collections::BTreeMap;

use crate::quantity;
use crate::resources::Resources;

/// A resource quantity kept as parsed milli-units; invalid ones fail deserialization,
/// so the error carries the field's path.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Quantity(pub i128);

impl<'de> Deserialize<'de> for Quantity {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let v = serde_json::Value::deserialize(d)?;
        let text = match &v {
            serde_json::Value::String(s) => s.clone(),
            serde_json::Value::Number(n) => n.to_string(),
            other => {
                return Err(serde::de::Error::custom(format!(
                    "invalid quantity {other}"
                )));
            }
        };
        quantity::parse_milli(&text)
            .map(Quantity)
            .map_err(|e| serde::de::Error::custom(e.to_string()))
    }
}

/// A resource list (`requests`, `limits`, `allocatable`, NodePool `limits`).
pub type ResourceList = BTreeMap<String, Quantity>;

/// Converts a parsed resource list: cpu in millicores, the rest in whole units.
pub fn to_resources(list: &ResourceList) -> Resources {
    let mut r = Resources::new();
    for (name, q) in list {
        let v = if name == "cpu" {
            q.0
        } else {
            (q.0 + 999).div_euclid(1000)
        };
        r.set(name, v.clamp(i64::MIN as i128, i64::MAX as i128) as i64);
    }
    r
}

/// Accepts `null` as the default value (YAML `key:` with nothing after it).
pub fn null_as_default<'de, D, T>(d: D) -> Result<T, D::Error>
where
    D: Deserializer<'de>,
    T: Default + Deserialize<'de>,
{
    Ok(Option::<T>::deserialize(d)?.unwrap_or_default())
}

/// A label value; YAML lets people write `version: 2` or `enabled: true` unquoted.
pub fn scalar_string_map<'de, D>(d: D) -> Result<BTreeMap<String, String>, D::Error>
where
    D: Deserializer<'de>,
{
    let raw: Option<BTreeMap<String, serde_json::Value>> = Option::deserialize(d)?;
    let mut out = BTreeMap::new();
    for (k, v) in raw.unwrap_or_default() {
        let s = match v {
            serde_json::Value::String(s) => s,
            serde_json::Value::Number(n) => n.to_string(),
            serde_json::Value::Bool(b) => b.to_string(),
            serde_json::Value::Null => String::new(),
            other => {
                return Err(serde::de::Error::custom(format!(
                    "{k}: expected a string, got {other}"
                )));
            }
        };
        out.insert(k, s);
    }
    Ok(out)
}
