//! Request routing and the REST verbs over the store.
use std::collections::HashMap;
use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;

use http_body_util::BodyExt as _;
use hyper::body::{Bytes, Incoming};
use hyper::header::{ACCEPT, AUTHORIZATION, CONTENT_TYPE, HeaderValue, RETRY_AFTER};
use hyper::{Method, Request, Response, StatusCode};
use serde_json::{Value, json};
use tokio::sync::watch as signal;

use super::auth::Auth;
use super::body::Body;
use super::patch::{self, PatchType};
use super::resource::ResourceDef;
use super::selectors::{FieldSelector, LabelSelector};
use super::status::{ApiError, ApiResult};
use super::store::{DeleteOptions, ListOptions, Part, Store};
use super::{discovery, eviction, subresources, table, watch};

/// What every request handler shares.
pub struct State {
    pub store: Arc<Store>,
    pub auth: Auth,
    pub server_address: String,
    pub disconnect: signal::Receiver<u64>,
    pub bookmark_interval: Duration,
    pub default_watch_timeout: Duration,
}

type Query = HashMap<String, String>;

pub(super) fn json_response(code: u16, v: &Value) -> Response<Body> {
    let mut r = Response::new(Body::Full(Some(Bytes::from(v.to_string()))));
    *r.status_mut() = StatusCode::from_u16(code).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    r.headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    r
}

fn error_response(e: &ApiError) -> Response<Body> {
    let mut r = json_response(e.code, &e.status());
    if let Some(secs) = e.retry_after {
        if let Ok(v) = HeaderValue::from_str(&secs.to_string()) {
            r.headers_mut().insert(RETRY_AFTER, v);
        }
    }
    r
}

/// The service function.
pub async fn handle(
    state: Arc<State>,
    req: Request<Incoming>,
) -> Result<Response<Body>, Infallible> {
    let (method, uri) = (req.method().clone(), req.uri().to_string());
    let header = |h| {
        req.headers()
            .get(h)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_string()
    };
    let (content_type, accept) = (header(CONTENT_TYPE), header(ACCEPT));
    let resp = match route(&state, req).await {
        Ok(r) => r,
        Err(e) => error_response(&e),
    };
    tracing::debug!(%method, %uri, %content_type, %accept, status = resp.status().as_u16(), "kube api request");
    Ok(resp)
}

async fn route(state: &Arc<State>, req: Request<Incoming>) -> ApiResult<Response<Body>> {
    let path = req.uri().path().trim_end_matches('/').to_string();
    if matches!(path.as_str(), "/healthz" | "/livez" | "/readyz") {
        return Ok(Response::new(Body::Full(Some(Bytes::from_static(b"ok")))));
    }
    let auth_header = req
        .headers()
        .get(AUTHORIZATION)
        .and_then(|h| h.to_str().ok());
    if !state.auth.check(auth_header) {
        return Err(ApiError::unauthorized());
    }
    let query: Query =
        url::form_urlencoded::parse(req.uri().query().unwrap_or_default().as_bytes())
            .into_owned()
            .collect();
    let segs: Vec<String> = path
        .split('/')
        .filter(|s| !s.is_empty())
        .map(String::from)
        .collect();
    let segs: Vec<&str> = segs.iter().map(String::as_str).collect();
    let defs = state.store.defs();
    let get = req.method() == Method::GET;
    match segs.as_slice() {
        ["version"] if get => Ok(json_response(200, &discovery::version())),
        ["api"] if get => Ok(json_response(
            200,
            &discovery::core_versions(&state.server_address),
        )),
        ["apis"] if get => Ok(json_response(200, &discovery::group_list(&defs))),
        ["apis", g] if get => discovery::group(&defs, g)
            .map(|d| json_response(200, &d))
            .ok_or_else(ApiError::path_not_found),
        ["api", v] if get => discovery::resource_list(&defs, "", v)
            .map(|d| json_response(200, &d))
            .ok_or_else(ApiError::path_not_found),
        ["openapi", "v3"] if get => Ok(json_response(200, &discovery::openapi_v3_index(&defs))),
        ["openapi", "v3", rest @ ..] if get => Ok(json_response(
            200,
            &discovery::openapi_v3_doc(&defs, &rest.join("/")),
        )),
        ["apis", g, v] if get => discovery::resource_list(&defs, g, v)
            .map(|d| json_response(200, &d))
            .ok_or_else(ApiError::path_not_found),
        ["api", v, rest @ ..] => resource(state, req, "", v, rest, &query).await,
        ["apis", g, v, rest @ ..] => resource(state, req, g, v, rest, &query).await,
        _ => Err(ApiError::path_not_found()),
    }
}

