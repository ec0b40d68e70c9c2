//! The command line's shape: every command, flag and its help.

use std::net::SocketAddr;
use std::path::PathBuf;

use clap::{Args as ClapArgs, Parser, Subcommand, ValueEnum};
use pagerless_model::{IncidentId, IncidentStatus};

/// pagerless: turns alerts into diagnoses, guarded mitigations and pull requests.
#[derive(Debug, Parser)]
#[command(name = "pagerless", version, about, propagate_version = true)]
pub struct Args {
    /// Flags every command takes.
    #[command(flatten)]
    pub global: Global,
    /// The command.
    #[command(subcommand)]
    pub command: Command,
}

/// Flags every command takes.
#[derive(Debug, ClapArgs)]
pub struct Global {
    /// The configuration file (see `pagerless init` and docs/config.md).
    #[arg(long, global = true, env = "PAGERLESS_CONFIG", value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// Where the store and workspaces live [default: ~/.local/share/pagerless].
    #[arg(long, global = true, env = "PAGERLESS_DATA_DIR", value_name = "DIR")]
    pub data_dir: Option<PathBuf>,
    /// More log detail on stderr (-v debug, -vv trace). PAGERLESS_LOG overrides.
    #[arg(short, long, global = true, action = clap::ArgAction::Count)]
    pub verbose: u8,
    /// Log format on stderr.
    #[arg(long, global = true, value_enum, default_value_t = LogFormat::Text)]
    pub log_format: LogFormat,
}

/// How logs are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum LogFormat {
    /// Human-readable lines.
    Text,
    /// One JSON object per line.
    Json,
}

/// The commands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the server: alert intake webhooks, the API and health probes.
    Serve(ServeArgs),
    /// Incidents: list them.
    Incidents {
        /// What to do with incidents.
        #[command(subcommand)]
        command: IncidentsCommand,
    },
    /// One incident: show it with its alerts.
    Incident {
        /// What to do with the incident.
        #[command(subcommand)]
        command: IncidentCommand,
    },
    /// Write a commented default configuration file.
    Init(InitArgs),
    /// Investigate an incident (or an Alertmanager payload) and print the trace live.
    Investigate(InvestigateArgs),
    /// Score the embedded reasoner.
    #[command(args_conflicts_with_subcommands = true)]
    Eval {
        /// `lab`: every lab scenario.
        #[command(subcommand)]
        command: Option<EvalCommand>,
        /// Evaluation bundles (docs/bundles.md), or folders of them: each replayed and scored.
        #[arg(value_name = "BUNDLE_DIR")]
        bundles: Vec<PathBuf>,
        /// Load the metrics into the lab's metric store instead of a real Prometheus.
        #[arg(long)]
        embedded: bool,
        /// The cases and an `overall` object (`cases`, `ac1`, `ac3`, `ac5`, `avg5`, `fault_type_accuracy`) as JSON.
        #[arg(long)]
        json: bool,
        /// Write each case's investigation (its trace and outcome) to DIR/<case>.json.
        #[arg(long, value_name = "DIR")]
        traces: Option<PathBuf>,
    },
    /// Carry out an investigated incident's plan through the guard, then verify; or show what would happen.
    Act {
        /// The incident.
        #[arg(long, value_name = "ID")]
        incident: IncidentId,
        /// Show the plan and what the guard would say; change nothing.
        #[arg(long)]
        dry_run: bool,
        /// Act on the lab served from this state dir instead of `tools:` in the config.
        #[arg(long, value_name = "DIR")]
        lab: Option<PathBuf>,
    },
    /// Pending approvals: list them.
    Approvals {
        /// Every approval, not only the pending ones.
        #[arg(long)]
        all: bool,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Approve a pending write.
    Approve {
        /// The approval's id.
        id: i64,
        /// Who approves [default: $PAGERLESS_USER, else $USER].
        #[arg(long = "as", value_name = "NAME")]
        approver: Option<String>,
    },
    /// Deny a pending write.
    Deny {
        /// The approval's id.
        id: i64,
        /// Why.
        #[arg(long)]
        why: String,
        /// Who denies [default: $PAGERLESS_USER, else $USER].
        #[arg(long = "as", value_name = "NAME")]
        approver: Option<String>,
    },
    /// Pull requests with permanent fixes: list, show, approve (merge), close.
    Pr {
        /// What to do.
        #[command(subcommand)]
        command: PrCommand,
    },
    /// The audit log.
    Audit {
        /// What to do with it.
        #[command(subcommand)]
        command: AuditCommand,
    },
    /// The guard's switches and policy.
    Guard {
        /// What to do.
        #[command(subcommand)]
        command: GuardCommand,
    },
    /// The whole loop on the lab, narrated: alert, investigation, guard, mitigation, pull request, notice.
    Demo(DemoArgs),
    /// The lab: a simulated cluster to rehearse on, behind the real Kubernetes and Prometheus APIs.
    Lab {
        /// What to do with the lab.
        #[command(subcommand)]
        command: LabCommand,
    },
    /// The KPIs over a window: MTTR, autonomous resolution, toil saved, pull request correctness, ...
    Report {
        /// How far back: a number and a unit, `7d`, `24h`, `30m` or `90s`.
        #[arg(long, default_value = "7d", value_name = "WINDOW")]
        since: String,
        /// Print JSON (the keys of docs/kpis.md) instead of a table.
        #[arg(long)]
        json: bool,
    },
    /// Turn a public dataset into evaluation bundles (docs/bundles.md).
    Import {
        /// Which dataset.
        #[command(subcommand)]
        command: ImportCommand,
    },
    /// Record a stored incident as an evaluation bundle (docs/bundles.md): its alert,
    /// the window's metrics and logs, and its diagnosis as the label.
    Record(RecordArgs),
    /// Measure pagerless' speed.
    Bench {
        /// What to measure.
        #[command(subcommand)]
        command: BenchCommand,
    },
}

