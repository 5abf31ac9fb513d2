//! Starting and stopping the patched moto server (`python/nodeless_moto.py`).

use std::collections::VecDeque;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::sync::OnceCell;

use super::account::{AwsAccount, DEFAULT_REGION};
use super::http::MotoClient;
use crate::error::{Error, Result};

/// The Python entry point, embedded so that a binary built from this crate can start moto
/// even where the source tree is not at hand (it is then run with `python -c`).
const SCRIPT_SOURCE: &str = include_str!("../../python/nodeless_moto.py");
/// The same file in the source tree (preferred: tracebacks then show its lines).
const SCRIPT_PATH: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/python/nodeless_moto.py");
/// The repository root, where `scripts/setup-venv.sh` creates `.venv`.
const WORKSPACE_ROOT: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../..");
const READY_PREFIX: &str = "NODELESS_MOTO_READY ";
const SETUP_HINT: &str = "run scripts/setup-venv.sh (creates .venv with moto[server]), \
                          or point NODELESS_VENV / NODELESS_PYTHON at a Python that has it";
const STDERR_TAIL_LINES: usize = 40;

/// How to start moto.
#[derive(Debug, Clone)]
pub struct MotoOptions {
    /// The Python interpreter to run. Default: `$NODELESS_PYTHON`, else
    /// `$NODELESS_VENV/bin/python`, else `.venv/bin/python` at the repository root, else
    /// `.venv/bin/python` in the current directory.
    pub python: Option<PathBuf>,
    /// The entry point. Default: the crate's `python/nodeless_moto.py`, or its embedded copy.
    pub script: Option<PathBuf>,
    /// A JSON config file for the script (`{"clusters": [...], "kubernetesVersions": [...]}`).
    pub config: Option<PathBuf>,
    /// How long moto may take to answer after being spawned.
    pub startup_timeout: Duration,
    /// Load the default account's EC2 data before reporting ready.
    pub warm: bool,
    /// Have werkzeug log each request (to stderr, forwarded to tracing at debug).
    pub log_requests: bool,
}

impl Default for MotoOptions {
    fn default() -> Self {
        Self {
            python: None,
            script: None,
            config: None,
            startup_timeout: Duration::from_secs(30),
            warm: false,
            log_requests: false,
        }
    }
}

/// A running moto server, killed when dropped.
///
/// Tests share one ([`MotoServer::shared`]) and isolate themselves with a fresh
/// [`AwsAccount`] each ([`MotoServer::new_account`]); resets are for serial set-up only.
#[derive(Debug)]
pub struct MotoServer {
    child: Child,
    // Held open: the script exits when its stdin closes, so moto does not outlive a
    // parent that dies without dropping this (e.g. the shared server at process exit).
    _stdin: Option<ChildStdin>,
    endpoint: String,
    client: MotoClient,
    moto_version: String,
    startup: Duration,
}

static SHARED: OnceCell<MotoServer> = OnceCell::const_new();