/// (namespace, plural, name, subresource)
type ResourcePath<'a> = (Option<&'a str>, &'a str, Option<&'a str>, Option<&'a str>);

/// `[namespaces/{ns}/]{plural}[/{name}[/{sub}]]`.
fn split_resource_path<'a>(rest: &[&'a str]) -> Option<ResourcePath<'a>> {
    match rest {
        ["namespaces", ns, plural, tail @ ..]
            if !(tail.is_empty() && matches!(*plural, "status" | "finalize")) =>
        {
            match tail {
                [] => Some((Some(ns), plural, None, None)),
                [name] => Some((Some(ns), plural, Some(name), None)),
                [name, sub] => Some((Some(ns), plural, Some(name), Some(sub))),
                _ => None,
            }
        }
        [plural] => Some((None, plural, None, None)),
        [plural, name] => Some((None, plural, Some(name), None)),
        [plural, name, sub] => Some((None, plural, Some(name), Some(sub))),
        _ => None,
    }
}

pub(super) async fn read_json(req: Request<Incoming>) -> ApiResult<(Value, String)> {
    let ct = req
        .headers()
        .get(CONTENT_TYPE)
        .and_then(|h| h.to_str().ok())
        .unwrap_or("application/json")
        .to_string();
    // Only JSON bodies: protobuf/CBOR senders (client-go's typed clients) get 415, which
    // client-go answers by falling back to JSON.
    let media = ct.split(';').next().unwrap_or_default().trim();
    if !(media.is_empty()
        || media == "*/*"
        || media.ends_with("json")
        || media == "application/apply-patch+yaml")
    {
        return Err(ApiError::new(
            415,
            "UnsupportedMediaType",
            format!(
                "the body of the request was in an unknown format - accepted media types include: application/json (got {media:?}; the sandbox speaks no protobuf)"
            ),
        ));
    }
    let bytes = req
        .into_body()
        .collect()
        .await
        .map_err(|e| ApiError::bad_request(format!("reading the body: {e}")))?
        .to_bytes();
    if bytes.is_empty() {
        return Ok((Value::Null, ct));
    }
    let v = serde_json::from_slice(&bytes)
        .map_err(|e| ApiError::bad_request(format!("the body is not valid JSON: {e}")))?;
    Ok((v, ct))
}

fn list_options(def: &ResourceDef, q: &Query) -> ApiResult<ListOptions> {
    Ok(ListOptions {
        labels: LabelSelector::parse(q.get("labelSelector").map_or("", String::as_str))?,
        fields: FieldSelector::parse(q.get("fieldSelector").map_or("", String::as_str), def)?,
        limit: q.get("limit").and_then(|l| l.parse().ok()),
        continue_token: q.get("continue").filter(|c| !c.is_empty()).cloned(),
    })
}

fn flag(q: &Query, k: &str) -> bool {
    q.get(k).is_some_and(|v| v == "true" || v == "1")
}

