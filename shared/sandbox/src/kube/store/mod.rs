//! The object store: JSON objects keyed by (group, resource, namespace, name) with one
//! global, monotonically increasing resourceVersion, a bounded event history for watches
//! and a broadcast of every change.
use std::collections::{BTreeMap, VecDeque};
use std::sync::{Arc, Mutex, MutexGuard};

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde_json::{Value, json};
use tokio::sync::broadcast;

use super::meta;
use super::resource::{self, ResourceDef};
use super::selectors::{FieldSelector, LabelSelector};
use super::status::{ApiError, ApiResult};

mod delete;

/// What happens to a pod deleted with a grace period (kube-apiserver keeps it, with
/// `deletionTimestamp`, until the kubelet confirms).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum PodDeletion {
    /// Remove at once, whatever the grace period (fast tests; the default).
    #[default]
    Immediate,
    /// Keep with `deletionTimestamp` and remove once the grace period has passed.
    AfterGracePeriod,
    /// Keep with `deletionTimestamp` until a DELETE with grace period 0 (a test "kubelet").
    Manual,
}

/// The kind of a change.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EventType {
    Added,
    Modified,
    Deleted,
}

/// One change to one object, as watches and subscribers see it.
#[derive(Clone, Debug)]
pub struct StoreEvent {
    pub kind: EventType,
    pub group: String,
    pub plural: String,
    pub namespace: String,
    pub name: String,
    pub rv: u64,
    /// The object after the change (for `Deleted`, its last state with the deletion's RV).
    pub object: Value,
    /// The object before the change (`Modified` only).
    pub previous: Option<Value>,
}

type Key = (String, String, String, String);

struct Inner {
    rv: u64,
    objects: BTreeMap<Key, Value>,
    defs: Vec<ResourceDef>,
    history: VecDeque<Arc<StoreEvent>>,
    /// Watches from a resourceVersion below this one get 410 Gone.
    compacted: u64,
    history_limit: usize,
}

/// Where a watch starts: every current object, or the events after a resourceVersion.
pub enum WatchStart {
    Initial(Vec<Value>),
    Replay(Vec<Arc<StoreEvent>>),
}

/// Filters and paging of a list.
#[derive(Clone, Debug, Default)]
pub struct ListOptions {
    pub labels: LabelSelector,
    pub fields: FieldSelector,
    pub limit: Option<usize>,
    pub continue_token: Option<String>,
}

/// One page of a list.
#[derive(Clone, Debug)]
pub struct ListPage {
    pub items: Vec<Value>,
    pub resource_version: u64,
    pub continue_token: Option<String>,
    pub remaining: Option<usize>,
}

/// Which part of an object a write may change.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Part {
    Main,
    Status,
    /// The server's own writes (binding, test actors): spec and status, unchecked.
    Internal,
}

/// DeleteOptions that matter here.
#[derive(Clone, Debug, Default)]
pub struct DeleteOptions {
    pub grace_period_seconds: Option<i64>,
    pub precondition_uid: Option<String>,
    pub precondition_rv: Option<String>,
    pub dry_run: bool,
}

/// The store. Cheap to share behind an `Arc`.
pub struct Store {
    inner: Mutex<Inner>,
    tx: broadcast::Sender<Arc<StoreEvent>>,
    pod_deletion: PodDeletion,
}

fn key(def: &ResourceDef, ns: &str, name: &str) -> Key {
    (
        def.storage_group().to_string(),
        def.plural.clone(),
        ns.to_string(),
        name.to_string(),
    )
}

