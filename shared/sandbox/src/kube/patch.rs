//! PATCH bodies by content type: JSON merge patch (RFC 7386), JSON patch (RFC 6902) and
//! strategic merge patch (merge keys for the lists the product touches).
use serde_json::{Map, Value};

use super::status::{ApiError, ApiResult};

/// The patch types, from the request's `Content-Type`.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum PatchType {
    Merge,
    Json,
    Strategic,
}

impl PatchType {
    /// The patch type for a content type; server-side apply and anything else → 415.
    pub fn from_content_type(ct: &str) -> ApiResult<Self> {
        match ct.split(';').next().unwrap_or_default().trim() {
            "application/merge-patch+json" => Ok(Self::Merge),
            "application/json-patch+json" => Ok(Self::Json),
            "application/strategic-merge-patch+json" => Ok(Self::Strategic),
            other => Err(ApiError::unsupported_media_type(other)),
        }
    }
}

/// Applies `patch` to `target`.
pub fn apply(kind: PatchType, target: &Value, patch: &Value) -> ApiResult<Value> {
    let mut out = target.clone();
    match kind {
        PatchType::Merge => merge(&mut out, patch),
        PatchType::Json => json_patch(&mut out, patch)?,
        PatchType::Strategic => strategic(&mut out, patch, "")?,
    }
    Ok(out)
}

/// RFC 7386: maps merge, `null` deletes, everything else (arrays too) replaces.
pub fn merge(target: &mut Value, patch: &Value) {
    let Value::Object(p) = patch else {
        *target = patch.clone();
        return;
    };
    if !target.is_object() {
        *target = Value::Object(Map::new());
    }
    if let Value::Object(t) = target {
        for (k, v) in p {
            if v.is_null() {
                t.remove(k);
            } else {
                merge(t.entry(k.clone()).or_insert(Value::Null), v);
            }
        }
    }
}

fn unprocessable(msg: String) -> ApiError {
    ApiError::new(422, "Invalid", msg)
}

/// RFC 6902. Malformed operations → 400; failures to apply (and failed `test`s) → 422.
pub fn json_patch(doc: &mut Value, patch: &Value) -> ApiResult<()> {
    let ops = patch
        .as_array()
        .ok_or_else(|| ApiError::bad_request("json patch must be an array of operations"))?;
    for op in ops {
        let name = op["op"]
            .as_str()
            .ok_or_else(|| ApiError::bad_request("missing op"))?;
        let path = op["path"]
            .as_str()
            .ok_or_else(|| ApiError::bad_request("missing path"))?;
        let value = || {
            op.get("value")
                .cloned()
                .ok_or_else(|| ApiError::bad_request("missing value"))
        };
        let from = || {
            op["from"]
                .as_str()
                .ok_or_else(|| ApiError::bad_request("missing from"))
        };
        match name {
            "add" => add(doc, path, value()?)?,
            "remove" => {
                remove(doc, path)?;
            }
            "replace" => {
                remove(doc, path)?;
                add(doc, path, value()?)?;
            }
            "move" => {
                let v = remove(doc, from()?)?;
                add(doc, path, v)?;
            }
            "copy" => {
                let v = doc.pointer(from()?).cloned().ok_or_else(|| {
                    unprocessable(format!(
                        "copy: missing path {:?}",
                        from().unwrap_or_default()
                    ))
                })?;
                add(doc, path, v)?;
            }
            "test" => {
                if doc.pointer(path) != Some(&value()?) {
                    return Err(unprocessable(format!("testing value {path} failed")));
                }
            }
            other => {
                return Err(ApiError::bad_request(format!(
                    "unknown json patch op {other:?}"
                )));
            }
        }
    }
    Ok(())
}

fn split_pointer(path: &str) -> ApiResult<(&str, String)> {
    let i = path
        .rfind('/')
        .ok_or_else(|| ApiError::bad_request(format!("invalid path {path:?}")))?;
    Ok((
        &path[..i],
        path[i + 1..].replace("~1", "/").replace("~0", "~"),
    ))
}

fn add(doc: &mut Value, path: &str, value: Value) -> ApiResult<()> {
    if path.is_empty() {
        *doc = value;
        return Ok(());
    }
    let (parent, last) = split_pointer(path)?;
    let missing = || {
        unprocessable(format!(
            "add operation does not apply: doc is missing path: {path:?}"
        ))
    };
    match doc.pointer_mut(parent).ok_or_else(missing)? {
        Value::Object(m) => {
            m.insert(last, value);
        }
        Value::Array(a) => {
            let i = if last == "-" {
                a.len()
            } else {
                last.parse().map_err(|_| missing())?
            };
            if i > a.len() {
                return Err(missing());
            }
            a.insert(i, value);
        }
        _ => return Err(missing()),
    }
    Ok(())
}

