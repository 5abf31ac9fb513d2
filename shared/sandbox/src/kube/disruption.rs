//! What kube-controller-manager's disruption controller does to PodDisruptionBudget status,
//! on demand (no controller runs here): tests and actors call it after changing pods.
use serde_json::{Value, json};

use super::selectors::label_selector_object_matches;
use super::status::ApiResult;
use super::store::{ListOptions, Part, Store};

fn ready(pod: &Value) -> bool {
    pod["metadata"]["deletionTimestamp"].is_null()
        && pod["status"]["conditions"].as_array().is_some_and(|cs| {
            cs.iter()
                .any(|c| c["type"] == "Ready" && c["status"] == "True")
        })
}

/// `minAvailable`/`maxUnavailable` (an integer or a percentage) against `expected` pods.
fn desired_healthy(spec: &Value, expected: i64) -> i64 {
    let scaled = |v: &Value, round_up: bool| -> i64 {
        match v {
            Value::String(s) if s.ends_with('%') => {
                let p: i64 = s.trim_end_matches('%').parse().unwrap_or(0);
                let x = p * expected;
                if round_up { (x + 99) / 100 } else { x / 100 }
            }
            Value::String(s) => s.parse().unwrap_or(0),
            other => other.as_i64().unwrap_or(0),
        }
    };
    if !spec["minAvailable"].is_null() {
        scaled(&spec["minAvailable"], true)
    } else if !spec["maxUnavailable"].is_null() {
        (expected - scaled(&spec["maxUnavailable"], true)).max(0)
    } else {
        0
    }
}

/// Expected pods as the controller counts them: each controller's `spec.replicas` once
/// (ReplicaSet, StatefulSet, ReplicationController found in the store), plus one per pod
/// without one.
fn expected_pods(store: &Store, ns: &str, pods: &[Value]) -> ApiResult<i64> {
    let mut seen = Vec::new();
    let mut expected = 0;
    for pod in pods {
        let owner = pod["metadata"]["ownerReferences"]
            .as_array()
            .and_then(|os| os.iter().find(|o| o["controller"] == true));
        let scale = owner.and_then(|o| {
            let (group, plural) = match o["kind"].as_str()? {
                "ReplicaSet" => ("apps", "replicasets"),
                "StatefulSet" => ("apps", "statefulsets"),
                "ReplicationController" => ("", "replicationcontrollers"),
                _ => return None,
            };
            let def = store.resolve(group, "v1", plural)?;
            let obj = store.get(&def, Some(ns), o["name"].as_str()?).ok()?;
            Some((
                o["uid"].clone(),
                obj["spec"]["replicas"].as_i64().unwrap_or(1),
            ))
        });
        match scale {
            Some((uid, _)) if seen.contains(&uid) => {}
            Some((uid, replicas)) => {
                seen.push(uid);
                expected += replicas;
            }
            None => expected += 1,
        }
    }
    Ok(expected)
}

/// Recomputes every PodDisruptionBudget's status from the pods it selects and their
/// controllers' scale. Returns how many budgets were written.
pub fn refresh(store: &Store) -> ApiResult<usize> {
    let (Some(pdbs), Some(pods)) = (
        store.resolve("policy", "v1", "poddisruptionbudgets"),
        store.resolve("", "v1", "pods"),
    ) else {
        return Ok(0);
    };
    let mut written = 0;
    for pdb in store.list(&pdbs, None, &ListOptions::default())?.items {
        let ns = pdb["metadata"]["namespace"]
            .as_str()
            .unwrap_or_default()
            .to_string();
        let name = pdb["metadata"]["name"]
            .as_str()
            .unwrap_or_default()
            .to_string();
        let matching: Vec<Value> = store
            .list(&pods, Some(&ns), &ListOptions::default())?
            .items
            .into_iter()
            .filter(|p| {
                label_selector_object_matches(
                    &pdb["spec"]["selector"],
                    &p["metadata"]["labels"],
                    false,
                )
            })
            .collect();
        let expected = expected_pods(store, &ns, &matching)?;
        let current = matching.iter().filter(|p| ready(p)).count() as i64;
        let desired = desired_healthy(&pdb["spec"], expected);
        let exists = |pod: &str| matching.iter().any(|p| p["metadata"]["name"] == pod);
        store.update_with(&pdbs, Some(&ns), &name, Part::Status, false, |cur| {
            let mut next = cur.clone();
            let disrupted: serde_json::Map<String, Value> = cur["status"]["disruptedPods"]
                .as_object()
                .map(|m| {
                    m.iter()
                        .filter(|(k, _)| exists(k))
                        .map(|(k, v)| (k.clone(), v.clone()))
                        .collect()
                })
                .unwrap_or_default();
            next["status"] = json!({
                "observedGeneration": cur["metadata"]["generation"],
                "expectedPods": expected,
                "currentHealthy": current,
                "desiredHealthy": desired,
                "disruptionsAllowed": (current - desired).max(0),
                "disruptedPods": disrupted,
                "conditions": cur["status"]["conditions"].clone(),
            });
            if next["status"]["conditions"].is_null() {
                if let Value::Object(s) = &mut next["status"] {
                    s.remove("conditions");
                }
            }
            Ok(next)
        })?;
        written += 1;
    }
    Ok(written)
}
