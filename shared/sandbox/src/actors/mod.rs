//! In-cluster actors a real cluster and cloud would provide (scheduler, kubelet-like node
//! registration, Fargate, the disruption controller, Lambda's event wiring), each switchable
//! and each a tokio task behind an [`ActorHandle`] that stops it cleanly.
//!
//! Sibling modules append their own `pub mod` line below.
pub mod disruption;
pub mod fargate;
pub mod invoke;
pub mod node;
pub mod schedule;
pub mod scheduler;
pub mod sqs;
pub mod userdata;

use std::future::Future;
use std::time::Duration;

use tokio::sync::watch;
use tokio::task::JoinHandle;

/// Which actors to run. Each actor module owns its own config type; `None`/`false` = off.
#[derive(Clone, Debug, Default)]
pub struct ActorsConfig {
    /// The kube-scheduler stand-in ([`scheduler`]).
    pub scheduler: Option<scheduler::SchedulerConfig>,
    /// The PodDisruptionBudget status controller ([`disruption`]).
    pub disruption: Option<disruption::DisruptionConfig>,
    /// The EKS Fargate stand-in ([`fargate`]).
    pub fargate: Option<fargate::FargateConfig>,
}

/// The stop signal an actor's task watches. Cheap to clone.
#[derive(Clone, Debug)]
pub struct StopSignal(watch::Receiver<bool>);

impl StopSignal {
    /// Whether a stop was requested.
    pub fn is_stopped(&self) -> bool {
        *self.0.borrow()
    }

    /// Resolves once a stop is requested (or the handle is gone).
    pub async fn stopped(&mut self) {
        // An error means the sender (the handle) is gone: that is a stop too.
        let _ = self.0.wait_for(|stop| *stop).await;
    }

    /// Sleeps for `period`; `false` if a stop arrived first.
    pub async fn sleep(&mut self, period: Duration) -> bool {
        tokio::select! {
            () = self.stopped() => false,
            () = tokio::time::sleep(period) => true,
        }
    }
}

/// A running actor. Dropping it signals stop and aborts the task; [`Self::stop`] signals and
/// waits for the task to finish its current step.
#[derive(Debug)]
pub struct ActorHandle {
    name: &'static str,
    stop: watch::Sender<bool>,
    task: Option<JoinHandle<()>>,
}

impl ActorHandle {
    /// Spawns `run(stop_signal)` as the actor `name`.
    pub fn spawn<F, Fut>(name: &'static str, run: F) -> Self
    where
        F: FnOnce(StopSignal) -> Fut,
        Fut: Future<Output = ()> + Send + 'static,
    {
        let (stop, rx) = watch::channel(false);
        let task = tokio::spawn(run(StopSignal(rx)));
        tracing::debug!(actor = name, "actor started");
        Self {
            name,
            stop,
            task: Some(task),
        }
    }

    /// The actor's name.
    pub fn name(&self) -> &'static str {
        self.name
    }

    /// Whether the task has ended (stopped or failed).
    pub fn is_finished(&self) -> bool {
        self.task.as_ref().is_none_or(JoinHandle::is_finished)
    }

    /// Signals stop and waits for the task to end (aborting it after 5 s).
    pub async fn stop(mut self) {
        let _ = self.stop.send(true);
        if let Some(mut task) = self.task.take() {
            if tokio::time::timeout(Duration::from_secs(5), &mut task)
                .await
                .is_err()
            {
                tracing::warn!(actor = self.name, "actor did not stop in 5 s; aborting");
                task.abort();
            }
        }
        tracing::debug!(actor = self.name, "actor stopped");
    }
}

impl Drop for ActorHandle {
    fn drop(&mut self) {
        let _ = self.stop.send(true);
        if let Some(task) = self.task.take() {
            task.abort();
        }
    }
}

/// Whether a store change is of core/v1 `plural` (`pods`, `nodes`), or of `group`/`plural`.
pub(crate) fn is_kind(event: &crate::kube::StoreEvent, group: &str, plural: &str) -> bool {
    event.group == group && event.plural == plural
}

/// The reactive loop most actors share: run `pass` once, then again after every relevant
/// store change (changes arriving within `debounce` are coalesced into one pass), after a
/// lagged subscription, whenever `wake` changes, and every `resync`; until stopped.
#[allow(clippy::too_many_arguments)]
pub(crate) async fn react(
    name: &'static str,
    store: std::sync::Arc<crate::kube::Store>,
    mut stop: StopSignal,
    resync: Duration,
    debounce: Duration,
    wake: Option<watch::Receiver<u64>>,
    relevant: impl Fn(&crate::kube::StoreEvent) -> bool,
    mut pass: impl FnMut(&std::sync::Arc<crate::kube::Store>),
) {
    use tokio::sync::broadcast::error::{RecvError, TryRecvError};
    let mut events = store.subscribe();
    let (mut wake, mut wakes) = match wake {
        Some(w) => (w, true),
        None => (watch::channel(0).1, false),
    };
    wake.mark_unchanged();
    pass(&store);
    let mut ticker = tokio::time::interval(resync.max(Duration::from_millis(10)));
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    ticker.tick().await;
    loop {
        tokio::select! {
            () = stop.stopped() => break,
            _ = ticker.tick() => pass(&store),
            changed = wake.changed(), if wakes => {
                match changed {
                    Ok(()) => pass(&store),
                    Err(_) => wakes = false,
                }
            }
            event = events.recv() => match event {
                Ok(e) if !relevant(&e) => {}
                Ok(_) | Err(RecvError::Lagged(_)) => {
                    if !debounce.is_zero() && !stop.sleep(debounce).await {
                        break;
                    }
                    loop {
                        match events.try_recv() {
                            Ok(_) | Err(TryRecvError::Lagged(_)) => {}
                            Err(TryRecvError::Empty) => break,
                            Err(TryRecvError::Closed) => return,
                        }
                    }
                    pass(&store);
                }
                Err(RecvError::Closed) => {
                    tracing::debug!(actor = name, "store closed");
                    break;
                }
            },
        }
    }
}

impl ActorsConfig {
    /// Starts the in-cluster actors enabled here (scheduler, disruption controller,
    /// Fargate) on `store`. The scheduler leaves the pods of the Fargate actor's profiles
    /// to it unless its config names other profiles.
    pub fn start_in_cluster(&self, store: &std::sync::Arc<crate::kube::Store>) -> Vec<ActorHandle> {
        let mut handles = Vec::new();
        if let Some(config) = &self.scheduler {
            let mut config = config.clone();
            if config.fargate.is_none() {
                config.fargate = self.fargate.as_ref().map(|f| f.profiles.clone());
            }
            handles.push(scheduler::start(store.clone(), config));
        }
        if let Some(config) = &self.disruption {
            handles.push(disruption::start(store.clone(), config.clone()));
        }
        if let Some(config) = &self.fargate {
            handles.push(fargate::start(store.clone(), config.clone()));
        }
        handles
    }
}
