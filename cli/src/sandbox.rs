//! `nodeless sandbox up`: a local AWS account (moto) and EKS cluster (the Kubernetes API
//! emulator) with the actors a real cluster and cloud would provide, until Ctrl-C.
//!
//! Built only with the `sandbox` feature (on by default): it pulls tokio, kube and the
//! AWS bits, which `nodeless simulate` must build without.

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context as _, Result, bail};
use sandbox::actors::invoke::{Invoke, LambdaEndpoint};
use sandbox::actors::schedule::{ScheduleConfig, schedules_from_sam_file, start_schedules};
use sandbox::actors::sqs::{SqsEventSource, SqsEventSourceConfig, sqs_from_sam_template};
use sandbox::actors::{ActorHandle, ActorsConfig};
use sandbox::aws::{
    AwsAccount, ClusterRegistration, ClusterSpec, DEFAULT_ACCOUNT_ID, DEFAULT_REGION, MotoOptions,
    MotoServer,
};
use sandbox::kube::{KubeApiServer, KubeApiServerConfig};
use serde_json::json;

#[derive(clap::Subcommand)]
pub enum Command {
    /// Start moto and the Kubernetes API emulator with a seeded EKS cluster, print the
    /// endpoints, and stay up until Ctrl-C.
    Up(UpArgs),
}

#[derive(clap::Args)]
pub struct UpArgs {
    /// The EKS cluster's name (also its `karpenter.sh/discovery` tag).
    #[arg(long, default_value = "nodeless-demo")]
    cluster_name: String,
    /// The cluster's Kubernetes version.
    #[arg(long, default_value = "1.31")]
    kubernetes_version: String,
    /// The AWS region.
    #[arg(long, default_value = DEFAULT_REGION)]
    region: String,
    /// The AWS account id (moto's default account: SDK clients need no extra header).
    #[arg(long, default_value = DEFAULT_ACCOUNT_ID)]
    account_id: String,
    /// Where to write the kubeconfig [default: <temp dir>/nodeless-sandbox/<cluster>/kubeconfig].
    #[arg(long)]
    kubeconfig: Option<PathBuf>,
    /// The Kubernetes API's port on 127.0.0.1 (0: any free port).
    #[arg(long, default_value_t = 0)]
    kube_port: u16,
    /// The Python with moto [default: $NODELESS_PYTHON, $NODELESS_VENV, the repository's .venv].
    #[arg(long)]
    python: Option<PathBuf>,
    /// Start none of the in-cluster actors (scheduler, nodes, Fargate, disruption controller).
    #[arg(long)]
    no_actors: bool,
    /// CustomResourceDefinitions to install (Karpenter's) [default: infra/crds when it
    /// exists].
    #[arg(long)]
    crds: Option<PathBuf>,
    /// Seconds a running EC2 instance takes to register as a Node.
    #[arg(long, default_value_t = 2.0)]
    node_registration_delay: f64,
    /// A Lambda runtime endpoint serving the functions, e.g. `cargo lambda watch
    /// --invoke-address 127.0.0.1 --invoke-port 9000` → http://127.0.0.1:9000. Without it
    /// no schedule or SQS event source runs.
    #[arg(long, value_name = "URL")]
    lambda_endpoint: Option<String>,
    /// The SAM template whose `Schedule` and `SQS` events are wired (its queues are
    /// created in moto either way) [default: infra/template.yaml when it exists].
    #[arg(long, value_name = "FILE")]
    template: Option<PathBuf>,
    /// Also fire every schedule once at start-up.
    #[arg(long)]
    fire_schedules_at_start: bool,
    /// An SQS event source: the queue (created if missing) feeding a function, e.g.
    /// `nodeless-interruption=interruption` (repeatable).
    #[arg(long = "sqs", value_name = "QUEUE=FUNCTION")]
    sqs: Vec<String>,
    /// Print the endpoints as one JSON line instead of text.
    #[arg(long)]
    json: bool,
}

/// Runs a `sandbox` subcommand on its own tokio runtime.
pub fn main(command: &Command) -> ExitCode {
    init_tracing();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(e) => {
            eprintln!("error: starting the async runtime: {e}");
            return ExitCode::from(1);
        }
    };
    let outcome = runtime.block_on(async {
        match command {
            Command::Up(args) => up(args).await,
        }
    });
    match outcome {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::from(1)
        }
    }
}

fn init_tracing() {
    use tracing_subscriber::EnvFilter;
    let filter = EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| EnvFilter::new("warn,sandbox=info,nodeless=info"));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .try_init();
}

