//! DELETE: finalizers, pod grace periods, and the cascades of namespaces and CRDs.
use std::sync::Arc;
use std::time::Duration;

use serde_json::{Value, json};

use super::{DeleteOptions, EventType, Inner, Key, PodDeletion, Store};
use crate::kube::resource::{self, ResourceDef};
use crate::kube::status::{ApiError, ApiResult};
use crate::kube::{meta, time};

impl Store {
    /// DELETE: finalizers and pod grace periods keep the object with `deletionTimestamp`.
    pub fn delete(
        self: &Arc<Self>,
        def: &ResourceDef,
        ns: Option<&str>,
        name: &str,
        opts: &DeleteOptions,
    ) -> ApiResult<Value> {
        let mut inner = self.lock();
        let (k, cur) = inner.existing(def, ns, name)?;
        let uid = cur["metadata"]["uid"]
            .as_str()
            .unwrap_or_default()
            .to_string();
        if opts.precondition_uid.as_ref().is_some_and(|u| *u != uid) {
            return Err(ApiError::new(
                409,
                "Conflict",
                format!(
                    "Precondition failed: UID in precondition: {}, UID in object meta: {uid}",
                    opts.precondition_uid.as_deref().unwrap_or_default()
                ),
            ));
        }
        if opts
            .precondition_rv
            .as_ref()
            .is_some_and(|r| r != meta::rv(&cur))
        {
            return Err(ApiError::conflict(&def.qualified(), name));
        }
        let grace = if def.is("", "pods") && self.pod_deletion != PodDeletion::Immediate {
            meta::pod_grace_period(&cur, opts.grace_period_seconds)
        } else {
            0
        };
        let has_finalizers = !meta::finalizers(&cur).is_empty();
        if has_finalizers || grace > 0 {
            let already = meta::deletion_timestamp(&cur).is_some();
            let current_grace = cur["metadata"]["deletionGracePeriodSeconds"]
                .as_i64()
                .unwrap_or(i64::MAX);
            if !already || grace < current_grace {
                let mut obj = cur.clone();
                obj["metadata"]["deletionTimestamp"] =
                    json!(time::format(time::now_secs() + grace));
                obj["metadata"]["deletionGracePeriodSeconds"] = json!(grace);
                if !opts.dry_run {
                    inner.rv += 1;
                    obj["metadata"]["resourceVersion"] = json!(inner.rv.to_string());
                    inner.objects.insert(k, obj.clone());
                    self.emit(&mut inner, EventType::Modified, def, &obj, Some(cur));
                    if grace > 0
                        && !has_finalizers
                        && self.pod_deletion == PodDeletion::AfterGracePeriod
                    {
                        self.remove_later(
                            def.clone(),
                            ns.map(String::from),
                            name.to_string(),
                            uid,
                            grace,
                        );
                    }
                }
                meta::present(&mut obj, def);
                return Ok(obj);
            }
            if has_finalizers || grace > 0 {
                let mut obj = cur;
                meta::present(&mut obj, def);
                return Ok(obj);
            }
        }
        let mut obj = cur;
        if !opts.dry_run {
            inner.rv += 1;
            obj["metadata"]["resourceVersion"] = json!(inner.rv.to_string());
            inner.objects.remove(&k);
            self.emit(&mut inner, EventType::Deleted, def, &obj, None);
            inner.after_removal(def, &obj, self);
        }
        meta::present(&mut obj, def);
        Ok(obj)
    }

    fn remove_later(
        self: &Arc<Self>,
        def: ResourceDef,
        ns: Option<String>,
        name: String,
        uid: String,
        secs: i64,
    ) {
        let Ok(rt) = tokio::runtime::Handle::try_current() else {
            return;
        };
        let store = Arc::downgrade(self);
        rt.spawn(async move {
            tokio::time::sleep(Duration::from_secs(secs.max(0) as u64)).await;
            if let Some(store) = store.upgrade() {
                let opts = DeleteOptions {
                    grace_period_seconds: Some(0),
                    precondition_uid: Some(uid),
                    ..Default::default()
                };
                let _ = store.delete(&def, ns.as_deref(), &name, &opts);
            }
        });
    }
}

impl Inner {
    /// Cascades: a namespace takes its objects with it, a CRD its custom resources.
    pub(super) fn after_removal(&mut self, def: &ResourceDef, obj: &Value, store: &Store) {
        let name = meta::name(obj).unwrap_or_default().to_string();
        let doomed: Vec<Key> = if def.is("", "namespaces") {
            self.objects
                .keys()
                .filter(|k| k.2 == name)
                .cloned()
                .collect()
        } else if def.is("apiextensions.k8s.io", "customresourcedefinitions") {
            let gone = resource::from_crd(obj);
            let Some(first) = gone.first() else { return };
            let (g, p) = (first.group.clone(), first.plural.clone());
            self.defs
                .retain(|d| !(d.custom && d.group == g && d.plural == p));
            self.objects
                .keys()
                .filter(|k| k.0 == g && k.1 == p)
                .cloned()
                .collect()
        } else {
            return;
        };
        for k in doomed {
            if let Some(mut o) = self.objects.remove(&k) {
                self.rv += 1;
                o["metadata"]["resourceVersion"] = json!(self.rv.to_string());
                let d = ResourceDef {
                    group: k.0.clone(),
                    plural: k.1.clone(),
                    ..def.clone()
                };
                store.emit(self, EventType::Deleted, &d, &o, None);
            }
        }
    }
}