/// `pagerless serve`.
#[derive(Debug, ClapArgs)]
pub struct ServeArgs {
    /// Address to listen on [default: server.listen, 127.0.0.1:9797].
    #[arg(long, value_name = "ADDR")]
    pub listen: Option<SocketAddr>,
    /// Investigate with the tools of the lab served from this state dir (its endpoints.json).
    #[arg(long, value_name = "DIR")]
    pub lab: Option<PathBuf>,
}

/// Where reading commands get their data.
#[derive(Debug, ClapArgs)]
pub struct Source {
    /// Ask a running server instead of reading the store directly.
    #[arg(long, value_name = "URL")]
    pub server: Option<String>,
    /// The server's API token (with --server).
    #[arg(
        long,
        env = "PAGERLESS_API_TOKEN",
        hide_env_values = true,
        value_name = "TOKEN"
    )]
    pub token: Option<String>,
    /// Print JSON for scripts instead of a table.
    #[arg(long)]
    pub json: bool,
}

/// `pagerless incidents ...`.
#[derive(Debug, Subcommand)]
pub enum IncidentsCommand {
    /// List incidents, newest first.
    List {
        /// Only incidents with this status.
        #[arg(long, value_parser = parse_status)]
        status: Option<IncidentStatus>,
        /// Only incidents in this environment.
        #[arg(long, value_name = "ENV")]
        environment: Option<String>,
        /// Only incidents of this service.
        #[arg(long)]
        service: Option<String>,
        /// At most this many.
        #[arg(long, default_value_t = 50, value_parser = clap::value_parser!(u32).range(1..=1000))]
        limit: u32,
        /// Where the data comes from, and how it is printed.
        #[command(flatten)]
        source: Source,
    },
}