impl Store {
    pub fn new(history_limit: usize, pod_deletion: PodDeletion) -> Arc<Self> {
        let (tx, _) = broadcast::channel(4096);
        let inner = Inner {
            rv: 1,
            objects: BTreeMap::new(),
            defs: resource::builtins(),
            history: VecDeque::new(),
            compacted: 0,
            history_limit: history_limit.max(1),
        };
        Arc::new(Self {
            inner: Mutex::new(inner),
            tx,
            pod_deletion,
        })
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        self.inner
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Changes the bounded history's length (tests shrink it to provoke 410 Gone).
    pub fn set_history_limit(&self, limit: usize) {
        let mut inner = self.lock();
        inner.history_limit = limit.max(1);
        inner.trim();
    }

    /// The served resource type for a group, version and plural.
    pub fn resolve(&self, group: &str, version: &str, plural: &str) -> Option<ResourceDef> {
        self.lock()
            .defs
            .iter()
            .find(|d| d.group == group && d.version == version && d.plural == plural)
            .cloned()
    }

    /// The served resource type for an apiVersion and kind.
    pub fn resolve_kind(&self, api_version: &str, kind: &str) -> Option<ResourceDef> {
        self.lock()
            .defs
            .iter()
            .find(|d| d.api_version() == api_version && d.kind == kind)
            .cloned()
    }

    /// Every served resource type.
    pub fn defs(&self) -> Vec<ResourceDef> {
        self.lock().defs.clone()
    }

    /// The latest resourceVersion.
    pub fn resource_version(&self) -> u64 {
        self.lock().rv
    }

    /// Every change from now on.
    pub fn subscribe(&self) -> broadcast::Receiver<Arc<StoreEvent>> {
        self.tx.subscribe()
    }

    pub fn create(
        &self,
        def: &ResourceDef,
        ns: Option<&str>,
        obj: Value,
        keep_status: bool,
        dry_run: bool,
    ) -> ApiResult<Value> {
        let mut obj = obj;
        if !obj.is_object() {
            return Err(ApiError::bad_request(
                "the object to create must be a JSON object",
            ));
        }
        let mut inner = self.lock();
        let ns = namespace_for(def, ns, &obj)?;
        if def.namespaced
            && !inner.objects.contains_key(&(
                "".into(),
                "namespaces".into(),
                String::new(),
                ns.clone(),
            ))
        {
            return Err(ApiError::not_found("namespaces", &ns));
        }
        let name = match meta::name(&obj) {
            Some(n) if !n.is_empty() => n.to_string(),
            _ => match obj["metadata"]["generateName"].as_str() {
                Some(prefix) => format!("{prefix}{}", meta::random_suffix()),
                None => {
                    return Err(ApiError::invalid(
                        &def.kind,
                        "",
                        "metadata.name: Required value: name or generateName is required",
                    ));
                }
            },
        };
        let k = key(def, &ns, &name);
        if inner.objects.contains_key(&k) {
            return Err(ApiError::already_exists(&def.qualified(), &name));
        }
        let rv = inner.rv + 1;
        meta::init(&mut obj, def, &ns, &name, rv);
        meta::defaults_on_create(&mut obj, def, keep_status);
        if def.is("apiextensions.k8s.io", "customresourcedefinitions") {
            meta::crd_status(&mut obj)?;
        }
        let presented = obj.clone();
        meta::to_storage(&mut obj, def);
        if dry_run {
            return Ok(presented);
        }
        inner.rv = rv;
        inner.objects.insert(k, obj.clone());
        if def.is("apiextensions.k8s.io", "customresourcedefinitions") {
            inner.register_crd(&obj);
        }
        self.emit(&mut inner, EventType::Added, def, &obj, None);
        Ok(presented)
    }

    pub fn get(&self, def: &ResourceDef, ns: Option<&str>, name: &str) -> ApiResult<Value> {
        let inner = self.lock();
        let (_, mut obj) = inner.existing(def, ns, name)?;
        meta::present(&mut obj, def);
        Ok(obj)
    }

    pub fn list(
        &self,
        def: &ResourceDef,
        ns: Option<&str>,
        opts: &ListOptions,
    ) -> ApiResult<ListPage> {
        let inner = self.lock();
        let (list_rv, start) = match &opts.continue_token {
            Some(t) => decode_continue(t)?,
            None => (inner.rv, None),
        };
        if opts.continue_token.is_some() && list_rv < inner.compacted {
            return Err(ApiError::expired(
                "The provided continue parameter is too old to display a consistent list result. You can start a new list without the continue parameter.",
            ));
        }
        let lower = key(def, "", "");
        let mut matching = inner
            .objects
            .range(lower..)
            .take_while(|(k, _)| k.0 == def.storage_group() && k.1 == def.plural)
            .filter(|(k, _)| ns.is_none_or(|ns| k.2 == ns))
            .filter(|(k, _)| start.as_ref().is_none_or(|s| (&k.2, &k.3) > (&s.0, &s.1)))
            .filter(|(_, o)| {
                opts.labels.matches(&o["metadata"]["labels"]) && opts.fields.matches(o)
            });
        let limit = opts.limit.filter(|l| *l > 0).unwrap_or(usize::MAX);
        let mut items = Vec::new();
        let mut last = None;
        for (k, o) in matching.by_ref().take(limit) {
            let mut o = o.clone();
            meta::present(&mut o, def);
            items.push(o);
            last = Some((k.2.clone(), k.3.clone()));
        }
        let remaining = matching.count();
        let continue_token = (remaining > 0)
            .then(|| encode_continue(list_rv, last))
            .flatten();
        Ok(ListPage {
            items,
            resource_version: list_rv,
            continue_token,
            remaining: (remaining > 0).then_some(remaining),
        })
    }

    /// Replaces an object with what `f` makes of the current one, under the store lock:
    /// PUT and PATCH. A `metadata.resourceVersion` in the result must match (409 if stale).
    pub fn update_with(
        &self,
        def: &ResourceDef,
        ns: Option<&str>,
        name: &str,
        part: Part,
        dry_run: bool,
        f: impl FnOnce(&Value) -> ApiResult<Value>,
    ) -> ApiResult<Value> {
        let mut inner = self.lock();
        let (k, cur) = inner.existing(def, ns, name)?;
        let mut presented = cur.clone();
        meta::present(&mut presented, def);
        let new = f(&presented)?;
        if !new.is_object() {
            return Err(ApiError::bad_request("the object must be a JSON object"));
        }
        if meta::name(&new).is_some_and(|n| n != name) {
            return Err(ApiError::bad_request(
                "the name of the object does not match the name on the URL",
            ));
        }
        if let Some(rv) = new["metadata"]["resourceVersion"].as_str() {
            if rv != meta::rv(&cur) {
                return Err(ApiError::conflict(&def.qualified(), name));
            }
        }
        let mut new = new;
        meta::to_storage(&mut new, def);
        let mut merged = meta::merge_update(&cur, new, def, part)?;
        if merged == cur {
            return Ok(presented);
        }
        let rv = inner.rv + 1;
        merged["metadata"]["resourceVersion"] = json!(rv.to_string());
        if dry_run {
            meta::present(&mut merged, def);
            return Ok(merged);
        }
        inner.rv = rv;
        let finalized = meta::deletion_timestamp(&merged).is_some()
            && meta::finalizers(&merged).is_empty()
            && !meta::finalizers(&cur).is_empty();
        if finalized {
            inner.objects.remove(&k);
            self.emit(&mut inner, EventType::Deleted, def, &merged, None);
            inner.after_removal(def, &merged, self);
        } else {
            inner.objects.insert(k, merged.clone());
            if def.is("apiextensions.k8s.io", "customresourcedefinitions") {
                inner.register_crd(&merged);
            }
            self.emit(&mut inner, EventType::Modified, def, &merged, Some(cur));
        }
        meta::present(&mut merged, def);
        Ok(merged)
    }

    /// Where a watch from `rv` starts; 410 Gone if the history no longer reaches back.
    pub fn watch_from(
        &self,
        def: &ResourceDef,
        ns: Option<&str>,
        rv: Option<u64>,
    ) -> ApiResult<(WatchStart, u64, broadcast::Receiver<Arc<StoreEvent>>)> {
        let inner = self.lock();
        let rx = self.tx.subscribe();
        let start = match rv {
            None | Some(0) => {
                let lower = key(def, "", "");
                let objs = inner
                    .objects
                    .range(lower..)
                    .take_while(|(k, _)| k.0 == def.storage_group() && k.1 == def.plural)
                    .filter(|(k, _)| ns.is_none_or(|ns| k.2 == ns))
                    .map(|(_, o)| o.clone())
                    .collect();
                WatchStart::Initial(objs)
            }
            Some(rv) if rv < inner.compacted => {
                return Err(ApiError::expired(format!(
                    "too old resource version: {rv} ({})",
                    inner.compacted
                )));
            }
            Some(rv) => WatchStart::Replay(
                inner
                    .history
                    .iter()
                    .filter(|e| e.rv > rv)
                    .cloned()
                    .collect(),
            ),
        };
        Ok((start, inner.rv, rx))
    }

    fn emit(
        &self,
        inner: &mut Inner,
        kind: EventType,
        def: &ResourceDef,
        obj: &Value,
        previous: Option<Value>,
    ) {
        let ev = Arc::new(StoreEvent {
            kind,
            group: def.storage_group().to_string(),
            plural: def.plural.clone(),
            namespace: meta::namespace(obj).to_string(),
            name: meta::name(obj).unwrap_or_default().to_string(),
            rv: inner.rv,
            object: obj.clone(),
            previous,
        });
        inner.history.push_back(ev.clone());
        inner.trim();
        let _ = self.tx.send(ev);
    }
}

impl Inner {
    /// The stored object `name` (in `ns`) of `def` and its key; 404 if there is none.
    fn existing(&self, def: &ResourceDef, ns: Option<&str>, name: &str) -> ApiResult<(Key, Value)> {
        let k = key(def, ns.unwrap_or_default(), name);
        let cur = self
            .objects
            .get(&k)
            .cloned()
            .ok_or_else(|| ApiError::not_found(&def.qualified(), name))?;
        Ok((k, cur))
    }

