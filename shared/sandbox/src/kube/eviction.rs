//! `POST pods/{name}/eviction`, after kube-apiserver `pkg/registry/core/pod/storage/eviction.go`:
//! PodDisruptionBudgets are checked and decremented; 429 when none may be disrupted.
use std::sync::Arc;

use serde_json::{Value, json};

use super::selectors::label_selector_object_matches;
use super::status::{self, ApiError, ApiResult};
use super::store::{DeleteOptions, ListOptions, Part, Store};
use super::time;

fn is_ready(pod: &Value) -> bool {
    pod["status"]["conditions"].as_array().is_some_and(|cs| {
        cs.iter()
            .any(|c| c["type"] == "Ready" && c["status"] == "True")
    })
}

fn too_many_requests(cause: String, retry_after: Option<u64>) -> ApiError {
    let mut e = ApiError::new(
        429,
        "TooManyRequests",
        "Cannot evict pod as it would violate the pod's disruption budget.",
    )
    .with_details(json!({"causes": [{"reason": "DisruptionBudget", "message": cause}]}));
    e.retry_after = retry_after;
    e
}

/// Evicts `name` in `ns`; the answer is a `Status` with code 201.
pub fn evict(
    store: &Arc<Store>,
    ns: &str,
    name: &str,
    body: &Value,
    dry_run: bool,
) -> ApiResult<Value> {
    if body["metadata"]["name"].as_str().is_some_and(|n| n != name) {
        return Err(ApiError::bad_request(
            "name in URL does not match name in Eviction object",
        ));
    }
    let pods = store
        .resolve("", "v1", "pods")
        .ok_or_else(ApiError::path_not_found)?;
    let pdbs = store
        .resolve("policy", "v1", "poddisruptionbudgets")
        .ok_or_else(ApiError::path_not_found)?;
    // Only `deleteOptions`: like kube-apiserver, the snake_case `delete_options` kube 5 sends is
    // an unknown field and is ignored.
    let opts = body.get("deleteOptions").cloned().unwrap_or_default();
    let delete = DeleteOptions {
        grace_period_seconds: opts["gracePeriodSeconds"].as_i64(),
        precondition_uid: opts["preconditions"]["uid"].as_str().map(String::from),
        precondition_rv: opts["preconditions"]["resourceVersion"]
            .as_str()
            .map(String::from),
        dry_run: dry_run || opts["dryRun"].as_array().is_some_and(|d| !d.is_empty()),
    };
    let pod = store.get(&pods, Some(ns), name)?;
    let phase = pod["status"]["phase"].as_str().unwrap_or_default();
    if matches!(phase, "Pending" | "Succeeded" | "Failed")
        || pod["metadata"]["deletionTimestamp"].is_string()
    {
        store.delete(&pods, Some(ns), name, &delete)?;
        return Ok(status::success(201));
    }
    let labels = &pod["metadata"]["labels"];
    let matching: Vec<Value> = store
        .list(&pdbs, Some(ns), &ListOptions::default())?
        .items
        .into_iter()
        .filter(|pdb| label_selector_object_matches(&pdb["spec"]["selector"], labels, false))
        .collect();
    if matching.len() > 1 {
        return Err(ApiError::new(
            500,
            "InternalError",
            "This pod has more than one PodDisruptionBudget, which the eviction subresource does not support.",
        ));
    }
    let Some(pdb) = matching.into_iter().next() else {
        store.delete(&pods, Some(ns), name, &delete)?;
        return Ok(status::success(201));
    };
    let pdb_name = pdb["metadata"]["name"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    let st = &pdb["status"];
    let (current, desired) = (
        st["currentHealthy"].as_i64().unwrap_or(0),
        st["desiredHealthy"].as_i64().unwrap_or(0),
    );
    if !is_ready(&pod) && current >= desired && desired > 0 {
        store.delete(&pods, Some(ns), name, &delete)?;
        return Ok(status::success(201));
    }
    let generation = pdb["metadata"]["generation"].as_i64().unwrap_or(1);
    if st["observedGeneration"].as_i64().unwrap_or(0) < generation {
        return Err(too_many_requests(
            format!("The disruption budget {pdb_name} is still being processed by the server."),
            Some(10),
        ));
    }
    let allowed = st["disruptionsAllowed"].as_i64().unwrap_or(0);
    if allowed < 0 {
        return Err(ApiError::new(
            403,
            "Forbidden",
            "pdb disruptions allowed is negative",
        ));
    }
    if allowed == 0 {
        return Err(too_many_requests(
            format!(
                "The disruption budget {pdb_name} needs {desired} healthy pods and has {current} currently"
            ),
            None,
        ));
    }
    if !delete.dry_run {
        let rv = pdb["metadata"]["resourceVersion"].clone();
        store.update_with(&pdbs, Some(ns), &pdb_name, Part::Status, false, |cur| {
            let mut next = cur.clone();
            next["metadata"]["resourceVersion"] = rv;
            next["status"]["disruptionsAllowed"] = json!(allowed - 1);
            next["status"]["disruptedPods"][name] = json!(time::now());
            Ok(next)
        })?;
    }
    store.delete(&pods, Some(ns), name, &delete)?;
    Ok(status::success(201))
}
