//! The Kubernetes API emulator: HTTPS on 127.0.0.1 with its own CA, bearer-token auth,
//! a resourceVersioned object store with watches, and the semantics in
//! `../shared/notes/kube-test-apiserver.md` section 4.
//!
//! ```no_run
//! # async fn demo() -> sandbox::Result<()> {
//! use sandbox::kube::{KubeApiServer, KubeApiServerConfig};
//! let server = KubeApiServer::start(KubeApiServerConfig::default()).await?;
//! let client = server.kube_client()?; // the production path: kube::Config + CA + token
//! # drop(client); server.shutdown().await; Ok(()) }
//! ```
mod auth;
mod body;
mod discovery;
mod disruption;
mod eviction;
mod handlers;
mod kubeconfig;
mod meta;
mod objects;
mod patch;
mod resource;
mod selectors;
mod server;
mod status;
mod store;
mod subresources;
mod table;
pub(crate) mod time;
mod tls;
mod watch;

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::json;
use tokio::net::TcpListener;
use tokio::sync::watch as signal;
use tokio::task::JoinHandle;

pub use auth::{example_eks_token, is_eks_token};
pub use objects::Objects;
pub use resource::ResourceDef;
pub use status::ApiError;
pub use store::{EventType, PodDeletion, Store, StoreEvent};

use crate::{Error, Result};

/// How to run the emulator.
#[derive(Clone, Debug)]
pub struct KubeApiServerConfig {
    /// Port on 127.0.0.1; 0 picks a free one.
    pub port: u16,
    /// The static bearer token written into the kubeconfig; random when `None`.
    pub token: Option<String>,
    /// Also accept EKS tokens (`k8s-aws-v1.` + presigned STS URL), checked for shape only.
    pub accept_eks_tokens: bool,
    /// Events kept for watches from an older resourceVersion (older ones get 410 Gone).
    pub history_limit: usize,
    /// Pod deletion with a grace period: immediate (default), after the period, or manual.
    pub pod_deletion: PodDeletion,
    /// How often a watch with `allowWatchBookmarks` gets a BOOKMARK.
    pub bookmark_interval: Duration,
    /// The watch timeout when the client sends no `timeoutSeconds`.
    pub default_watch_timeout: Duration,
    /// Write a kubeconfig here at start.
    pub kubeconfig_path: Option<PathBuf>,
}

impl Default for KubeApiServerConfig {
    fn default() -> Self {
        Self {
            port: 0,
            token: None,
            accept_eks_tokens: true,
            history_limit: 10_000,
            pod_deletion: PodDeletion::Immediate,
            bookmark_interval: Duration::from_secs(60),
            default_watch_timeout: Duration::from_secs(1800),
            kubeconfig_path: None,
        }
    }
}

/// Starts the emulator.
pub struct KubeApiServer;

impl KubeApiServer {
    /// Binds, seeds the standard namespaces, and serves in the background.
    pub async fn start(config: KubeApiServerConfig) -> Result<KubeApiServerHandle> {
        let started = Instant::now();
        let pki = tls::Pki::generate()?;
        let tls_config = pki.server_config()?;
        let listener = TcpListener::bind(("127.0.0.1", config.port)).await?;
        let addr = listener.local_addr()?;
        let token = config
            .token
            .clone()
            .unwrap_or_else(|| format!("sandbox-{}{}", meta_token(), meta_token()));
        let store = Store::new(config.history_limit, config.pod_deletion);
        if let Some(ns) = store.resolve("", "v1", "namespaces") {
            for name in ["default", "kube-system", "kube-public", "kube-node-lease"] {
                store.create(&ns, None, json!({"metadata": {"name": name}}), false, false)?;
            }
        }
        let (disconnect_tx, disconnect_rx) = signal::channel(0u64);
        let (shutdown_tx, shutdown_rx) = signal::channel(false);
        let state = Arc::new(handlers::State {
            store: store.clone(),
            auth: auth::Auth {
                static_token: token.clone(),
                accept_eks_tokens: config.accept_eks_tokens,
            },
            server_address: addr.to_string(),
            disconnect: disconnect_rx,
            bookmark_interval: config.bookmark_interval,
            default_watch_timeout: config.default_watch_timeout,
        });
        let task = tokio::spawn(server::serve(listener, tls_config, state, shutdown_rx));
        let handle = KubeApiServerHandle {
            url: format!("https://{addr}"),
            addr,
            ca_pem: pki.ca_pem,
            ca_der: pki.ca_der,
            token,
            store,
            disconnect: disconnect_tx,
            shutdown: shutdown_tx,
            task: Some(task),
            kubeconfig_path: Mutex::new(None),
        };
        if let Some(path) = &config.kubeconfig_path {
            handle.write_kubeconfig(path)?;
        }
        tracing::info!(url = %handle.url, elapsed_ms = started.elapsed().as_millis() as u64, "kube API emulator started");
        Ok(handle)
    }
}