/// `pagerless incident ...`.
#[derive(Debug, Subcommand)]
pub enum IncidentCommand {
    /// Show an incident and its alerts.
    Show {
        /// The incident's id (`42` or `inc-42`).
        id: IncidentId,
        /// Where the data comes from, and how it is printed.
        #[command(flatten)]
        source: Source,
    },
}

/// `pagerless init`.
#[derive(Debug, ClapArgs)]
pub struct InitArgs {
    /// Where to write it [default: --config, else ./pagerless.yaml].
    pub path: Option<PathBuf>,
    /// Overwrite an existing file.
    #[arg(long)]
    pub force: bool,
}

/// `pagerless investigate`.
#[derive(Debug, ClapArgs)]
pub struct InvestigateArgs {
    /// The incident to investigate (from the store).
    #[arg(
        long,
        value_name = "ID",
        required_unless_present = "alert",
        conflicts_with = "alert"
    )]
    pub incident: Option<IncidentId>,
    /// An Alertmanager webhook payload (JSON file) to investigate instead.
    #[arg(long, value_name = "FILE")]
    pub alert: Option<PathBuf>,
    /// Read the lab served from this state dir (its endpoints.json) instead of `tools:` in the config.
    #[arg(long, value_name = "DIR")]
    pub lab: Option<PathBuf>,
    /// Print the investigation as JSON at the end instead of the narrative.
    #[arg(long)]
    pub json: bool,
}

/// `pagerless eval ...`.
#[derive(Debug, Subcommand)]
pub enum EvalCommand {
    /// Every lab scenario, investigated at its alert and scored against its expected answer.
    Lab {
        /// Only this scenario.
        #[arg(long)]
        scenario: Option<String>,
        /// One JSON object per scenario.
        #[arg(long)]
        json: bool,
        /// Print each investigation's trace.
        #[arg(long)]
        trace: bool,
    },
}

/// `pagerless import ...`.
#[derive(Debug, Subcommand)]
pub enum ImportCommand {
    /// One day of the Nezha dataset (`metric/`, `fault_list.json`, `log.tar.gz` or `log/`): one bundle per fault.
    Nezha {
        /// The day's folder, e.g. `nezha/ob-2022-08-22`.
        dir: PathBuf,
        /// The dataset's fault-free folder, checked against the day and reported on.
        #[arg(long, value_name = "DIR")]
        fault_free: Option<PathBuf>,
        /// Where to write the bundles, one folder per case.
        #[arg(long, value_name = "BUNDLES")]
        out: PathBuf,
        /// Replace case folders that already exist.
        #[arg(long)]
        force: bool,
    },
}

/// `pagerless record`.
#[derive(Debug, ClapArgs)]
pub struct RecordArgs {
    /// The incident to record (`42` or `inc-42`).
    #[arg(long, value_name = "ID")]
    pub incident: IncidentId,
    /// The bundle's folder [default: bundles/incident-<ID>].
    #[arg(long, value_name = "DIR")]
    pub out: Option<PathBuf>,
    /// How much before the alert's start to record: a number and a unit (`65m`, `2h`).
    #[arg(long, default_value = "65m", value_name = "DURATION", value_parser = parse_duration)]
    pub before: chrono::Duration,
    /// How much after the alert's start to record (cut at now).
    #[arg(long, default_value = "15m", value_name = "DURATION", value_parser = parse_duration)]
    pub after: chrono::Duration,
    /// Replace the bundle in a folder that is not empty.
    #[arg(long)]
    pub force: bool,
    /// The faulty service for the label, instead of the diagnosis' (a human knows better).
    #[arg(long, value_name = "S")]
    pub service: Option<String>,
    /// The fault type for the label, instead of the diagnosis': cpu, memory, network_delay or error.
    #[arg(long, value_name = "T", value_parser = parse_fault_type)]
    pub fault_type: Option<pagerless_bundle::FaultType>,
}