impl MotoServer {
    /// One server for the whole process, started on first use with default options. It
    /// is never dropped; it exits with the process (its stdin closes).
    pub async fn shared() -> Result<&'static MotoServer> {
        SHARED
            .get_or_try_init(|| MotoServer::start(MotoOptions::default()))
            .await
    }

    /// Spawns moto on a free 127.0.0.1 port and waits until it answers.
    pub async fn start(opts: MotoOptions) -> Result<Self> {
        let started = Instant::now();
        let python = resolve_python(opts.python.as_deref())?;
        let mut command = Command::new(&python);
        let script = opts
            .script
            .clone()
            .or_else(|| Some(PathBuf::from(SCRIPT_PATH)).filter(|p| p.is_file()));
        match &script {
            Some(path) => command.arg(path),
            None => command.arg("-c").arg(SCRIPT_SOURCE),
        };
        command.args(["--host", "127.0.0.1", "--port", "0", "--exit-on-stdin-eof"]);
        if let Some(config) = &opts.config {
            command.arg("--config").arg(config);
        }
        if opts.warm {
            command.arg("--warm");
        }
        if opts.log_requests {
            command.arg("--log-requests");
        }
        command
            .env("MOTO_EC2_ENABLE_INSTANCE_TYPE_VALIDATION", "true")
            .env("MOTO_IAM_LOAD_MANAGED_POLICIES", "true")
            .env("PYTHONUNBUFFERED", "1")
            .env("PYTHONDONTWRITEBYTECODE", "1")
            .env_remove("MOTO_ACCOUNT_ID")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let shown = describe_command(&python, script.as_deref());
        tracing::debug!(command = %shown, "starting moto");
        let mut child = command.spawn().map_err(|e| Error::MotoStart {
            command: shown.clone(),
            message: format!("spawn failed: {e}; {SETUP_HINT}"),
        })?;

        let stdin = child.stdin.take();
        let tail = Arc::new(Mutex::new(VecDeque::with_capacity(STDERR_TAIL_LINES)));
        let (ready_tx, ready_rx) = mpsc::channel::<String>();
        if let Some(stdout) = child.stdout.take() {
            std::thread::Builder::new()
                .name("moto-stdout".into())
                .spawn(move || forward_stdout(stdout, ready_tx))?;
        }
        if let Some(stderr) = child.stderr.take() {
            let tail = Arc::clone(&tail);
            std::thread::Builder::new()
                .name("moto-stderr".into())
                .spawn(move || forward_stderr(stderr, &tail))?;
        }

        let mut server = Self {
            child,
            _stdin: stdin,
            endpoint: String::new(),
            client: MotoClient::new("http://127.0.0.1:1")?,
            moto_version: String::new(),
            startup: Duration::ZERO,
        };
        let failure = |server: &mut Self, message: String| {
            let stderr: Vec<String> = tail
                .lock()
                .map(|t| t.iter().cloned().collect())
                .unwrap_or_default();
            let mut message = message;
            if !stderr.is_empty() {
                message.push_str("\nstderr:\n");
                message.push_str(&stderr.join("\n"));
            }
            if stderr.iter().any(|l| l.contains("No module named")) {
                message.push_str(&format!("\n{SETUP_HINT}"));
            }
            let _ = server.child.kill();
            Error::MotoStart {
                command: shown.clone(),
                message,
            }
        };

        // 1. The ready line gives the port moto bound (port 0: no race for a free port).
        let deadline = started + opts.startup_timeout;
        let mut backoff = Duration::from_millis(5);
        let ready_line = loop {
            match ready_rx.try_recv() {
                Ok(line) => break line,
                Err(mpsc::TryRecvError::Disconnected) => {
                    // stdout closed: the process is exiting; give stderr a moment to drain.
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    let status = server.child.try_wait().ok().flatten();
                    return Err(failure(
                        &mut server,
                        format!("moto exited before it was ready (status {status:?})"),
                    ));
                }
                Err(mpsc::TryRecvError::Empty) => {}
            }
            if let Ok(Some(status)) = server.child.try_wait() {
                tokio::time::sleep(Duration::from_millis(100)).await;
                return Err(failure(
                    &mut server,
                    format!("moto exited before it was ready ({status})"),
                ));
            }
            if Instant::now() > deadline {
                return Err(failure(
                    &mut server,
                    format!(
                        "moto printed no ready line within {:?}",
                        opts.startup_timeout
                    ),
                ));
            }
            tokio::time::sleep(backoff).await;
            backoff = (backoff * 2).min(Duration::from_millis(50));
        };
        let mut words = ready_line.split_whitespace();
        let endpoint = words.next().unwrap_or_default().to_owned();
        let version = words
            .find_map(|w| w.strip_prefix("moto="))
            .unwrap_or_default()
            .to_owned();
        server.client = MotoClient::new(&endpoint)?;
        server.endpoint = endpoint;
        server.moto_version = version;

        // 2. Poll until it answers HTTP.
        let mut backoff = Duration::from_millis(5);
        loop {
            match server
                .client
                .send("GET", "/nodeless-api/health", &[], b"")
                .await
            {
                Ok(r) if r.is_success() => break,
                Ok(r) => tracing::debug!(status = r.status, "moto not ready yet"),
                Err(e) => tracing::debug!(error = %e, "moto not answering yet"),
            }
            if Instant::now() > deadline {
                let message = format!(
                    "moto at {} did not answer within {:?}",
                    server.endpoint, opts.startup_timeout
                );
                return Err(failure(&mut server, message));
            }
            tokio::time::sleep(backoff).await;
            backoff = (backoff * 2).min(Duration::from_millis(100));
        }
        server.startup = started.elapsed();
        tracing::info!(
            endpoint = %server.endpoint,
            moto = %server.moto_version,
            startup_ms = server.startup.as_millis() as u64,
            "moto ready"
        );
        Ok(server)
    }

    /// The server's URL (`http://127.0.0.1:<port>`), the `endpoint_url` of every client.
    pub fn endpoint_url(&self) -> &str {
        &self.endpoint
    }

    /// A raw HTTP client for this server.
    pub fn client(&self) -> &MotoClient {
        &self.client
    }

    /// The moto version running.
    pub fn moto_version(&self) -> &str {
        &self.moto_version
    }

    /// Time from spawning the process to its first HTTP answer.
    pub fn startup_time(&self) -> Duration {
        self.startup
    }

    /// A fresh, empty account in the default region (us-east-1).
    pub fn new_account(&self) -> AwsAccount {
        AwsAccount::fresh(DEFAULT_REGION)
    }

    /// Resets every backend of every account (`POST /moto-api/reset`). For serial set-up
    /// only: tests running in parallel isolate themselves with fresh accounts instead.
    /// Registered cluster endpoints and the EKS AMI parameters survive it.
    pub async fn reset(&self) -> Result<()> {
        let r = self
            .client
            .send("POST", "/moto-api/reset", &[], b"")
            .await?;
        if !r.is_success() {
            return Err(Error::MotoRequest {
                request: format!("POST {}/moto-api/reset", self.endpoint),
                status: Some(r.status),
                message: r.body,
            });
        }
        Ok(())
    }

    /// The OS process id of the server.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }
}