fn meta_token() -> String {
    meta::random_suffix()
}

/// A running emulator. Dropping it stops the server (use [`Self::shutdown`] to wait).
pub struct KubeApiServerHandle {
    url: String,
    addr: SocketAddr,
    ca_pem: String,
    ca_der: Vec<u8>,
    token: String,
    store: Arc<Store>,
    disconnect: signal::Sender<u64>,
    shutdown: signal::Sender<bool>,
    task: Option<JoinHandle<()>>,
    kubeconfig_path: Mutex<Option<PathBuf>>,
}

impl KubeApiServerHandle {
    /// `https://127.0.0.1:<port>`.
    pub fn url(&self) -> &str {
        &self.url
    }
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }
    /// The CA certificate (PEM) that signed the server certificate.
    pub fn ca_pem(&self) -> &str {
        &self.ca_pem
    }
    /// The static bearer token.
    pub fn token(&self) -> &str {
        &self.token
    }
    /// The store, for test actors working without HTTP.
    pub fn store(&self) -> &Arc<Store> {
        &self.store
    }
    /// Typed in-process access to objects (create/get/list/update/delete/subscribe).
    pub fn objects(&self) -> Objects<'_> {
        Objects::new(&self.store)
    }
    /// The kubeconfig YAML.
    pub fn kubeconfig(&self) -> Result<String> {
        kubeconfig::render(&self.url, &self.ca_pem, &self.token)
    }
    /// Writes the kubeconfig (for kubectl and the CLI) and remembers where.
    pub fn write_kubeconfig(&self, path: impl AsRef<Path>) -> Result<()> {
        let path = path.as_ref();
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir)?;
        }
        std::fs::write(path, self.kubeconfig()?)?;
        *self
            .kubeconfig_path
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = Some(path.to_path_buf());
        Ok(())
    }
    /// Where the kubeconfig was last written.
    pub fn kubeconfig_path(&self) -> Option<PathBuf> {
        self.kubeconfig_path
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone()
    }
    /// The `kube::Config` production builds: URL, root CA and bearer token.
    pub fn kube_config(&self) -> Result<kube::Config> {
        self.kube_config_with_token(&self.token)
    }
    /// As [`Self::kube_config`] with another token (an EKS one, say).
    pub fn kube_config_with_token(&self, token: &str) -> Result<kube::Config> {
        let uri = self
            .url
            .parse()
            .map_err(|e| Error::Url(format!("{}: {e}", self.url)))?;
        let mut config = kube::Config::new(uri);
        config.root_cert = Some(vec![self.ca_der.clone()]);
        config.auth_info.token = Some(secrecy::SecretString::from(token.to_string()));
        Ok(config)
    }
    /// A client built from [`Self::kube_config`] (`Client::try_from`, retries included).
    pub fn kube_client(&self) -> Result<kube::Client> {
        let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
        Ok(kube::Client::try_from(self.kube_config()?)?)
    }
    /// Recomputes PodDisruptionBudget status as the disruption controller would (expected
    /// pods = the pods each budget selects). Returns how many budgets were written.
    pub fn refresh_disruption_budgets(&self) -> Result<usize> {
        Ok(disruption::refresh(&self.store)?)
    }
    /// Ends every open watch stream (clients re-watch from their last resourceVersion).
    pub fn drop_watches(&self) {
        self.disconnect.send_modify(|g| *g += 1);
    }
    /// Stops accepting, ends watches, and waits for open connections (at most ~5 s).
    pub async fn shutdown(mut self) {
        self.drop_watches();
        let _ = self.shutdown.send(true);
        if let Some(task) = self.task.take() {
            let _ = task.await;
        }
    }
}

impl Drop for KubeApiServerHandle {
    fn drop(&mut self) {
        self.disconnect.send_modify(|g| *g += 1);
        let _ = self.shutdown.send(true);
    }
}