/// What `up` started, stopped in reverse order on the way out.
struct Running {
    actors: Vec<ActorHandle>,
    kube: sandbox::kube::KubeApiServerHandle,
    moto: MotoServer,
}

async fn up(args: &UpArgs) -> Result<()> {
    let kubeconfig = match &args.kubeconfig {
        Some(path) => path.clone(),
        None => std::env::temp_dir()
            .join("nodeless-sandbox")
            .join(&args.cluster_name)
            .join("kubeconfig"),
    };
    if let Some(dir) = kubeconfig.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir)
            .with_context(|| format!("creating the kubeconfig's directory {}", dir.display()))?;
    }
    let account = AwsAccount::with_id(&args.account_id, &args.region);
    // Listening from the start: a Ctrl-C during start-up then stops cleanly once up.
    let signals = Signals::new()?;

    // Start-up, measured end to end: moto (process, first data load) and the emulator
    // side by side, then the seeded cluster pointing at the emulator.
    let t0 = Instant::now();
    let moto_options = MotoOptions {
        python: args.python.clone(),
        warm: false,
        ..MotoOptions::default()
    };
    let kube_config = KubeApiServerConfig {
        port: args.kube_port,
        kubeconfig_path: Some(kubeconfig.clone()),
        ..KubeApiServerConfig::default()
    };
    let (moto, kube) = tokio::join!(
        MotoServer::start(moto_options),
        KubeApiServer::start(kube_config)
    );
    let moto = moto.context("starting moto")?;
    let kube = kube.context("starting the Kubernetes API emulator")?;
    let servers_ready = t0.elapsed();
    // The cluster in moto and Karpenter's CRDs in the emulator are independent: side by side.
    let seed = async {
        let seeded = moto
            .seed_cluster(
                &account,
                &ClusterSpec::new(&args.cluster_name, &args.kubernetes_version)
                    .with_api(kube.url(), kube.ca_pem()),
            )
            .await
            .context("seeding the EKS cluster in moto")?;
        // DescribeCluster answers the emulator's URL and CA, as EKS answers its endpoint.
        let registration = ClusterRegistration {
            cluster_security_group_id: Some(seeded.security_group_id.clone()),
            ..ClusterRegistration::api(&args.cluster_name, kube.url(), kube.ca_pem())
        };
        moto.register_cluster(&account, &registration)
            .await
            .context("registering the emulator as the cluster's endpoint")?;
        anyhow::Ok(seeded)
    };
    // Karpenter's CRDs, through the API as the bootstrap function installs them.
    let crds = async {
        let dir = args
            .crds
            .clone()
            .or_else(|| Some(PathBuf::from("infra/crds")).filter(|d| d.is_dir()));
        if let Some(dir) = &dir {
            let client = kube
                .kube_client()
                .context("building a client for the emulator")?;
            sandbox::crds::install_crds(&client, dir)
                .await
                .with_context(|| format!("installing the CRDs of {}", dir.display()))?;
        }
        anyhow::Ok(())
    };
    let (seeded, crds) = tokio::join!(seed, crds);
    let seeded = seeded?;
    crds?;
    let startup = t0.elapsed();

    let mut running = Running {
        actors: Vec::new(),
        kube,
        moto,
    };
    let outcome = async {
        if !args.no_actors {
            running
                .actors
                .extend(start_cluster_actors(args, &running, &account));
        }
        let lambda = start_lambda_actors(args, &running.moto, &account).await?;
        running.actors.extend(lambda.actors);

        print_endpoints(
            args,
            &running,
            &account,
            &kubeconfig,
            &seeded,
            startup,
            servers_ready,
            &lambda.summary,
        )?;
        signals.wait().await;
        Ok(())
    }
    .await;
    eprintln!("nodeless sandbox: stopping");
    for actor in running.actors.into_iter().rev() {
        actor.stop().await;
    }
    running.kube.shutdown().await;
    drop(running.moto);
    eprintln!("nodeless sandbox: stopped");
    outcome
}

/// The in-cluster actors of `sandbox::actors` (scheduler, disruption controller, Fargate,
/// nodes for moto's instances).
fn start_cluster_actors(
    args: &UpArgs,
    running: &Running,
    account: &AwsAccount,
) -> Vec<ActorHandle> {
    use sandbox::actors::{disruption, fargate, node, scheduler};
    let client = running.moto.client().clone();
    let mut fargate = fargate::FargateConfig::from_moto(
        client.clone(),
        account.clone(),
        args.cluster_name.clone(),
    );
    fargate.kubernetes_version = args.kubernetes_version.clone();
    let config = ActorsConfig {
        scheduler: Some(scheduler::SchedulerConfig::default()),
        disruption: Some(disruption::DisruptionConfig::default()),
        fargate: Some(fargate),
    };
    let store = running.kube.store();
    let mut handles = config.start_in_cluster(store);
    let delay = Duration::from_secs_f64(args.node_registration_delay.max(0.0));
    handles.push(node::start(
        Arc::clone(store),
        node::NodeActorConfig::new(client, account.clone(), args.cluster_name.clone())
            .with_registration_delay(delay),
    ));
    handles
}

