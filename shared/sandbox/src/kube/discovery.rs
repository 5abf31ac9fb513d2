//! Discovery documents: /version, /api, /apis, /apis/{group}, /api/v1, /apis/{g}/{v}.
use serde_json::{Value, json};

use super::resource::ResourceDef;

pub fn version() -> Value {
    json!({
        "major": "1",
        "minor": "33",
        "gitVersion": "v1.33.0-nodeless-sandbox",
        "gitCommit": "0000000000000000000000000000000000000000",
        "gitTreeState": "clean",
        "buildDate": "2026-11-30T00:00:00Z",
        "goVersion": "go1.24",
        "compiler": "gc",
        "platform": "linux/amd64",
    })
}

pub fn core_versions(server_address: &str) -> Value {
    json!({
        "kind": "APIVersions",
        "versions": ["v1"],
        "serverAddressByClientCIDRs": [{"clientCIDR": "0.0.0.0/0", "serverAddress": server_address}],
    })
}

/// The named groups, in order of first appearance; the first version of each is preferred.
fn groups(defs: &[ResourceDef]) -> Vec<(String, Vec<String>)> {
    let mut out: Vec<(String, Vec<String>)> = Vec::new();
    for d in defs.iter().filter(|d| !d.group.is_empty()) {
        match out.iter_mut().find(|(g, _)| *g == d.group) {
            Some((_, vs)) if !vs.contains(&d.version) => vs.push(d.version.clone()),
            Some(_) => {}
            None => out.push((d.group.clone(), vec![d.version.clone()])),
        }
    }
    // The eviction subresource's kind lives in policy/v1, served even without PDB users.
    out
}

fn group_doc(name: &str, versions: &[String]) -> Value {
    let vs: Vec<Value> = versions
        .iter()
        .map(|v| json!({"groupVersion": format!("{name}/{v}"), "version": v}))
        .collect();
    json!({"name": name, "versions": vs, "preferredVersion": vs.first().cloned().unwrap_or_default()})
}

pub fn group_list(defs: &[ResourceDef]) -> Value {
    let gs: Vec<Value> = groups(defs)
        .iter()
        .map(|(g, vs)| group_doc(g, vs))
        .collect();
    json!({"kind": "APIGroupList", "apiVersion": "v1", "groups": gs})
}

pub fn group(defs: &[ResourceDef], name: &str) -> Option<Value> {
    let (g, vs) = groups(defs).into_iter().find(|(g, _)| g == name)?;
    let mut doc = group_doc(&g, &vs);
    doc["kind"] = json!("APIGroup");
    doc["apiVersion"] = json!("v1");
    Some(doc)
}

const VERBS: [&str; 8] = [
    "create",
    "delete",
    "deletecollection",
    "get",
    "list",
    "patch",
    "update",
    "watch",
];

pub fn resource_list(defs: &[ResourceDef], group: &str, version: &str) -> Option<Value> {
    let mut resources = Vec::new();
    for d in defs
        .iter()
        .filter(|d| d.group == group && d.version == version)
    {
        let mut r = json!({
            "name": d.plural,
            "singularName": d.singular,
            "namespaced": d.namespaced,
            "kind": d.kind,
            "verbs": VERBS,
        });
        if !d.short_names.is_empty() {
            r["shortNames"] = json!(d.short_names);
        }
        if !d.categories.is_empty() {
            r["categories"] = json!(d.categories);
        }
        resources.push(r);
        if d.status_subresource {
            resources.push(json!({"name": format!("{}/status", d.plural), "singularName": "", "namespaced": d.namespaced, "kind": d.kind, "verbs": ["get", "patch", "update"]}));
        }
        for (sub, gv, kind) in d.subresources() {
            let verbs: &[&str] = if *sub == "scale" {
                &["get", "patch", "update"]
            } else {
                &["create"]
            };
            let mut r = json!({"name": format!("{}/{sub}", d.plural), "singularName": "", "namespaced": d.namespaced, "kind": kind, "verbs": verbs});
            if let Some((g, v)) = gv.split_once('/') {
                r["group"] = json!(g);
                r["version"] = json!(v);
            }
            resources.push(r);
        }
    }
    if resources.is_empty() {
        return None;
    }
    let gv = if group.is_empty() {
        version.to_string()
    } else {
        format!("{group}/{version}")
    };
    Some(
        json!({"kind": "APIResourceList", "apiVersion": "v1", "groupVersion": gv, "resources": resources}),
    )
}

/// `/openapi/v3`: one (empty) document per served group-version. kubectl's client-side
/// validation then finds no schema to check objects against and accepts them, as it does
/// for CRDs without one, instead of failing on the missing protobuf `/openapi/v2`.
pub fn openapi_v3_index(defs: &[ResourceDef]) -> Value {
    let mut paths = serde_json::Map::new();
    for d in defs {
        let gv = if d.group.is_empty() {
            format!("api/{}", d.version)
        } else {
            format!("apis/{}/{}", d.group, d.version)
        };
        let url = format!("/openapi/v3/{gv}?hash=0");
        paths.insert(gv, json!({"serverRelativeURL": url}));
    }
    json!({"paths": paths})
}

pub fn openapi_v3_doc(defs: &[ResourceDef], gv: &str) -> Value {
    let mut schemas = serde_json::Map::new();
    for d in defs {
        let path = if d.group.is_empty() {
            format!("api/{}", d.version)
        } else {
            format!("apis/{}/{}", d.group, d.version)
        };
        if path != gv {
            continue;
        }
        let name = format!(
            "{}.{}.{}",
            if d.group.is_empty() { "core" } else { &d.group },
            d.version,
            d.kind
        );
        schemas.insert(name, json!({
            "type": "object",
            "x-kubernetes-preserve-unknown-fields": true,
            "x-kubernetes-group-version-kind": [{"group": d.group, "version": d.version, "kind": d.kind}],
        }));
    }
    json!({
        "openapi": "3.0.0",
        "info": {"title": "Kubernetes", "version": "v1.33.0"},
        "paths": openapi_v3_paths(defs, gv),
        "components": {"schemas": schemas},
    })
}

/// Create/update/patch operations that declare the `fieldValidation` parameter: kubectl
/// then leaves validation to the server (`fieldValidation=Strict`, accepted and not
/// enforced here) instead of downloading the protobuf `/openapi/v2`.
fn openapi_v3_paths(defs: &[ResourceDef], gv: &str) -> Value {
    let param = json!([{"name": "fieldValidation", "in": "query", "schema": {"type": "string", "uniqueItems": true}}]);
    let mut paths = serde_json::Map::new();
    for d in defs {
        let base = if d.group.is_empty() {
            format!("api/{}", d.version)
        } else {
            format!("apis/{}/{}", d.group, d.version)
        };
        if base != gv {
            continue;
        }
        let gvk = json!({"group": d.group, "version": d.version, "kind": d.kind});
        let op = json!({"x-kubernetes-group-version-kind": gvk, "parameters": param});
        let scope = if d.namespaced {
            "namespaces/{namespace}/"
        } else {
            ""
        };
        paths.insert(format!("/{base}/{scope}{}", d.plural), json!({"post": op}));
        paths.insert(
            format!("/{base}/{scope}{}/{{name}}", d.plural),
            json!({"put": op, "patch": op}),
        );
    }
    Value::Object(paths)
}
