//! The `meta.k8s.io/v1` Table form (`Accept: application/json;as=Table;v=v1;g=meta.k8s.io`)
//! that `kubectl get` asks for, with kubectl's usual columns for pods and nodes.
use serde_json::{Value, json};

use super::resource::ResourceDef;
use super::time;

/// The form objects are returned in, from the `Accept` header.
#[derive(Clone, Debug, PartialEq)]
pub enum View {
    Full,
    /// `as=Table`, with `includeObject` (`None`, `Metadata`, `Object`).
    Table(String),
    /// `as=PartialObjectMetadata[List]` (kube's `get_metadata`, `metadata_watcher`).
    Metadata,
}

impl View {
    pub fn from_accept(accept: &str, include_object: Option<&str>) -> Self {
        if wanted(accept) {
            View::Table(include_object.unwrap_or("Metadata").to_string())
        } else if accept
            .split(',')
            .any(|a| a.contains("as=PartialObjectMetadata") && a.contains("g=meta.k8s.io"))
        {
            View::Metadata
        } else {
            View::Full
        }
    }

    /// One object in this view.
    pub fn object(&self, def: &ResourceDef, obj: Value) -> Value {
        match self {
            View::Full => obj,
            View::Metadata => partial(&obj),
            View::Table(include) => {
                let meta = json!({"resourceVersion": obj["metadata"]["resourceVersion"]});
                render(def, &[obj], meta, include)
            }
        }
    }

    /// A list in this view.
    pub fn list(&self, def: &ResourceDef, items: Vec<Value>, meta: Value) -> Value {
        match self {
            View::Full => {
                json!({"kind": format!("{}List", def.kind), "apiVersion": def.api_version(), "metadata": meta, "items": items})
            }
            View::Metadata => {
                let items: Vec<Value> = items.iter().map(partial).collect();
                json!({"kind": "PartialObjectMetadataList", "apiVersion": "meta.k8s.io/v1", "metadata": meta, "items": items})
            }
            View::Table(include) => render(def, &items, meta, include),
        }
    }
}

fn partial(obj: &Value) -> Value {
    json!({"kind": "PartialObjectMetadata", "apiVersion": "meta.k8s.io/v1", "metadata": obj["metadata"]})
}

/// Whether the `Accept` header asks for a Table (the first acceptable form that is one).
pub fn wanted(accept: &str) -> bool {
    accept
        .split(',')
        .any(|a| a.contains("as=Table") && a.contains("g=meta.k8s.io"))
}

fn col(name: &str, ty: &str, priority: u8) -> Value {
    let format = if name == "Name" { "name" } else { "" };
    json!({"name": name, "type": ty, "format": format, "description": name, "priority": priority})
}

type CellsFn = fn(&ResourceDef, &Value) -> Vec<Value>;

/// `includeObject`: `None`, `Metadata` (the default) or `Object`.
pub fn render(def: &ResourceDef, items: &[Value], list_meta: Value, include: &str) -> Value {
    let (columns, cells): (Vec<Value>, CellsFn) = match (def.group.as_str(), def.plural.as_str()) {
        ("", "pods") => (
            vec![
                col("Name", "string", 0),
                col("Ready", "string", 0),
                col("Status", "string", 0),
                col("Restarts", "string", 0),
                col("Age", "string", 0),
                col("IP", "string", 1),
                col("Node", "string", 1),
                col("Nominated Node", "string", 1),
                col("Readiness Gates", "string", 1),
            ],
            pod_cells,
        ),
        ("", "nodes") => (
            vec![
                col("Name", "string", 0),
                col("Status", "string", 0),
                col("Roles", "string", 0),
                col("Age", "string", 0),
                col("Version", "string", 0),
                col("Internal-IP", "string", 1),
                col("External-IP", "string", 1),
                col("OS-Image", "string", 1),
                col("Kernel-Version", "string", 1),
                col("Container-Runtime", "string", 1),
            ],
            node_cells,
        ),
        _ if builtin_columns(def).is_some() => {
            let mut cols = vec![col("Name", "string", 0)];
            cols.extend(
                builtin_columns(def)
                    .unwrap_or_default()
                    .iter()
                    .map(|(n, _)| col(n, "string", 0)),
            );
            cols.push(col("Age", "string", 0));
            (cols, builtin_cells)
        }
        _ if !def.printer_columns.is_empty() => {
            let mut cols = vec![col("Name", "string", 0)];
            cols.extend(def.printer_columns.iter().map(|c| {
                col(
                    c["name"].as_str().unwrap_or_default(),
                    c["type"].as_str().unwrap_or("string"),
                    c["priority"].as_u64().unwrap_or(0) as u8,
                )
            }));
            if !def.printer_columns.iter().any(|c| c["name"] == "Age") {
                cols.push(col("Age", "date", 0));
            }
            (cols, custom_cells)
        }
        _ => (
            vec![col("Name", "string", 0), col("Age", "string", 0)],
            |_, o| {
                vec![
                    json!(o["metadata"]["name"]),
                    json!(time::age(o["metadata"]["creationTimestamp"].as_str())),
                ]
            },
        ),
    };
    let rows: Vec<Value> = items
        .iter()
        .map(|o| {
            let mut row = json!({"cells": cells(def, o)});
            match include {
                "None" => {}
                "Object" => row["object"] = o.clone(),
                _ => row["object"] = json!({"kind": "PartialObjectMetadata", "apiVersion": "meta.k8s.io/v1", "metadata": o["metadata"]}),
            }
            row
        })
        .collect();
    json!({"kind": "Table", "apiVersion": "meta.k8s.io/v1", "metadata": list_meta, "columnDefinitions": columns, "rows": rows})
}