struct LambdaActors {
    actors: Vec<ActorHandle>,
    summary: Vec<String>,
}

/// The schedule actor and the SQS event sources: those the SAM template declares (its
/// queues are created in moto either way) and those of `--sqs`. They run only when a
/// Lambda runtime endpoint serves the functions.
async fn start_lambda_actors(
    args: &UpArgs,
    moto: &MotoServer,
    account: &AwsAccount,
) -> Result<LambdaActors> {
    let mut out = LambdaActors {
        actors: Vec::new(),
        summary: Vec::new(),
    };
    let template = args
        .template
        .clone()
        .or_else(|| Some(PathBuf::from("infra/template.yaml")).filter(|p| p.is_file()));
    let invoker: Option<Arc<dyn Invoke>> = match &args.lambda_endpoint {
        Some(url) => Some(Arc::new(
            LambdaEndpoint::new(url).context("--lambda-endpoint")?,
        )),
        None => None,
    };
    const NOT_WIRED: &str = "not wired: no --lambda-endpoint";

    // (function, queue URL, batch size, report batch item failures)
    let mut sources: Vec<(String, String, usize, bool)> = Vec::new();
    let mut schedules = ScheduleConfig::new(account.id(), account.region());
    schedules.fire_at_start = args.fire_schedules_at_start;
    // An explicit --template must be usable; the implicit infra/template.yaml only
    // wires what it can, so that a template the sandbox cannot read never blocks `up`.
    let parsed = template.as_ref().map(|path| {
        let shown = path.display();
        let schedules = schedules_from_sam_file(path)
            .with_context(|| format!("reading the schedules of {shown}"))?;
        let text = std::fs::read_to_string(path).with_context(|| format!("reading {shown}"))?;
        let sqs = sqs_from_sam_template(&text)
            .with_context(|| format!("reading the SQS event sources of {shown}"))?;
        anyhow::Ok((path, schedules, sqs))
    });
    let parsed = match parsed {
        Some(Err(e)) if args.template.is_none() => {
            out.summary.push(format!("not wired: {e:#}"));
            None
        }
        other => other.transpose()?,
    };
    if let Some((path, template_schedules, sqs)) = parsed {
        for schedule in template_schedules {
            let state = match (&invoker, schedule.enabled) {
                (_, false) => "disabled",
                (None, true) => NOT_WIRED,
                (Some(_), true) => "on",
            };
            out.summary.push(format!(
                "schedule {} -> {} ({}.{}; {state})",
                schedule.expression, schedule.function, schedule.logical_id, schedule.event
            ));
            if schedule.enabled {
                schedules.targets.push(schedule.target());
            }
        }
        let urls = sqs
            .create_queues(moto.client(), account)
            .await
            .with_context(|| format!("creating the SQS queues of {}", path.display()))?;
        for queue in &sqs.queues {
            if let Some(url) = urls.get(&queue.logical_id) {
                out.summary
                    .push(format!("queue {} ({url})", queue.logical_id));
            }
        }
        for source in sqs.sources.iter().filter(|s| s.enabled) {
            if let Some(url) = urls.get(&source.queue) {
                sources.push((
                    source.function.clone(),
                    url.clone(),
                    source.batch_size,
                    source.report_batch_item_failures,
                ));
            }
        }
    }
    for mapping in &args.sqs {
        let Some((queue, function)) = mapping.split_once('=') else {
            bail!("--sqs {mapping}: expected QUEUE=FUNCTION");
        };
        let created = moto
            .client()
            .sqs(account, "CreateQueue", &json!({ "QueueName": queue }))
            .await
            .with_context(|| format!("creating SQS queue {queue}"))?;
        let url = created["QueueUrl"]
            .as_str()
            .with_context(|| format!("CreateQueue {queue}: no QueueUrl in {created}"))?;
        sources.push((function.to_owned(), url.to_owned(), 10, true));
    }

    let Some(invoker) = invoker else {
        for (function, url, ..) in &sources {
            out.summary
                .push(format!("sqs {url} -> {function} ({NOT_WIRED})"));
        }
        if sources.is_empty() && schedules.targets.is_empty() {
            out.summary.push(format!(
                "{NOT_WIRED} (e.g. http://127.0.0.1:9000 from `cargo lambda watch \
                 --invoke-address 127.0.0.1`)"
            ));
        }
        return Ok(out);
    };
    if !schedules.targets.is_empty() {
        let (handle, _stats) = start_schedules(schedules, Arc::clone(&invoker));
        out.actors.push(handle);
    }
    for (function, url, batch_size, report) in sources {
        let mut config = SqsEventSourceConfig::new(&function, &url);
        config.batch_size = batch_size;
        config.report_batch_item_failures = report;
        let source = SqsEventSource::new(
            moto.client().clone(),
            account.clone(),
            config,
            Arc::clone(&invoker),
        )
        .await
        .with_context(|| format!("the SQS event source for {url}"))?;
        out.summary
            .push(format!("sqs {} -> {function} (on)", source.queue_arn()));
        out.actors.push(source.spawn());
    }
    Ok(out)
}