async fn resource(
    state: &Arc<State>,
    req: Request<Incoming>,
    group: &str,
    version: &str,
    rest: &[&str],
    q: &Query,
) -> ApiResult<Response<Body>> {
    let (ns, plural, name, sub) = split_resource_path(rest).ok_or_else(ApiError::path_not_found)?;
    let store = &state.store;
    let def = store
        .resolve(group, version, plural)
        .ok_or_else(ApiError::path_not_found)?;
    if ns.is_some() && !def.namespaced {
        return Err(ApiError::path_not_found());
    }
    let sub_ok = match sub {
        None => true,
        Some("status") => def.status_subresource,
        Some(s) => def.subresources().iter().any(|(n, _, _)| *n == s),
    };
    if !sub_ok {
        return Err(ApiError::path_not_found());
    }
    let accept = req
        .headers()
        .get(ACCEPT)
        .and_then(|h| h.to_str().ok())
        .unwrap_or_default()
        .to_string();
    let view = table::View::from_accept(&accept, q.get("includeObject").map(String::as_str));
    let dry_run = q.contains_key("dryRun");
    let part = if sub == Some("status") {
        Part::Status
    } else {
        Part::Main
    };
    let method = req.method().clone();
    if let (Some("scale"), Some(name)) = (sub, name) {
        return subresources::scale(store, &def, ns, name, req, dry_run).await;
    }
    match (method, name) {
        (Method::GET, None) if flag(q, "watch") => watch_response(state, def, ns, q, view),
        (Method::GET, None) => {
            let page = store.list(&def, ns, &list_options(&def, q)?)?;
            let mut meta = json!({"resourceVersion": page.resource_version.to_string()});
            if let Some(c) = page.continue_token {
                meta["continue"] = json!(c);
            }
            if let Some(r) = page.remaining {
                meta["remainingItemCount"] = json!(r);
            }
            Ok(json_response(200, &view.list(&def, page.items, meta)))
        }
        (Method::GET, Some(name)) => Ok(json_response(
            200,
            &view.object(&def, store.get(&def, ns, name)?),
        )),
        (Method::POST, None) => {
            let (body, _) = read_json(req).await?;
            Ok(json_response(
                201,
                &store.create(&def, ns, body, false, dry_run)?,
            ))
        }
        (Method::POST, Some(name)) => {
            let (body, _) = read_json(req).await?;
            match sub {
                Some("eviction") => Ok(json_response(
                    201,
                    &eviction::evict(store, ns.unwrap_or("default"), name, &body, dry_run)?,
                )),
                Some("binding") => Ok(json_response(
                    201,
                    &subresources::bind(store, &def, ns, name, &body)?,
                )),
                _ => Err(ApiError::method_not_allowed()),
            }
        }
        (Method::PUT, Some(name)) if sub.is_none() || part == Part::Status => {
            let (body, _) = read_json(req).await?;
            Ok(json_response(
                200,
                &store.update_with(&def, ns, name, part, dry_run, |_| Ok(body))?,
            ))
        }
        (Method::PATCH, Some(name)) if sub.is_none() || part == Part::Status => {
            let (body, ct) = read_json(req).await?;
            let kind = PatchType::from_content_type(&ct)?;
            if kind == PatchType::Strategic && def.custom {
                return Err(ApiError::unsupported_media_type(&ct));
            }
            // The patched object keeps the current resourceVersion unless the patch sets one,
            // which then acts as a precondition (409 when stale).
            let obj = store.update_with(&def, ns, name, part, dry_run, |cur| {
                patch::apply(kind, cur, &body)
            })?;
            Ok(json_response(200, &view.object(&def, obj)))
        }
        (Method::DELETE, Some(name)) if sub.is_none() => {
            let (body, _) = read_json(req).await?;
            let opts = delete_options(&body, q, dry_run);
            Ok(json_response(200, &store.delete(&def, ns, name, &opts)?))
        }
        (Method::DELETE, None) => {
            let (body, _) = read_json(req).await?;
            let opts = delete_options(&body, q, dry_run);
            let page = store.list(&def, ns, &list_options(&def, q)?)?;
            let mut gone = Vec::new();
            for o in &page.items {
                let (ons, oname) = (
                    o["metadata"]["namespace"].as_str(),
                    o["metadata"]["name"].as_str().unwrap_or_default(),
                );
                gone.push(store.delete(&def, ons, oname, &opts)?);
            }
            Ok(json_response(
                200,
                &json!({"kind": format!("{}List", def.kind), "apiVersion": def.api_version(), "metadata": {"resourceVersion": store.resource_version().to_string()}, "items": gone}),
            ))
        }
        _ => Err(ApiError::method_not_allowed()),
    }
}

fn delete_options(body: &Value, q: &Query, dry_run: bool) -> DeleteOptions {
    DeleteOptions {
        grace_period_seconds: body["gracePeriodSeconds"]
            .as_i64()
            .or_else(|| q.get("gracePeriodSeconds").and_then(|g| g.parse().ok())),
        precondition_uid: body["preconditions"]["uid"].as_str().map(String::from),
        precondition_rv: body["preconditions"]["resourceVersion"]
            .as_str()
            .map(String::from),
        dry_run: dry_run || body["dryRun"].as_array().is_some_and(|d| !d.is_empty()),
    }
}

fn watch_response(
    state: &Arc<State>,
    def: ResourceDef,
    ns: Option<&str>,
    q: &Query,
    view: table::View,
) -> ApiResult<Response<Body>> {
    let opts = list_options(&def, q)?;
    let rv = match q.get("resourceVersion").map(String::as_str) {
        None | Some("") => None,
        Some(s) => Some(
            s.parse::<u64>()
                .map_err(|_| ApiError::bad_request(format!("invalid resource version {s:?}")))?,
        ),
    };
    let timeout = q
        .get("timeoutSeconds")
        .and_then(|t| t.parse().ok())
        .map_or(state.default_watch_timeout, Duration::from_secs);
    let req = watch::WatchRequest {
        def,
        namespace: ns.map(String::from),
        resource_version: rv,
        labels: opts.labels,
        fields: opts.fields,
        bookmarks: flag(q, "allowWatchBookmarks"),
        send_initial_events: flag(q, "sendInitialEvents"),
        timeout,
        bookmark_interval: state.bookmark_interval,
        view,
        table_headers_sent: std::cell::Cell::new(false),
    };
    let rx = watch::start(&state.store, req, state.disconnect.clone());
    let mut r = Response::new(Body::Stream(rx));
    r.headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    Ok(r)
}