fn s(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Null => "<none>".to_string(),
        other => other.to_string(),
    }
}

fn pod_cells(_: &ResourceDef, p: &Value) -> Vec<Value> {
    let statuses = p["status"]["containerStatuses"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    let total = p["spec"]["containers"].as_array().map_or(0, Vec::len);
    let ready = statuses
        .iter()
        .filter(|c| c["ready"].as_bool() == Some(true))
        .count();
    let restarts: i64 = statuses
        .iter()
        .filter_map(|c| c["restartCount"].as_i64())
        .sum();
    let waiting = statuses
        .iter()
        .find_map(|c| c["state"]["waiting"]["reason"].as_str().map(String::from));
    let mut status = p["status"]["reason"]
        .as_str()
        .or(p["status"]["phase"].as_str())
        .unwrap_or("Unknown")
        .to_string();
    if let Some(w) = waiting {
        status = w;
    }
    if p["metadata"]["deletionTimestamp"].is_string() {
        status = "Terminating".to_string();
    }
    let gates = p["spec"]["readinessGates"]
        .as_array()
        .map_or("<none>".to_string(), |g| format!("0/{}", g.len()));
    vec![
        json!(p["metadata"]["name"]),
        json!(format!("{ready}/{total}")),
        json!(status),
        json!(restarts.to_string()),
        json!(time::age(p["metadata"]["creationTimestamp"].as_str())),
        json!(s(&p["status"]["podIP"])),
        json!(s(&p["spec"]["nodeName"])),
        json!(s(&p["status"]["nominatedNodeName"])),
        json!(gates),
    ]
}

fn node_cells(_: &ResourceDef, n: &Value) -> Vec<Value> {
    let ready = n["status"]["conditions"]
        .as_array()
        .and_then(|cs| cs.iter().find(|c| c["type"] == "Ready"))
        .map(|c| c["status"].as_str().unwrap_or_default().to_string());
    let mut status = match ready.as_deref() {
        Some("True") => "Ready".to_string(),
        Some("False") => "NotReady".to_string(),
        _ => "Unknown".to_string(),
    };
    if n["spec"]["unschedulable"].as_bool() == Some(true) {
        status.push_str(",SchedulingDisabled");
    }
    let mut roles: Vec<&str> = n["metadata"]["labels"]
        .as_object()
        .map(|l| {
            l.keys()
                .filter_map(|k| k.strip_prefix("node-role.kubernetes.io/"))
                .collect()
        })
        .unwrap_or_default();
    roles.sort_unstable();
    let roles = if roles.is_empty() {
        "<none>".to_string()
    } else {
        roles.join(",")
    };
    let addr = |t: &str| {
        n["status"]["addresses"]
            .as_array()
            .and_then(|a| a.iter().find(|x| x["type"] == t))
            .map_or("<none>".to_string(), |x| s(&x["address"]))
    };
    let info = &n["status"]["nodeInfo"];
    vec![
        json!(n["metadata"]["name"]),
        json!(status),
        json!(roles),
        json!(time::age(n["metadata"]["creationTimestamp"].as_str())),
        json!(s(&info["kubeletVersion"])),
        json!(addr("InternalIP")),
        json!(addr("ExternalIP")),
        json!(s(&info["osImage"])),
        json!(s(&info["kernelVersion"])),
        json!(s(&info["containerRuntimeVersion"])),
    ]
}

/// CRD `additionalPrinterColumns` with simple `.a.b.c` JSONPaths.
fn custom_cells(def: &ResourceDef, o: &Value) -> Vec<Value> {
    let mut cells = vec![json!(o["metadata"]["name"])];
    for c in &def.printer_columns {
        let path = c["jsonPath"].as_str().unwrap_or_default();
        let mut v = o;
        for part in path
            .trim_start_matches('.')
            .split('.')
            .filter(|p| !p.is_empty())
        {
            v = &v[part];
        }
        cells.push(if c["type"] == "date" {
            json!(time::age(v.as_str()))
        } else {
            v.clone()
        });
    }
    if !def.printer_columns.iter().any(|c| c["name"] == "Age") {
        cells.push(json!(time::age(
            o["metadata"]["creationTimestamp"].as_str()
        )));
    }
    cells
}

type Column = (&'static str, fn(&Value) -> String);

fn num(v: &Value) -> String {
    v.as_i64().unwrap_or(0).to_string()
}

fn int_or_string(v: &Value) -> String {
    match v {
        Value::Null => "N/A".to_string(),
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// kubectl's columns (between Name and Age) for the other built-in types.
fn builtin_columns(def: &ResourceDef) -> Option<Vec<Column>> {
    let cols: Vec<Column> = match (def.group.as_str(), def.plural.as_str()) {
        ("apps", "deployments") => vec![
            ("Ready", |o| {
                format!(
                    "{}/{}",
                    num(&o["status"]["readyReplicas"]),
                    num(&o["spec"]["replicas"])
                )
            }),
            ("Up-to-date", |o| num(&o["status"]["updatedReplicas"])),
            ("Available", |o| num(&o["status"]["availableReplicas"])),
        ],
        ("apps", "replicasets") => vec![
            ("Desired", |o| num(&o["spec"]["replicas"])),
            ("Current", |o| num(&o["status"]["replicas"])),
            ("Ready", |o| num(&o["status"]["readyReplicas"])),
        ],
        ("apps", "daemonsets") => vec![
            ("Desired", |o| num(&o["status"]["desiredNumberScheduled"])),
            ("Current", |o| num(&o["status"]["currentNumberScheduled"])),
            ("Ready", |o| num(&o["status"]["numberReady"])),
        ],
        ("policy", "poddisruptionbudgets") => vec![
            ("Min Available", |o| {
                int_or_string(&o["spec"]["minAvailable"])
            }),
            ("Max Unavailable", |o| {
                int_or_string(&o["spec"]["maxUnavailable"])
            }),
            ("Allowed Disruptions", |o| {
                num(&o["status"]["disruptionsAllowed"])
            }),
        ],
        ("", "namespaces") => vec![("Status", |o| s(&o["status"]["phase"]))],
        ("", "configmaps") => vec![("Data", |o| {
            o["data"].as_object().map_or(0, |d| d.len()).to_string()
        })],
        ("coordination.k8s.io", "leases") => vec![("Holder", |o| s(&o["spec"]["holderIdentity"]))],
        ("", "events") => vec![
            ("Type", |o| s(&o["type"])),
            ("Reason", |o| s(&o["reason"])),
            ("Object", |o| {
                format!(
                    "{}/{}",
                    o["involvedObject"]["kind"]
                        .as_str()
                        .unwrap_or_default()
                        .to_lowercase(),
                    o["involvedObject"]["name"].as_str().unwrap_or_default()
                )
            }),
            ("Message", |o| s(&o["message"])),
        ],
        _ => return None,
    };
    Some(cols)
}

fn builtin_cells(def: &ResourceDef, o: &Value) -> Vec<Value> {
    let mut cells = vec![json!(o["metadata"]["name"])];
    cells.extend(
        builtin_columns(def)
            .unwrap_or_default()
            .iter()
            .map(|(_, f)| json!(f(o))),
    );
    cells.push(json!(time::age(
        o["metadata"]["creationTimestamp"].as_str()
    )));
    cells
}
