//! Object metadata the server owns: uid, timestamps, resourceVersion, generation,
//! defaults on create, and which fields a write may change.
use std::collections::hash_map::RandomState;
use std::hash::{BuildHasher, Hasher};
use std::sync::atomic::{AtomicU64, Ordering};

use serde_json::{Map, Value, json};

use super::resource::ResourceDef;
use super::status::{ApiError, ApiResult};
use super::store::Part;
use super::time;

pub fn name(obj: &Value) -> Option<&str> {
    obj["metadata"]["name"].as_str()
}

pub fn namespace(obj: &Value) -> &str {
    obj["metadata"]["namespace"].as_str().unwrap_or_default()
}

pub fn rv(obj: &Value) -> &str {
    obj["metadata"]["resourceVersion"]
        .as_str()
        .unwrap_or_default()
}

pub fn deletion_timestamp(obj: &Value) -> Option<&str> {
    obj["metadata"]["deletionTimestamp"].as_str()
}

pub fn finalizers(obj: &Value) -> Vec<&str> {
    obj["metadata"]["finalizers"]
        .as_array()
        .map(|a| a.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default()
}

fn random_u64() -> u64 {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let mut h = RandomState::new().build_hasher();
    h.write_u64(COUNTER.fetch_add(1, Ordering::Relaxed));
    h.write_i64(time::now_secs());
    h.finish()
}

/// Five lowercase alphanumerics, as `generateName` appends.
pub fn random_suffix() -> String {
    const ALPHABET: &[u8] = b"bcdfghjklmnpqrstvwxz2456789";
    let mut n = random_u64();
    (0..5)
        .map(|_| {
            let c = ALPHABET[(n % ALPHABET.len() as u64) as usize] as char;
            n /= ALPHABET.len() as u64;
            c
        })
        .collect()
}

fn uid() -> String {
    let (a, b) = (random_u64(), random_u64());
    format!(
        "{:08x}-{:04x}-4{:03x}-{:04x}-{:012x}",
        a >> 32,
        (a >> 16) & 0xffff,
        a & 0xfff,
        0x8000 | (b >> 48) & 0x3fff,
        b & 0xffff_ffff_ffff
    )
}

/// core/v1 Event field ↔ events.k8s.io/v1 Event field (kube-apiserver's conversion).
const EVENT_FIELDS: [(&str, &str); 8] = [
    ("involvedObject", "regarding"),
    ("message", "note"),
    ("reportingComponent", "reportingController"),
    ("source", "deprecatedSource"),
    ("firstTimestamp", "deprecatedFirstTimestamp"),
    ("lastTimestamp", "deprecatedLastTimestamp"),
    ("count", "deprecatedCount"),
    ("related", "related"),
];

fn rename_fields(obj: &mut Value, forward: bool) {
    if let Value::Object(m) = obj {
        for (core, new) in EVENT_FIELDS {
            let (from, to) = if forward { (core, new) } else { (new, core) };
            if let Some(v) = m.remove(from) {
                m.insert(to.to_string(), v);
            }
        }
    }
}

/// Sets apiVersion and kind as served at `def`'s version (converting stored core/v1
/// Events when served as events.k8s.io/v1).
pub fn present(obj: &mut Value, def: &ResourceDef) {
    if def.is("events.k8s.io", "events") && obj["apiVersion"] == "v1" {
        rename_fields(obj, true);
    }
    obj["apiVersion"] = json!(def.api_version());
    obj["kind"] = json!(def.kind);
}

/// The stored form of an object written through `def`.
pub fn to_storage(obj: &mut Value, def: &ResourceDef) {
    if def.is("events.k8s.io", "events") {
        rename_fields(obj, false);
        obj["apiVersion"] = json!("v1");
    }
}

fn metadata(obj: &mut Value) -> &mut Map<String, Value> {
    if !obj["metadata"].is_object() {
        obj["metadata"] = json!({});
    }
    match obj.get_mut("metadata") {
        Some(Value::Object(m)) => m,
        _ => unreachable!("metadata was just made an object"),
    }
}

/// Whether the type's registry strategy maintains `metadata.generation` (workloads, PDBs,
/// CRDs and custom resources do; ConfigMaps, Nodes, Pods (gate off in 1.33), Leases do not).
fn has_generation(def: &ResourceDef) -> bool {
    def.custom
        || matches!(
            def.group.as_str(),
            "apps" | "policy" | "apiextensions.k8s.io"
        )
}

/// System metadata of a new object.
pub fn init(obj: &mut Value, def: &ResourceDef, ns: &str, name: &str, rv: u64) {
    present(obj, def);
    let m = metadata(obj);
    m.insert("name".into(), json!(name));
    if def.namespaced {
        m.insert("namespace".into(), json!(ns));
    } else {
        m.remove("namespace");
    }
    m.insert("uid".into(), json!(uid()));
    m.insert("creationTimestamp".into(), json!(time::now()));
    m.insert("resourceVersion".into(), json!(rv.to_string()));
    if has_generation(def) {
        m.insert("generation".into(), json!(1));
    } else {
        m.remove("generation");
    }
    m.remove("deletionTimestamp");
    m.remove("deletionGracePeriodSeconds");
}

/// What the registry strategies' `PrepareForCreate` do for the types here.
pub fn defaults_on_create(obj: &mut Value, def: &ResourceDef, keep_status: bool) {
    if def.status_subresource && !keep_status && !def.is("", "nodes") {
        if let Value::Object(o) = obj {
            o.remove("status");
        }
    }
    match (def.group.as_str(), def.plural.as_str()) {
        ("", "pods") => {
            let spec = &mut obj["spec"];
            for (k, v) in [
                ("terminationGracePeriodSeconds", json!(30)),
                ("restartPolicy", json!("Always")),
                ("schedulerName", json!("default-scheduler")),
                ("dnsPolicy", json!("ClusterFirst")),
                ("priority", json!(0)),
            ] {
                if spec.get(k).is_none() {
                    spec[k] = v;
                }
            }
            if obj["status"]["phase"].is_null() {
                obj["status"]["phase"] = json!("Pending");
            }
        }
        ("", "namespaces") => {
            let n = name(obj).unwrap_or_default().to_string();
            obj["metadata"]["labels"]["kubernetes.io/metadata.name"] = json!(n);
            obj["spec"]["finalizers"] = json!(["kubernetes"]);
            obj["status"] = json!({"phase": "Active"});
        }
        ("policy", "poddisruptionbudgets") => {
            for k in [
                "disruptionsAllowed",
                "currentHealthy",
                "desiredHealthy",
                "expectedPods",
            ] {
                if obj["status"].get(k).is_none() {
                    obj["status"][k] = json!(0);
                }
            }
        }
        _ => {}
    }
}

/// A CRD's status as the apiextensions controller sets it (at once, here).
pub fn crd_status(crd: &mut Value) -> ApiResult<()> {
    let spec = &crd["spec"];
    let plural = spec["names"]["plural"].as_str().unwrap_or_default();
    let group = spec["group"].as_str().unwrap_or_default();
    let expected = format!("{plural}.{group}");
    let got = name(crd).unwrap_or_default();
    if plural.is_empty() || group.is_empty() || got != expected {
        return Err(ApiError::invalid(
            "CustomResourceDefinition",
            got,
            format!(
                "metadata.name: Invalid value: \"{got}\": must be spec.names.plural+\".\"+spec.group"
            ),
        ));
    }
    let stored: Vec<Value> = spec["versions"]
        .as_array()
        .map(|vs| {
            vs.iter()
                .filter(|v| v["storage"].as_bool() == Some(true))
                .map(|v| v["name"].clone())
                .collect()
        })
        .unwrap_or_default();
    let now = time::now();
    crd["status"] = json!({
        "acceptedNames": spec["names"].clone(),
        "conditions": [
            {"type": "NamesAccepted", "status": "True", "reason": "NoConflicts", "message": "no conflicts found", "lastTransitionTime": now},
            {"type": "Established", "status": "True", "reason": "InitialNamesAccepted", "message": "the initial names have been accepted", "lastTransitionTime": now},
        ],
        "storedVersions": stored,
    });
    Ok(())
}

/// The grace period a pod DELETE gets (kube-apiserver `CheckGracefulDelete`).
pub fn pod_grace_period(pod: &Value, requested: Option<i64>) -> i64 {
    let unscheduled = pod["spec"]["nodeName"].as_str().is_none_or(str::is_empty);
    let finished = matches!(
        pod["status"]["phase"].as_str(),
        Some("Succeeded" | "Failed")
    );
    if unscheduled || finished {
        return 0;
    }
    requested
        .or(pod["spec"]["terminationGracePeriodSeconds"].as_i64())
        .unwrap_or(30)
        .max(0)
}

fn without(obj: &Value, keys: &[&str]) -> Value {
    let mut o = obj.clone();
    if let Value::Object(m) = &mut o {
        for k in keys {
            m.remove(*k);
        }
    }
    o
}

/// The stored object after a write of `new` over `cur` to `part`.
pub fn merge_update(cur: &Value, new: Value, def: &ResourceDef, part: Part) -> ApiResult<Value> {
    let mut out = match part {
        Part::Status => {
            let mut out = cur.clone();
            match new.get("status") {
                Some(s) => out["status"] = s.clone(),
                None => {
                    if let Value::Object(o) = &mut out {
                        o.remove("status");
                    }
                }
            }
            return Ok(out);
        }
        Part::Main | Part::Internal => new,
    };
    if def.status_subresource && part == Part::Main {
        if let Value::Object(o) = &mut out {
            match cur.get("status") {
                Some(s) => o.insert("status".into(), s.clone()),
                None => o.remove("status"),
            };
        }
    }
    let cur_meta = &cur["metadata"];
    let m = metadata(&mut out);
    for k in [
        "uid",
        "creationTimestamp",
        "deletionTimestamp",
        "deletionGracePeriodSeconds",
        "generation",
        "resourceVersion",
        "namespace",
        "name",
    ] {
        match cur_meta.get(k) {
            Some(v) => m.insert(k.to_string(), v.clone()),
            None => m.remove(k),
        };
    }
    out["apiVersion"] = cur["apiVersion"].clone();
    out["kind"] = cur["kind"].clone();
    if def.is("", "pods") && part == Part::Main {
        check_pod_spec_update(cur, &out)?;
    }
    if def.is("apiextensions.k8s.io", "customresourcedefinitions") {
        crd_status(&mut out)?;
    }
    let content = |o: &Value| without(o, &["metadata", "status", "apiVersion", "kind"]);
    if has_generation(def) && content(cur) != content(&out) {
        let g = cur["metadata"]["generation"].as_i64().unwrap_or(1);
        out["metadata"]["generation"] = json!(g + 1);
    }
    Ok(out)
}

/// Pod specs are immutable but for images, activeDeadlineSeconds, tolerations (additions)
/// and scheduling gates (removals).
fn check_pod_spec_update(cur: &Value, new: &Value) -> ApiResult<()> {
    let normalize = |spec: &Value| {
        let mut s = without(
            spec,
            &[
                "activeDeadlineSeconds",
                "tolerations",
                "schedulingGates",
                "terminationGracePeriodSeconds",
            ],
        );
        for list in ["containers", "initContainers"] {
            if let Some(Value::Array(cs)) = s.get_mut(list) {
                for c in cs {
                    if let Value::Object(c) = c {
                        c.remove("image");
                    }
                }
            }
        }
        s
    };
    let added_tolerations_only = {
        let old = cur["spec"]["tolerations"]
            .as_array()
            .cloned()
            .unwrap_or_default();
        let new = new["spec"]["tolerations"]
            .as_array()
            .cloned()
            .unwrap_or_default();
        old.iter().all(|t| new.contains(t))
    };
    if normalize(&cur["spec"]) != normalize(&new["spec"]) || !added_tolerations_only {
        return Err(ApiError::invalid(
            "Pod",
            name(cur).unwrap_or_default(),
            "spec: Forbidden: pod updates may not change fields other than `spec.containers[*].image`,`spec.initContainers[*].image`,`spec.activeDeadlineSeconds`,`spec.tolerations` (only additions to existing tolerations),`spec.terminationGracePeriodSeconds` (allow it to be set to 1 if it was previously negative)",
        ));
    }
    Ok(())
}
