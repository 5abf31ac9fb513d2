//! The contract's catalog file format (`--catalog`), parsed and validated.

use serde::Deserialize;
use std::collections::{BTreeMap, HashSet};

use super::{Arch, CapacityType, Catalog, Gpu, InstanceType, Offering};
use crate::error::{Error, Result};

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RawCatalog {
    region: Option<String>,
    instance_types: Option<Vec<RawType>>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RawType {
    name: Option<String>,
    architecture: Option<String>,
    vcpu: Option<f64>,
    #[serde(rename = "memoryMiB")]
    memory_mib: Option<f64>,
    max_pods: Option<f64>,
    #[serde(default)]
    gpus: Vec<RawGpu>,
    #[serde(rename = "ephemeralStorageGiB")]
    ephemeral_storage_gib: Option<f64>,
    hypervisor: Option<String>,
    cpu_manufacturer: Option<String>,
    network_bandwidth_mbps: Option<f64>,
    ebs_bandwidth_mbps: Option<f64>,
    #[serde(rename = "localNvmeGiB")]
    local_nvme_gib: Option<f64>,
    #[serde(default)]
    extended_resources: BTreeMap<String, f64>,
    offerings: Option<Vec<RawOffering>>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RawGpu {
    resource: Option<String>,
    #[serde(default)]
    count: f64,
    #[serde(default)]
    name: String,
    #[serde(default)]
    manufacturer: String,
    #[serde(rename = "memoryMiB")]
    memory_mib: Option<f64>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RawOffering {
    zone: Option<String>,
    capacity_type: Option<String>,
    price: Option<f64>,
    available: Option<bool>,
}

/// Parses a catalog file's text. `file` names it in errors.
pub fn parse_catalog_json(file: &str, text: &str) -> Result<Catalog> {
    let err = |field: String, message: String| Error::InvalidCatalog {
        file: file.to_string(),
        field,
        message,
    };
    let de = &mut serde_json::Deserializer::from_str(text);
    let raw: RawCatalog = serde_path_to_error::deserialize(de).map_err(|e| {
        let path = e.path().to_string();
        err(
            if path == "." {
                "(document)".into()
            } else {
                path
            },
            e.into_inner().to_string(),
        )
    })?;
    let region = raw
        .region
        .filter(|r| !r.is_empty())
        .ok_or_else(|| err("region".into(), "required".into()))?;
    let raw_types = raw
        .instance_types
        .ok_or_else(|| err("instanceTypes".into(), "required".into()))?;
    let mut seen = HashSet::new();
    let mut instance_types = Vec::with_capacity(raw_types.len());
    for (i, t) in raw_types.into_iter().enumerate() {
        let at = |field: &str| match &t.name {
            Some(n) => format!("instanceTypes[{i}] ({n}).{field}"),
            None => format!("instanceTypes[{i}].{field}"),
        };
        let name = t
            .name
            .clone()
            .filter(|n| !n.is_empty())
            .ok_or_else(|| err(at("name"), "required".into()))?;
        if !seen.insert(name.clone()) {
            return Err(err(at("name"), format!("duplicate instance type {name:?}")));
        }
        let architecture = match t.architecture.as_deref() {
            Some("amd64") => Arch::Amd64,
            Some("arm64") => Arch::Arm64,
            Some(other) => {
                return Err(err(
                    at("architecture"),
                    format!("unknown architecture {other:?} (amd64 or arm64)"),
                ));
            }
            None => return Err(err(at("architecture"), "required".into())),
        };
        let count = |field: &str, v: Option<f64>, positive: bool| -> Result<Option<u64>> {
            match v {
                None => Ok(None),
                Some(x) if !x.is_finite() || x < 0.0 => {
                    Err(err(at(field), format!("must not be negative, got {x}")))
                }
                Some(x) if positive && x == 0.0 => {
                    Err(err(at(field), "must be greater than 0".into()))
                }
                Some(x) if x.fract() != 0.0 => {
                    Err(err(at(field), format!("must be a whole number, got {x}")))
                }
                Some(x) => Ok(Some(x as u64)),
            }
        };
        let required =
            |field: &str, v: Option<u64>| v.ok_or_else(|| err(at(field), "required".into()));
        let vcpu = required("vcpu", count("vcpu", t.vcpu, true)?)?;
        let memory_mib = required("memoryMiB", count("memoryMiB", t.memory_mib, true)?)?;
        let max_pods = required("maxPods", count("maxPods", t.max_pods, false)?)?;
        let mut gpus = Vec::new();
        for (g, gpu) in t.gpus.iter().enumerate() {
            let field = format!("gpus[{g}]");
            let resource = gpu
                .resource
                .clone()
                .ok_or_else(|| err(at(&format!("{field}.resource")), "required".into()))?;
            gpus.push(Gpu {
                resource,
                count: count(&format!("{field}.count"), Some(gpu.count), false)?.unwrap_or(0)
                    as u32,
                name: gpu.name.clone(),
                manufacturer: gpu.manufacturer.clone(),
                memory_mib: count(&format!("{field}.memoryMiB"), gpu.memory_mib, false)?,
            });
        }
        let mut extended_resources = Vec::new();
        for (name, v) in &t.extended_resources {
            let n = count(&format!("extendedResources.{name}"), Some(*v), false)?.unwrap_or(0);
            extended_resources.push((name.clone(), n as i64));
        }
        let raw_offerings = t
            .offerings
            .as_ref()
            .ok_or_else(|| err(at("offerings"), "required".into()))?;
        let mut offerings = Vec::with_capacity(raw_offerings.len());
        for (o, off) in raw_offerings.iter().enumerate() {
            let field = |f: &str| at(&format!("offerings[{o}].{f}"));
            let zone = off
                .zone
                .clone()
                .filter(|z| !z.is_empty())
                .ok_or_else(|| err(field("zone"), "required".into()))?;
            let capacity_type = match off.capacity_type.as_deref() {
                Some("on-demand") => CapacityType::OnDemand,
                Some("spot") => CapacityType::Spot,
                Some(other) => {
                    return Err(err(
                        field("capacityType"),
                        format!("unknown capacity type {other:?} (on-demand or spot)"),
                    ));
                }
                None => return Err(err(field("capacityType"), "required".into())),
            };
            let price = off
                .price
                .ok_or_else(|| err(field("price"), "required".into()))?;
            if !price.is_finite() || price < 0.0 {
                return Err(err(
                    field("price"),
                    format!("must not be negative, got {price}"),
                ));
            }
            offerings.push(Offering {
                zone,
                capacity_type,
                price,
                available: off.available.unwrap_or(true),
            });
        }
        instance_types.push(InstanceType {
            name,
            architecture,
            vcpu: u32::try_from(vcpu).map_err(|_| err(at("vcpu"), "too large".into()))?,
            memory_mib,
            max_pods: u32::try_from(max_pods)
                .map_err(|_| err(at("maxPods"), "too large".into()))?,
            gpus,
            ephemeral_storage_gib: count("ephemeralStorageGiB", t.ephemeral_storage_gib, false)?
                .unwrap_or(20),
            hypervisor: t.hypervisor.clone(),
            cpu_manufacturer: t.cpu_manufacturer.clone(),
            network_bandwidth_mbps: count("networkBandwidthMbps", t.network_bandwidth_mbps, false)?,
            ebs_bandwidth_mbps: count("ebsBandwidthMbps", t.ebs_bandwidth_mbps, false)?,
            local_nvme_gib: count("localNvmeGiB", t.local_nvme_gib, false)?,
            extended_resources,
            offerings,
        });
    }
    Ok(Catalog {
        region,
        instance_types,
    })
}

/// Writes a catalog in the contract's format (for `nodeless catalog --builtin`).
pub fn catalog_to_json(c: &Catalog) -> serde_json::Value {
    use serde_json::json;
    let types: Vec<serde_json::Value> = c
        .instance_types
        .iter()
        .map(|t| {
            let mut v = json!({
                "name": t.name,
                "architecture": t.architecture.as_str(),
                "vcpu": t.vcpu,
                "memoryMiB": t.memory_mib,
                "maxPods": t.max_pods,
                "ephemeralStorageGiB": t.ephemeral_storage_gib,
                "offerings": t.offerings.iter().map(|o| json!({
                    "zone": o.zone, "capacityType": o.capacity_type.as_str(), "price": o.price, "available": o.available,
                })).collect::<Vec<_>>(),
            });
            let obj = v.as_object_mut().expect("built as an object");
            if !t.gpus.is_empty() {
                obj.insert("gpus".into(), t.gpus.iter().map(|g| json!({
                    "resource": g.resource, "count": g.count, "name": g.name, "manufacturer": g.manufacturer, "memoryMiB": g.memory_mib,
                })).collect());
            }
            let optional = [
                ("hypervisor", t.hypervisor.clone().map(serde_json::Value::from)),
                ("cpuManufacturer", t.cpu_manufacturer.clone().map(serde_json::Value::from)),
                ("networkBandwidthMbps", t.network_bandwidth_mbps.map(serde_json::Value::from)),
                ("ebsBandwidthMbps", t.ebs_bandwidth_mbps.map(serde_json::Value::from)),
                ("localNvmeGiB", t.local_nvme_gib.map(serde_json::Value::from)),
            ];
            for (k, val) in optional {
                if let Some(val) = val {
                    obj.insert(k.into(), val);
                }
            }
            if !t.extended_resources.is_empty() {
                let m: serde_json::Map<String, serde_json::Value> = t.extended_resources.iter().map(|(k, n)| (k.clone(), json!(n))).collect();
                obj.insert("extendedResources".into(), m.into());
            }
            v
        })
        .collect();
    json!({"region": c.region, "instanceTypes": types})
}

#[cfg(test)]
mod tests {
    use super::*;

    fn one_type(body: &str) -> String {
        format!(r#"{{"region":"us-west-2","instanceTypes":[{{{body}}}]}}"#)
    }

    #[test]
    fn parses_the_contract_example() {
        let text = one_type(
            r#""name":"m5.large","architecture":"amd64","vcpu":2,"memoryMiB":8192,"maxPods":29,
            "gpus":[{"resource":"nvidia.com/gpu","count":0,"name":"","manufacturer":""}],
            "offerings":[{"zone":"us-west-2a","capacityType":"spot","price":0.035}]"#,
        );
        let c = parse_catalog_json("c.json", &text).unwrap();
        let t = &c.instance_types[0];
        assert_eq!(
            (t.vcpu, t.memory_mib, t.max_pods, t.ephemeral_storage_gib),
            (2, 8192, 29, 20)
        );
        assert!(t.offerings[0].available, "available defaults to true");
    }

    #[test]
    fn errors_name_file_and_field() {
        let cases = [
            (
                one_type(
                    r#""name":"a","architecture":"amd64","vcpu":0,"memoryMiB":1,"maxPods":1,"offerings":[]"#,
                ),
                "instanceTypes[0] (a).vcpu",
            ),
            (
                one_type(
                    r#""name":"a","architecture":"s390x","vcpu":1,"memoryMiB":1,"maxPods":1,"offerings":[]"#,
                ),
                "architecture",
            ),
            (
                one_type(
                    r#""name":"a","architecture":"amd64","vcpu":1,"memoryMiB":1,"maxPods":1,"offerings":[{"zone":"z","capacityType":"spot","price":-1}]"#,
                ),
                "offerings[0].price",
            ),
            (
                one_type(
                    r#""name":"a","architecture":"amd64","vcpu":1,"memoryMiB":1,"maxPods":-3,"offerings":[]"#,
                ),
                "maxPods",
            ),
            (
                one_type(
                    r#""name":"a","architecture":"amd64","vcpu":1,"memoryMiB":1,"maxPods":1,"offerings":[{"zone":"z","capacityType":"reserved","price":1}]"#,
                ),
                "capacityType",
            ),
            (r#"{"instanceTypes":[]}"#.to_string(), "region"),
            (
                r#"{"region":"x","instanceTypes":[{"name":"a"},{"name":"a"}]}"#.to_string(),
                "instanceTypes[0] (a).architecture",
            ),
            ("{not json".to_string(), "c.json"),
        ];
        for (text, want) in cases {
            let e = parse_catalog_json("c.json", &text).unwrap_err().to_string();
            assert!(
                e.contains(want) && e.starts_with("c.json"),
                "{e:?} should name {want}"
            );
        }
    }

    #[test]
    fn duplicate_names_are_rejected() {
        let t = r#"{"name":"a","architecture":"amd64","vcpu":1,"memoryMiB":1,"maxPods":1,"offerings":[]}"#;
        let text = format!(r#"{{"region":"x","instanceTypes":[{t},{t}]}}"#);
        let e = parse_catalog_json("c.json", &text).unwrap_err().to_string();
        assert!(e.contains("duplicate"), "{e}");
    }
}
