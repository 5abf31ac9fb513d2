//! Typed, in-process access to the store for test actors (a scheduler, a kubelet, a
//! disruption controller): no HTTP, same semantics and watch events as the API.
use std::sync::Arc;

use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::Value;
use tokio::sync::broadcast;

use super::resource::ResourceDef;
use super::status::ApiError;
use super::store::{DeleteOptions, ListOptions, Part, Store, StoreEvent};
use crate::Result;

/// Borrowed from [`super::KubeApiServerHandle::objects`].
pub struct Objects<'a> {
    store: &'a Arc<Store>,
}

fn def_of<K: kube::Resource<DynamicType = ()>>(store: &Store) -> Result<ResourceDef> {
    let (av, kind) = (K::api_version(&()), K::kind(&()));
    store.resolve_kind(&av, &kind).ok_or_else(|| {
        ApiError::new(
            404,
            "NotFound",
            format!("the server does not serve {kind} in {av}"),
        )
        .into()
    })
}

fn from_value<K: DeserializeOwned>(v: Value) -> Result<K> {
    Ok(serde_json::from_value(v)?)
}

impl<'a> Objects<'a> {
    pub fn new(store: &'a Arc<Store>) -> Self {
        Self { store }
    }

    /// Creates `obj` as given, status included (an actor may create a Running pod or a
    /// Ready node directly). The namespace comes from the object, or `default`.
    pub fn create<K>(&self, obj: &K) -> Result<K>
    where
        K: kube::Resource<DynamicType = ()> + Serialize + DeserializeOwned,
    {
        let def = def_of::<K>(self.store)?;
        let v = serde_json::to_value(obj)?;
        let ns = v["metadata"]["namespace"].as_str().map(String::from);
        from_value(self.store.create(&def, ns.as_deref(), v, true, false)?)
    }

    pub fn get<K>(&self, namespace: Option<&str>, name: &str) -> Result<K>
    where
        K: kube::Resource<DynamicType = ()> + DeserializeOwned,
    {
        let def = def_of::<K>(self.store)?;
        from_value(self.store.get(&def, namespace, name)?)
    }

    /// Every object of the type (in `namespace`, or all).
    pub fn list<K>(&self, namespace: Option<&str>) -> Result<Vec<K>>
    where
        K: kube::Resource<DynamicType = ()> + DeserializeOwned,
    {
        let def = def_of::<K>(self.store)?;
        let page = self.store.list(&def, namespace, &ListOptions::default())?;
        page.items.into_iter().map(from_value).collect()
    }

    /// Replaces spec, metadata and status at once (the server's own kind of write: no
    /// pod-spec immutability). A `metadata.resourceVersion` is checked (409 if stale).
    pub fn update<K>(&self, obj: &K) -> Result<K>
    where
        K: kube::Resource<DynamicType = ()> + Serialize + DeserializeOwned,
    {
        let def = def_of::<K>(self.store)?;
        let v = serde_json::to_value(obj)?;
        let name = v["metadata"]["name"]
            .as_str()
            .unwrap_or_default()
            .to_string();
        let ns = v["metadata"]["namespace"].as_str().map(String::from);
        from_value(self.store.update_with(
            &def,
            ns.as_deref(),
            &name,
            Part::Internal,
            false,
            |_| Ok(v),
        )?)
    }

    /// Changes an object in place under the store lock (no lost updates). `f` must not
    /// call back into the store (it would deadlock).
    pub fn modify<K>(
        &self,
        namespace: Option<&str>,
        name: &str,
        f: impl FnOnce(&mut K),
    ) -> Result<K>
    where
        K: kube::Resource<DynamicType = ()> + Serialize + DeserializeOwned,
    {
        let def = def_of::<K>(self.store)?;
        let v = self
            .store
            .update_with(&def, namespace, name, Part::Internal, false, |cur| {
                let mut obj: K = serde_json::from_value(cur.clone())
                    .map_err(|e| ApiError::bad_request(e.to_string()))?;
                f(&mut obj);
                serde_json::to_value(&obj).map_err(|e| ApiError::bad_request(e.to_string()))
            })?;
        from_value(v)
    }

    /// Deletes with an explicit grace period (`Some(0)`: what a kubelet does at the end).
    pub fn delete<K>(
        &self,
        namespace: Option<&str>,
        name: &str,
        grace_period_seconds: Option<i64>,
    ) -> Result<()>
    where
        K: kube::Resource<DynamicType = ()>,
    {
        let def = def_of::<K>(self.store)?;
        let opts = DeleteOptions {
            grace_period_seconds,
            ..Default::default()
        };
        self.store.delete(&def, namespace, name, &opts)?;
        Ok(())
    }

    /// Every change from now on (all types).
    pub fn subscribe(&self) -> broadcast::Receiver<Arc<StoreEvent>> {
        self.store.subscribe()
    }
}