fn remove(doc: &mut Value, path: &str) -> ApiResult<Value> {
    let (parent, last) = split_pointer(path)?;
    let missing = || {
        unprocessable(format!(
            "remove operation does not apply: doc is missing path: {path:?}"
        ))
    };
    match doc.pointer_mut(parent).ok_or_else(missing)? {
        Value::Object(m) => m.remove(&last).ok_or_else(missing),
        Value::Array(a) => {
            let i: usize = last.parse().map_err(|_| missing())?;
            (i < a.len()).then(|| a.remove(i)).ok_or_else(missing)
        }
        _ => Err(missing()),
    }
}

/// The merge key of a list field, by its name (the fields this project patches);
/// `None` means the list is atomic and is replaced whole.
fn merge_key(field: &str) -> Option<&'static str> {
    match field {
        "containers"
        | "initContainers"
        | "ephemeralContainers"
        | "volumes"
        | "env"
        | "volumeMounts"
        | "imagePullSecrets"
        | "resourceClaims" => Some("name"),
        "ports" => Some("containerPort"),
        "ownerReferences" => Some("uid"),
        "conditions" => Some("type"),
        "addresses" => Some("type"),
        _ => None,
    }
}

/// Strategic merge patch: maps as RFC 7386, lists by merge key, `finalizers` as a set,
/// `$patch: replace|delete`; `$setElementOrder` is accepted and ignored (order only).
pub fn strategic(target: &mut Value, patch: &Value, field: &str) -> ApiResult<()> {
    let Value::Object(p) = patch else {
        *target = patch.clone();
        return Ok(());
    };
    match p.get("$patch").and_then(Value::as_str) {
        Some("replace") => {
            let mut p = p.clone();
            p.remove("$patch");
            *target = Value::Object(p);
            return Ok(());
        }
        Some("delete") => {
            *target = Value::Null;
            return Ok(());
        }
        Some(other) => {
            return Err(ApiError::bad_request(format!(
                "unknown patch directive {other:?} at {field}"
            )));
        }
        None => {}
    }
    if !target.is_object() {
        *target = Value::Object(Map::new());
    }
    let Value::Object(t) = target else {
        return Ok(());
    };
    for (k, v) in p {
        if k.starts_with("$setElementOrder/") {
            continue;
        }
        if k.starts_with('$') {
            return Err(ApiError::bad_request(format!(
                "unsupported patch directive {k:?}"
            )));
        }
        match v {
            Value::Null => {
                t.remove(k);
            }
            Value::Array(items) => {
                let merged = merge_list(t.get(k), items, k)?;
                t.insert(k.clone(), merged);
            }
            _ => strategic(t.entry(k.clone()).or_insert(Value::Null), v, k)?,
        }
    }
    Ok(())
}

fn merge_list(current: Option<&Value>, items: &[Value], field: &str) -> ApiResult<Value> {
    if items
        .iter()
        .any(|i| i.get("$patch").and_then(Value::as_str) == Some("replace"))
    {
        let kept = items
            .iter()
            .filter(|i| i.get("$patch").is_none())
            .cloned()
            .collect();
        return Ok(Value::Array(kept));
    }
    let mut out: Vec<Value> = current
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    if field == "finalizers" {
        for i in items {
            if !out.contains(i) {
                out.push(i.clone());
            }
        }
        return Ok(Value::Array(out));
    }
    let Some(key) = merge_key(field) else {
        return Ok(Value::Array(items.to_vec()));
    };
    for item in items {
        let id = item.get(key);
        let pos = id.and_then(|id| out.iter().position(|o| o.get(key) == Some(id)));
        let delete = item.get("$patch").and_then(Value::as_str) == Some("delete");
        match (pos, delete) {
            (Some(i), true) => {
                out.remove(i);
            }
            (None, true) => {}
            (Some(i), false) => strategic(&mut out[i], item, field)?,
            (None, false) => {
                let mut fresh = Value::Null;
                strategic(&mut fresh, item, field)?;
                out.push(fresh);
            }
        }
    }
    Ok(Value::Array(out))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn strategic_merges_containers_by_name_and_replaces_tolerations() {
        let pod = json!({"spec": {"containers": [{"name": "a", "image": "x"}, {"name": "b", "image": "y"}],
                         "tolerations": [{"key": "k1"}]}});
        let patch = json!({"spec": {"containers": [{"name": "b", "image": "z"}, {"name": "c", "image": "w"}],
                           "tolerations": [{"key": "k2"}]}});
        let out = apply(PatchType::Strategic, &pod, &patch).expect("patch");
        assert_eq!(
            out["spec"]["containers"],
            json!([{"name": "a", "image": "x"}, {"name": "b", "image": "z"}, {"name": "c", "image": "w"}])
        );
        assert_eq!(out["spec"]["tolerations"], json!([{"key": "k2"}]));
        let del = json!({"spec": {"containers": [{"name": "a", "$patch": "delete"}]}});
        let out = apply(PatchType::Strategic, &out, &del).expect("patch");
        assert_eq!(out["spec"]["containers"].as_array().map(Vec::len), Some(2));
    }

    #[test]
    fn json_patch_test_failure_is_422() {
        let e = apply(
            PatchType::Json,
            &json!({"a": 1}),
            &json!([{"op": "test", "path": "/a", "value": 2}]),
        );
        assert_eq!(e.map_err(|e| e.code), Err(422));
    }
}
