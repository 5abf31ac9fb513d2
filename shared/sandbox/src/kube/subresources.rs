//! The `binding` and `scale` subresources.
use std::sync::Arc;

use hyper::body::Incoming;
use hyper::{Method, Request, Response};
use serde_json::{Value, json};

use super::body::Body;
use super::handlers::{json_response, read_json};
use super::patch::{self, PatchType};
use super::resource::ResourceDef;
use super::status::{self, ApiError, ApiResult};
use super::store::{Part, Store};

/// `POST pods/{name}/binding`: what kube-scheduler does to place a pod.
pub fn bind(
    store: &Arc<Store>,
    def: &ResourceDef,
    ns: Option<&str>,
    name: &str,
    body: &Value,
) -> ApiResult<Value> {
    let node = body["target"]["name"]
        .as_str()
        .filter(|n| !n.is_empty())
        .ok_or_else(|| ApiError::invalid("Binding", name, "target.name: Required value"))?
        .to_string();
    store.update_with(def, ns, name, Part::Internal, false, |cur| {
        if cur["spec"]["nodeName"].as_str().is_some_and(|n| !n.is_empty()) {
            return Err(ApiError::new(409, "Conflict", format!("Operation cannot be fulfilled on pods/binding \"{name}\": pod {name} is already assigned to node \"{}\"", cur["spec"]["nodeName"].as_str().unwrap_or_default())));
        }
        let mut next = cur.clone();
        next["spec"]["nodeName"] = json!(node);
        let mut conds: Vec<Value> = cur["status"]["conditions"].as_array().cloned().unwrap_or_default();
        conds.retain(|c| c["type"] != "PodScheduled");
        conds.push(json!({"type": "PodScheduled", "status": "True", "lastTransitionTime": super::time::now()}));
        next["status"]["conditions"] = json!(conds);
        Ok(next)
    })?;
    Ok(status::success(201))
}

/// The `autoscaling/v1` Scale view of a workload.
fn scale_of(obj: &Value) -> Value {
    let selector = obj["spec"]["selector"]["matchLabels"]
        .as_object()
        .map(|m| {
            m.iter()
                .map(|(k, v)| format!("{k}={}", v.as_str().unwrap_or_default()))
                .collect::<Vec<_>>()
                .join(",")
        })
        .unwrap_or_default();
    let m = &obj["metadata"];
    json!({
        "kind": "Scale",
        "apiVersion": "autoscaling/v1",
        "metadata": {"name": m["name"], "namespace": m["namespace"], "uid": m["uid"],
                     "resourceVersion": m["resourceVersion"], "creationTimestamp": m["creationTimestamp"]},
        "spec": {"replicas": obj["spec"]["replicas"].as_i64().unwrap_or(1)},
        "status": {"replicas": obj["status"]["replicas"].as_i64().unwrap_or(0), "selector": selector},
    })
}

/// `GET|PUT|PATCH {deployments,replicasets,statefulsets}/{name}/scale` (`kubectl scale`).
pub async fn scale(
    store: &Arc<Store>,
    def: &ResourceDef,
    ns: Option<&str>,
    name: &str,
    req: Request<Incoming>,
    dry_run: bool,
) -> ApiResult<Response<Body>> {
    let method = req.method().clone();
    if method == Method::GET {
        return Ok(json_response(200, &scale_of(&store.get(def, ns, name)?)));
    }
    if method != Method::PUT && method != Method::PATCH {
        return Err(ApiError::method_not_allowed());
    }
    let (body, ct) = read_json(req).await?;
    let kind = if method == Method::PATCH {
        Some(PatchType::from_content_type(&ct)?)
    } else {
        None
    };
    let obj = store.update_with(def, ns, name, Part::Main, dry_run, |cur| {
        let current = scale_of(cur);
        let wanted = match kind {
            Some(k) => patch::apply(k, &current, &body)?,
            None => body.clone(),
        };
        let replicas = wanted["spec"]["replicas"]
            .as_i64()
            .ok_or_else(|| ApiError::invalid("Scale", name, "spec.replicas: Required value"))?;
        let mut next = cur.clone();
        next["spec"]["replicas"] = json!(replicas);
        if let Some(rv) = wanted["metadata"]["resourceVersion"].as_str() {
            next["metadata"]["resourceVersion"] = json!(rv);
        }
        Ok(next)
    })?;
    Ok(json_response(200, &scale_of(&obj)))
}