/// `pagerless demo`.
#[derive(Debug, ClapArgs)]
pub struct DemoArgs {
    /// The scenario [default: the seed, order-service-oom]; `pagerless lab list` shows them.
    #[arg(long, conflicts_with = "all")]
    pub scenario: Option<String>,
    /// Every built-in scenario, then a table; exits non-zero when any ends wrong.
    #[arg(long)]
    pub all: bool,
}

/// `pagerless pr ...`.
#[derive(Debug, Subcommand)]
pub enum PrCommand {
    /// Every pull request pagerless opened, newest first.
    List {
        /// Print JSON (each with its `diff` and `fate`).
        #[arg(long)]
        json: bool,
    },
    /// One pull request: its fate, diff and body.
    Show {
        /// The pull request's id (from `pr list`).
        id: i64,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Approve a local pull request: it is merged into its base with a real `git merge` and pushed.
    Approve(PrMergeArgs),
    /// Merge a local pull request (the same as approving it).
    Merge(PrMergeArgs),
    /// Close a local pull request without merging it.
    Close {
        /// The pull request's id.
        id: i64,
        /// Why.
        #[arg(long)]
        why: String,
        /// Who closes it [default: $PAGERLESS_USER, else $USER].
        #[arg(long = "as", value_name = "NAME")]
        who: Option<String>,
    },
}

/// `pagerless pr approve|merge`.
#[derive(Debug, ClapArgs)]
pub struct PrMergeArgs {
    /// The pull request's id (from `pr list`).
    pub id: i64,
    /// Who approves [default: $PAGERLESS_USER, else $USER].
    #[arg(long = "as", value_name = "NAME")]
    pub approver: Option<String>,
    /// The lab whose IaC repository it is (instead of `gitops.remote`).
    #[arg(long, value_name = "DIR")]
    pub lab: Option<PathBuf>,
}

/// `pagerless audit ...`.
#[derive(Debug, Subcommand)]
pub enum AuditCommand {
    /// Check the hash chain; names the first broken entry and exits non-zero when broken.
    Verify,
    /// Print the log, whole or for one incident.
    Show {
        /// Only this incident's entries.
        #[arg(long)]
        incident: Option<IncidentId>,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
}

/// `pagerless guard ...`.
#[derive(Debug, Subcommand)]
pub enum GuardCommand {
    /// Turn the global kill switch on (every write refused at once) or off.
    KillSwitch {
        /// `on` or `off`.
        #[arg(value_parser = ["on", "off"])]
        state: String,
    },
    /// Revoke an identity's right to act (or restore it with --restore).
    Revoke {
        /// The identity.
        identity: String,
        /// Restore instead of revoking.
        #[arg(long)]
        restore: bool,
    },
    /// Validate a policy file.
    Check {
        /// The policy file.
        policy: PathBuf,
    },
    /// Show the guard's state: mode per environment, switches, quotas used.
    Status,
}

/// `pagerless lab ...`.
#[derive(Debug, Subcommand)]
pub enum LabCommand {
    /// List the built-in scenarios.
    List,
    /// Validate a scenario file (or a built-in one); errors name the line and key.
    Check {
        /// A built-in scenario's name or a scenario file.
        scenario: String,
    },
    /// Serve a scenario's world: Kubernetes API, Prometheus API, IaC git remote, node shells, alert webhooks.
    Run(LabRunArgs),
}

/// `pagerless lab run`.
#[derive(Debug, ClapArgs)]
pub struct LabRunArgs {
    /// A built-in scenario's name or a scenario file.
    pub scenario: String,
    /// Where to write `kubeconfig`, `endpoints.json` and the IaC repository.
    #[arg(long, value_name = "DIR")]
    pub state_dir: PathBuf,
    /// Post alerts, as Alertmanager's webhook does, to this URL.
    #[arg(long, value_name = "URL")]
    pub webhook: Option<String>,
    /// Bearer token for the webhook [env: PAGERLESS_API_TOKEN].
    #[arg(long, env = "PAGERLESS_API_TOKEN", hide_env_values = true)]
    pub webhook_token: Option<String>,
    /// Simulated seconds per wall second [default: as fast as possible, then hold].
    #[arg(long, conflicts_with = "realtime")]
    pub speed: Option<f64>,
    /// Pace the clock to real time (for a real Prometheus scraping `/metrics`).
    #[arg(long)]
    pub realtime: bool,
    /// Also serve the IaC repository over `git://` with git daemon.
    #[arg(long)]
    pub git_daemon: bool,
}

/// `pagerless bench ...`.
#[derive(Debug, Subcommand)]
pub enum BenchCommand {
    /// Post Alertmanager webhooks over loopback and report durable alerts/s and ack latency.
    Intake(BenchIntakeArgs),
    /// Alert to diagnosis and plan on the seed scenario, over loopback HTTP to the lab; p50 and p99.
    Investigate {
        /// Investigations to time.
        #[arg(long, default_value_t = 200)]
        runs: u32,
    },
    /// Step the seed scenario for a simulated hour and a large synthetic fleet for ten
    /// simulated minutes; report simulated seconds per wall second and peak memory.
    Lab(BenchLabArgs),
    /// `logs.patterns` over synthetic service logs (an hour and five minutes, one
    /// service starting to throw): p50/p99 per call, lines per second, peak memory.
    Logs {
        /// Log sources (one file each).
        #[arg(long, default_value_t = 27)]
        sources: usize,
        /// Lines per source.
        #[arg(long, default_value_t = 40_000)]
        lines: usize,
        /// Calls to time.
        #[arg(long, default_value_t = 20)]
        runs: u32,
    },
}

/// `pagerless bench lab`.
#[derive(Debug, ClapArgs)]
pub struct BenchLabArgs {
    /// Nodes in the synthetic fleet.
    #[arg(long, default_value_t = 1000)]
    pub nodes: usize,
    /// Pods in the synthetic fleet (services of 20 pods each).
    #[arg(long, default_value_t = 10_000)]
    pub pods: usize,
    /// Simulated minutes of the fleet.
    #[arg(long, default_value_t = 10)]
    pub fleet_minutes: i64,
    /// Simulated minutes of the seed scenario.
    #[arg(long, default_value_t = 60)]
    pub seed_minutes: i64,
}

/// `pagerless bench intake`.
#[derive(Debug, ClapArgs)]
pub struct BenchIntakeArgs {
    /// Webhook deliveries to post.
    #[arg(long, short = 'n', default_value_t = 20_000)]
    pub requests: u32,
    /// Deliveries in flight at once.
    #[arg(long, short = 'c', default_value_t = 64)]
    pub concurrency: u32,
    /// Alerts in each delivery.
    #[arg(long, default_value_t = 1)]
    pub alerts_per_request: u32,
    /// Post to this running server instead of one started in-process on a fresh store.
    #[arg(long, value_name = "URL")]
    pub server: Option<String>,
    /// The server's API token (with --server).
    #[arg(long, env = "PAGERLESS_API_TOKEN", hide_env_values = true)]
    pub token: Option<String>,
    /// Print the result as JSON.
    #[arg(long)]
    pub json: bool,
}

fn parse_status(s: &str) -> Result<IncidentStatus, String> {
    s.parse()
}

fn parse_duration(s: &str) -> Result<chrono::Duration, String> {
    pagerless_report::parse_since(s).map_err(|e| e.to_string())
}

fn parse_fault_type(s: &str) -> Result<pagerless_bundle::FaultType, String> {
    use pagerless_bundle::FaultType;
    [
        FaultType::Cpu,
        FaultType::Memory,
        FaultType::NetworkDelay,
        FaultType::Error,
    ]
    .into_iter()
    .find(|t| t.as_str() == s.trim())
    .ok_or_else(|| {
        format!("unknown fault type `{s}`: expected cpu, memory, network_delay or error")
    })
}