    fn trim(&mut self) {
        while self.history.len() > self.history_limit {
            if let Some(e) = self.history.pop_front() {
                self.compacted = e.rv;
            }
        }
    }

    fn register_crd(&mut self, crd: &Value) {
        let new = resource::from_crd(crd);
        if let Some(first) = new.first() {
            let (g, p) = (first.group.clone(), first.plural.clone());
            self.defs
                .retain(|d| !(d.custom && d.group == g && d.plural == p));
        }
        self.defs.extend(new);
    }
}

fn namespace_for(def: &ResourceDef, url_ns: Option<&str>, obj: &Value) -> ApiResult<String> {
    let body_ns = obj["metadata"]["namespace"]
        .as_str()
        .filter(|s| !s.is_empty());
    if !def.namespaced {
        return Ok(String::new());
    }
    match (url_ns, body_ns) {
        (Some(u), Some(b)) if u != b => Err(ApiError::bad_request(
            "the namespace of the provided object does not match the namespace sent on the request",
        )),
        (Some(u), _) => Ok(u.to_string()),
        (None, Some(b)) => Ok(b.to_string()),
        (None, None) => Ok("default".to_string()),
    }
}

fn encode_continue(rv: u64, last: Option<(String, String)>) -> Option<String> {
    let (ns, name) = last?;
    Some(URL_SAFE_NO_PAD.encode(json!({"rv": rv, "ns": ns, "name": name}).to_string()))
}

fn decode_continue(token: &str) -> ApiResult<(u64, Option<(String, String)>)> {
    let bad = || ApiError::bad_request("continue key is not valid");
    let bytes = URL_SAFE_NO_PAD.decode(token).map_err(|_| bad())?;
    let v: Value = serde_json::from_slice(&bytes).map_err(|_| bad())?;
    let rv = v["rv"].as_u64().ok_or_else(bad)?;
    let ns = v["ns"].as_str().ok_or_else(bad)?.to_string();
    let name = v["name"].as_str().ok_or_else(bad)?.to_string();
    Ok((rv, Some((ns, name))))
}
