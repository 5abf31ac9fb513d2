//! Watch streams: one JSON event per line; replay from a resourceVersion or the current
//! objects; ADDED/MODIFIED/DELETED across selector boundaries; BOOKMARKs; 410 Gone.
use std::time::Duration;

use hyper::body::Bytes;
use serde_json::{Value, json};
use tokio::sync::{broadcast, mpsc, watch};

use super::resource::ResourceDef;
use super::selectors::{FieldSelector, LabelSelector};
use super::store::{EventType, Store, StoreEvent, WatchStart};
use super::{meta, table};

/// The query of a watch request.
pub struct WatchRequest {
    pub def: ResourceDef,
    pub namespace: Option<String>,
    pub resource_version: Option<u64>,
    pub labels: LabelSelector,
    pub fields: FieldSelector,
    pub bookmarks: bool,
    pub send_initial_events: bool,
    pub timeout: Duration,
    pub bookmark_interval: Duration,
    /// Full objects, Table rows (`kubectl get -w`) or PartialObjectMetadata.
    pub view: table::View,
    /// Column definitions go with the first Table event only, as kube-apiserver does.
    pub table_headers_sent: std::cell::Cell<bool>,
}

impl WatchRequest {
    fn matches(&self, obj: &Value) -> bool {
        self.namespace
            .as_deref()
            .is_none_or(|ns| meta::namespace(obj) == ns)
            && self.labels.matches(&obj["metadata"]["labels"])
            && self.fields.matches(obj)
    }

    fn line(&self, kind: &str, obj: &Value) -> Bytes {
        let mut obj = obj.clone();
        meta::present(&mut obj, &self.def);
        obj = self.view.object(&self.def, obj);
        if matches!(self.view, table::View::Table(_)) && self.table_headers_sent.replace(true) {
            obj["columnDefinitions"] = json!([]);
        }
        let mut s = json!({"type": kind, "object": obj}).to_string();
        s.push('\n');
        Bytes::from(s)
    }

    fn bookmark(&self, rv: u64, initial_end: bool) -> Bytes {
        let mut m = json!({"resourceVersion": rv.to_string()});
        if initial_end {
            m["annotations"] = json!({"k8s.io/initial-events-end": "true"});
        }
        let obj =
            json!({"kind": self.def.kind, "apiVersion": self.def.api_version(), "metadata": m});
        Bytes::from(format!("{}\n", json!({"type": "BOOKMARK", "object": obj})))
    }

    /// The watch event (if any) this change means for this watch.
    fn translate(&self, ev: &StoreEvent) -> Option<Bytes> {
        if ev.group != self.def.storage_group() || ev.plural != self.def.plural {
            return None;
        }
        let now = self.matches(&ev.object);
        match ev.kind {
            EventType::Added => now.then(|| self.line("ADDED", &ev.object)),
            EventType::Deleted => now.then(|| self.line("DELETED", &ev.object)),
            EventType::Modified => {
                let before = ev.previous.as_ref().is_some_and(|p| self.matches(p));
                match (before, now) {
                    (false, true) => Some(self.line("ADDED", &ev.object)),
                    (true, true) => Some(self.line("MODIFIED", &ev.object)),
                    (true, false) => {
                        let mut last = ev.previous.clone().unwrap_or_default();
                        last["metadata"]["resourceVersion"] = json!(ev.rv.to_string());
                        Some(self.line("DELETED", &last))
                    }
                    (false, false) => None,
                }
            }
        }
    }
}

/// Starts a watch; the receiver yields the lines of the response body.
pub fn start(
    store: &Store,
    req: WatchRequest,
    mut disconnect: watch::Receiver<u64>,
) -> mpsc::Receiver<Bytes> {
    let (tx, rx) = mpsc::channel(256);
    let started = store.watch_from(&req.def, req.namespace.as_deref(), req.resource_version);
    tokio::spawn(async move {
        let (start, mut last_rv, mut events) = match started {
            Ok(s) => s,
            Err(e) => {
                let line = format!("{}\n", json!({"type": "ERROR", "object": e.status()}));
                let _ = tx.send(Bytes::from(line)).await;
                return;
            }
        };
        let initial: Vec<Bytes> = match start {
            WatchStart::Initial(objs) => objs
                .iter()
                .filter(|o| req.matches(o))
                .map(|o| req.line("ADDED", o))
                .collect(),
            WatchStart::Replay(evs) => evs.iter().filter_map(|e| req.translate(e)).collect(),
        };
        for line in initial {
            if tx.send(line).await.is_err() {
                return;
            }
        }
        if req.send_initial_events
            && req.bookmarks
            && tx.send(req.bookmark(last_rv, true)).await.is_err()
        {
            return;
        }
        let deadline = tokio::time::sleep(req.timeout);
        tokio::pin!(deadline);
        let mut ticker = tokio::time::interval(req.bookmark_interval);
        ticker.reset();
        disconnect.mark_unchanged();
        loop {
            tokio::select! {
                ev = events.recv() => match ev {
                    Ok(ev) => {
                        last_rv = last_rv.max(ev.rv);
                        if let Some(line) = req.translate(&ev) {
                            if tx.send(line).await.is_err() {
                                return;
                            }
                        }
                    }
                    // Too slow to keep up: end the stream; the client re-watches from its RV.
                    Err(broadcast::error::RecvError::Lagged(_)) | Err(broadcast::error::RecvError::Closed) => return,
                },
                _ = ticker.tick() => {
                    if req.bookmarks && tx.send(req.bookmark(last_rv, false)).await.is_err() {
                        return;
                    }
                }
                _ = &mut deadline => {
                    if req.bookmarks {
                        let _ = tx.send(req.bookmark(last_rv, false)).await;
                    }
                    return;
                }
                _ = disconnect.changed() => return,
                _ = tx.closed() => return,
            }
        }
    });
    rx
}