impl Drop for MotoServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn resolve_python(explicit: Option<&Path>) -> Result<PathBuf> {
    let mut tried = Vec::new();
    let mut candidates: Vec<PathBuf> = Vec::new();
    if let Some(p) = explicit {
        candidates.push(p.to_path_buf());
    } else {
        if let Some(p) = std::env::var_os("NODELESS_PYTHON") {
            candidates.push(PathBuf::from(p));
        }
        if let Some(v) = std::env::var_os("NODELESS_VENV") {
            candidates.push(PathBuf::from(v).join("bin/python"));
        }
        candidates.push(Path::new(WORKSPACE_ROOT).join(".venv/bin/python"));
        candidates.push(PathBuf::from(".venv/bin/python"));
    }
    for candidate in candidates {
        if candidate.is_file() {
            return Ok(candidate);
        }
        tried.push(candidate.display().to_string());
    }
    Err(Error::MotoNotInstalled {
        tried: tried.join(", "),
        hint: SETUP_HINT.to_owned(),
    })
}

fn describe_command(python: &Path, script: Option<&Path>) -> String {
    let script = script.map_or_else(
        || "-c <embedded nodeless_moto.py>".to_owned(),
        |p| p.display().to_string(),
    );
    format!(
        "{} {script} --host 127.0.0.1 --port 0 --exit-on-stdin-eof",
        python.display()
    )
}

fn forward_stdout(stdout: std::process::ChildStdout, ready: mpsc::Sender<String>) {
    for line in BufReader::new(stdout).lines() {
        let Ok(line) = line else { break };
        if let Some(rest) = line.strip_prefix(READY_PREFIX) {
            tracing::debug!(target: "moto", "{line}");
            let _ = ready.send(rest.to_owned());
        } else {
            tracing::debug!(target: "moto", "{line}");
        }
    }
}

fn forward_stderr(stderr: std::process::ChildStderr, tail: &Mutex<VecDeque<String>>) {
    for line in BufReader::new(stderr).lines() {
        let Ok(line) = line else { break };
        tracing::debug!(target: "moto", "{line}");
        if let Ok(mut tail) = tail.lock() {
            if tail.len() == STDERR_TAIL_LINES {
                tail.pop_front();
            }
            tail.push_back(line);
        }
    }
}