#[allow(clippy::too_many_arguments)]
fn print_endpoints(
    args: &UpArgs,
    running: &Running,
    account: &AwsAccount,
    kubeconfig: &Path,
    seeded: &sandbox::aws::SeededCluster,
    startup: Duration,
    servers_ready: Duration,
    lambda: &[String],
) -> Result<()> {
    let moto_url = running.moto.endpoint_url();
    let kube_url = running.kube.url();
    let actors: Vec<&str> = running.actors.iter().map(ActorHandle::name).collect();
    if args.json {
        let line = json!({
            "startupSeconds": startup.as_secs_f64(),
            "serversReadySeconds": servers_ready.as_secs_f64(),
            "motoStartSeconds": running.moto.startup_time().as_secs_f64(),
            "motoUrl": moto_url,
            "motoVersion": running.moto.moto_version(),
            "kubernetesUrl": kube_url,
            "kubeconfig": kubeconfig,
            "accountId": account.id(),
            "region": account.region(),
            "clusterName": seeded.cluster_name,
            "clusterArn": seeded.cluster_arn,
            "vpcId": seeded.vpc_id,
            "subnetIds": seeded.subnets.iter().map(|s| &s.subnet_id).collect::<Vec<_>>(),
            "securityGroupId": seeded.security_group_id,
            "actors": actors,
            "lambda": lambda,
        });
        println!("{line}");
    } else {
        let subnets: Vec<&str> = seeded
            .subnets
            .iter()
            .map(|s| s.subnet_id.as_str())
            .collect();
        println!(
            "nodeless sandbox up in {:.2} s (moto {} and the Kubernetes API emulator answering after {:.2} s)",
            startup.as_secs_f64(),
            running.moto.moto_version(),
            servers_ready.as_secs_f64(),
        );
        println!(
            "  cluster:     {} (Kubernetes {})",
            seeded.cluster_name, seeded.version
        );
        println!("  account:     {}", account.id());
        println!("  region:      {}", account.region());
        println!("  moto:        {moto_url}");
        println!("  kubernetes:  {kube_url}");
        println!("  kubeconfig:  {}", kubeconfig.display());
        println!(
            "  vpc:         {} (subnets {})",
            seeded.vpc_id,
            subnets.join(", ")
        );
        println!(
            "  actors:      {}",
            if actors.is_empty() {
                "none".to_owned()
            } else {
                actors.join(", ")
            }
        );
        for line in lambda {
            println!("  lambda:      {line}");
        }
        println!(
            "  use:         export AWS_ENDPOINT_URL={moto_url} AWS_REGION={} \
             AWS_ACCESS_KEY_ID=testing AWS_SECRET_ACCESS_KEY=testing KUBECONFIG={}",
            account.region(),
            kubeconfig.display()
        );
        println!("Press Ctrl-C to stop.");
    }
    use std::io::Write as _;
    std::io::stdout().flush().context("writing to stdout")?;
    Ok(())
}

/// Ctrl-C (SIGINT) or SIGTERM.
struct Signals {
    interrupt: tokio::signal::unix::Signal,
    terminate: tokio::signal::unix::Signal,
}

impl Signals {
    fn new() -> Result<Self> {
        use tokio::signal::unix::{SignalKind, signal};
        Ok(Self {
            interrupt: signal(SignalKind::interrupt()).context("handling SIGINT")?,
            terminate: signal(SignalKind::terminate()).context("handling SIGTERM")?,
        })
    }

    async fn wait(mut self) {
        tokio::select! {
            _ = self.interrupt.recv() => {}
            _ = self.terminate.recv() => {}
        }
    }
}
