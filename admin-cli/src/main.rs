//! `pumpguard`: the admin command.
//!
//! Each subcommand is a thin adapter: it reads arguments and files, calls the
//! guard engine or an AWS client, and renders the result as text or JSON on
//! stdout. Logs and progress go to stderr.
//!
//! Exit codes: 0 success (for `check`: allow or monitor; for `plan`: no
//! changes), 1 error, 2 usage error or (`plan`) changes pending, 3 `check`
//! blocked the number.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::{SystemTime, UNIX_EPOCH};

use anyhow::Context;
use clap::{Parser, Subcommand};
use pumpguard_engine::{Policy, TriggerSource};
use pumpguard_trigger::published::DynamoPolicyStore;

use pumpguard_cli::{check, render, Output};

/// Exit code when `check` blocks the number.
pub const EXIT_BLOCKED: u8 = 3;

#[derive(Debug, Parser)]
#[command(
    name = "pumpguard",
    version = concat!(
        env!("CARGO_PKG_VERSION"),
        " (commit ",
        env!("PUMPGUARD_GIT_COMMIT"),
        ", libphonenumber metadata 9.0.42)"
    ),
    about = "Stops SMS pumping against Cognito user pools"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Judge one phone number offline with the trigger's engine, or (without
    /// PHONE) only check that a policy file is valid.
    ///
    /// Exit codes: 0 allow or monitor (or a valid policy), 3 block, 1 error.
    Check {
        /// The destination number, e.g. +14155552671 (spaces, dashes, tel: accepted).
        #[arg(value_parser = parse_phone)]
        phone: Option<String>,
        /// The policy file; default: the built-in example policy.
        #[arg(long)]
        policy: Option<PathBuf>,
        /// The CustomMessage trigger source to judge the send as.
        #[arg(long, default_value = "CustomMessage_SignUp", value_parser = parse_source)]
        source: TriggerSource,
        #[arg(long, value_enum, default_value_t = Output::Text)]
        output: Output,
    },
    /// Check a policy and publish it to the trigger's DynamoDB table; running
    /// triggers pick it up within their refresh interval (30 s by default).
    Publish {
        /// The policy file to publish.
        #[arg(long)]
        policy: PathBuf,
        /// The trigger's DynamoDB table (the stack's TableName output);
        /// default: the policy's `[user-pool] table`.
        #[arg(long, env = "PUMPGUARD_TABLE")]
        table: Option<String>,
        /// AWS region; default: the policy's `[user-pool] region`, else the
        /// SDK's usual lookup.
        #[arg(long)]
        region: Option<String>,
        /// AWS profile whose credentials to use, even when the environment
        /// has keys (as the AWS CLI does); default: the standard chain.
        #[arg(long)]
        profile: Option<String>,
        /// Endpoint override, e.g. a local DynamoDB-compatible server.
        #[arg(long, env = "PUMPGUARD_ENDPOINT_URL")]
        endpoint_url: Option<String>,
    },
    /// Read the account and show what `apply` would change (exit 0: no
    /// changes, 2: changes pending, 1: error).
    Plan {
        #[command(flatten)]
        target: Target,
        #[arg(long, value_enum, default_value_t = Output::Text)]
        output: Output,
    },
    /// Converge the account to the policy: show the plan, confirm, apply in a
    /// safe order. A second apply right after makes no write call.
    Apply {
        #[command(flatten)]
        target: Target,
        /// Apply without asking (required when not on a terminal).
        #[arg(long)]
        yes: bool,
    },
    /// What is in force now, per region, and its drift from the policy.
    Status {
        #[command(flatten)]
        target: Target,
        #[arg(long, value_enum, default_value_t = Output::Text)]
        output: Output,
    },
    /// Run the trigger offline on recorded events (JSON Lines of
    /// `{"at": RFC 3339, "event": Cognito event}`), one verdict line per event
    /// on stdout, the summary on stderr (or --summary FILE as JSON).
    Replay {
        #[arg(long)]
        policy: Option<PathBuf>,
        /// The events file (`-` for stdin).
        #[arg(long)]
        events: PathBuf,
        /// Stop at the first malformed line.
        #[arg(long)]
        strict: bool,
        /// Write the summary here as JSON.
        #[arg(long)]
        summary: Option<PathBuf>,
        /// Also write a self-contained HTML report here: SMS over time by
        /// verdict, refusals by reason and country, spend, top cohorts.
        #[arg(long)]
        report: Option<PathBuf>,
        /// Verdict lines as JSON objects, or as text for reading
        /// (`--output`, as on every other command; `--output-format` is
        /// still accepted).
        #[arg(long = "output", alias = "output-format", value_enum, default_value_t = ReplayFormat::Json)]
        output_format: ReplayFormat,
    },
    /// Turn SMS delivery records (SNS delivery status logs, End User
    /// Messaging events) into replay input, in time order. Numbers are
    /// hashed into records unless --raw is given.
    Import {
        /// `sns-delivery-logs`, `eum-events`, or `trigger-logs` (the
        /// trigger's own log lines written with `[trigger] record = true`).
        #[arg(value_enum)]
        kind: ImportKind,
        /// A CloudWatch Logs group to read (repeatable), e.g.
        /// sns/us-east-1/123456789012/DirectPublishToPhoneNumber.
        #[arg(long = "log-group")]
        log_groups: Vec<String>,
        /// An exported file to read instead (repeatable): JSON lines, or
        /// `aws logs filter-log-events` output.
        #[arg(long = "file")]
        files: Vec<PathBuf>,
        /// Start of the time range (RFC 3339); required with --log-group.
        #[arg(long)]
        start: Option<String>,
        /// End of the time range (RFC 3339; default: now).
        #[arg(long)]
        end: Option<String>,
        /// Read the pool's users (ListUsers) to approximate each code's flow
        /// and whether it was used.
        #[arg(long)]
        user_pool: Option<String>,
        /// The policy whose prefix depths the records carry (default: the
        /// built-in example).
        #[arg(long)]
        policy: Option<PathBuf>,
        /// The environment variable holding the hash key: the trigger's
        /// PUMPGUARD_PHONE_HASH_KEY, so the records join its log lines and
        /// table. Unset: a key made for this run.
        #[arg(long, default_value = "PUMPGUARD_PHONE_HASH_KEY")]
        hash_key_env: String,
        /// Write raw Cognito events with the numbers in clear instead of
        /// records (they answer every policy change; keep the file private).
        #[arg(long)]
        raw: bool,
        /// Where to write (default: standard output).
        #[arg(long)]
        out: Option<PathBuf>,
        /// AWS profile whose credentials to use, even when the environment
        /// has keys (as the AWS CLI does); default: the standard chain.
        #[arg(long)]
        profile: Option<String>,
        /// AWS region of the log groups and the pool; default: the SDK's
        /// usual lookup (for the pool, the region its id names).
        #[arg(long)]
        region: Option<String>,
        /// Endpoint override for every service, e.g. a local emulator.
        #[arg(long, env = "PUMPGUARD_ENDPOINT_URL")]
        endpoint_url: Option<String>,
    },
    /// Generate labelled traffic (a legitimate week plus one attack per
    /// scenario), replay it through the policy and through baselines that
    /// model other approaches, and print the comparison.
    Simulate {
        /// The policy under test (default: the built-in example).
        #[arg(long)]
        policy: Option<PathBuf>,
        /// A scenario name, or `all`.
        #[arg(long, default_value = "all")]
        scenario: String,
        /// The traffic's random seed: the same seed gives the same results.
        #[arg(long, default_value_t = 1)]
        seed: u64,
        /// Also write a self-contained HTML report with charts here.
        #[arg(long)]
        report: Option<PathBuf>,
        /// Write the results as JSON here; `-` for standard output (the
        /// table then goes to standard error).
        #[arg(long)]
        json: Option<PathBuf>,
    },
    /// Render generated artefacts from the policy and waf/.
    Render {
        #[command(subcommand)]
        what: RenderWhat,
    },
}

#[derive(Debug, Clone, Copy, clap::ValueEnum)]
enum ImportKind {
    SnsDeliveryLogs,
    EumEvents,
    TriggerLogs,
}

#[derive(Debug, Clone, Copy, clap::ValueEnum)]
enum ReplayFormat {
    Json,
    Text,
}

#[derive(Debug, Subcommand)]
enum RenderWhat {
    /// The generated blocks (WAF rules, protect country rules) of the
    /// CloudFormation template. Prints the template; `--write` updates it in
    /// place; `--check` exits 1 if it is out of date.
    Cloudformation {
        /// The policy whose countries and `[waf]` section to render.
        #[arg(long)]
        policy: PathBuf,
        /// The template to render into.
        #[arg(long, default_value = "cloudformation/template.yaml")]
        template: PathBuf,
        #[arg(long, conflicts_with = "check")]
        write: bool,
        #[arg(long)]
        check: bool,
    },
}

/// The policy and how to reach the account, common to plan/apply/status.
#[derive(Debug, clap::Args)]
struct Target {
    /// The policy file.
    #[arg(long)]
    policy: PathBuf,
    /// Replace a different trigger already wired into the pool.
    #[arg(long)]
    replace_triggers: bool,
    /// Add the invoke permission Cognito needs when it is missing (scoped
    /// to the pool), before the trigger is wired. Without it, apply stops
    /// before any write when the permission is missing.
    #[arg(long)]
    grant_invoke: bool,
    /// AWS profile whose credentials to use, even when the environment has
    /// keys (as the AWS CLI does). Without it, the standard chain: the
    /// environment's keys, then `AWS_PROFILE` or the default profile, …
    #[arg(long)]
    profile: Option<String>,
    /// Work on this one of the policy's regions only.
    #[arg(long)]
    region: Option<String>,
    /// Endpoint override for every service, e.g. a local emulator.
    #[arg(long, env = "PUMPGUARD_ENDPOINT_URL")]
    endpoint_url: Option<String>,
}

/// Exit code of `plan` when changes are pending.
const EXIT_CHANGES: u8 = 2;

fn account(command: Command) -> anyhow::Result<ExitCode> {
    let (target, mode) = match command {
        Command::Plan { target, output } => (target, Mode::Plan(output)),
        Command::Apply { target, yes } => (target, Mode::Apply(yes)),
        Command::Status { target, output } => (target, Mode::Status(output)),
        _ => anyhow::bail!("not an account command"),
    };
    let text = std::fs::read_to_string(&target.policy)
        .with_context(|| format!("cannot read {}", target.policy.display()))?;
    let origin = target.policy.display().to_string();
    let policy = Policy::parse(&text, &origin)?;
    let pool = pumpguard_cli::account::user_pool(&policy)?;
    let regions = pumpguard_cli::account::regions(pool, target.region.as_deref())?;
    let conn = pumpguard_cli::account::Connection {
        profile: target.profile,
        region: target.region,
        endpoint_url: target.endpoint_url,
    };
    let desired = pumpguard_cli::converge::Desired {
        policy: &policy,
        text: &text,
        origin: &origin,
        pool,
        replace_triggers: target.replace_triggers,
        grant_invoke: target.grant_invoke,
        now: unix_now(),
    };
    let rt = tokio::runtime::Runtime::new().context("cannot start the async runtime")?;
    rt.block_on(async {
        let first = regions.first().context("the policy names no region")?;
        let who = pumpguard_cli::identity::identity(&conn.config(first).await, &regions).await?;
        eprintln!("{who}");
        if matches!(mode, Mode::Apply(_)) {
            pumpguard_cli::identity::check_account(Some(pool), &who)?;
        }
        let (plan, clients) = pumpguard_cli::account::plan(&conn, &desired, &regions).await?;
        match mode {
            Mode::Plan(output) => {
                print_plan(&plan, output, &who)?;
                Ok(if plan.is_empty() {
                    ExitCode::SUCCESS
                } else {
                    ExitCode::from(EXIT_CHANGES)
                })
            }
            Mode::Status(output) => {
                let status = pumpguard_cli::status::Status::from_plan(&plan);
                match output {
                    Output::Json => println!("{}", with_identity(&status, &who)?),
                    Output::Text => print!("{status}"),
                }
                Ok(ExitCode::from(status.exit_code()))
            }
            Mode::Apply(yes) => {
                print_plan(&plan, Output::Text, &who)?;
                if plan.is_empty() {
                    return Ok(ExitCode::SUCCESS);
                }
                if !pumpguard_cli::account::confirm(plan.len(), yes)? {
                    eprintln!("nothing applied");
                    return Ok(ExitCode::FAILURE);
                }
                let report = pumpguard_cli::account::apply(&plan, &clients).await;
                for a in &report.applied {
                    eprintln!("applied: {a}");
                }
                if let Some(f) = &report.failed {
                    eprintln!("FAILED: {f}");
                    for n in &report.not_applied {
                        eprintln!("not applied: {n}");
                    }
                    anyhow::bail!(
                        "apply stopped after {} of {} changes; fix the cause and run apply again: it plans from what is there now",
                        report.applied.len(),
                        plan.len()
                    );
                }
                eprintln!("applied {} change{}", report.applied.len(), if report.applied.len() == 1 { "" } else { "s" });
                Ok(ExitCode::SUCCESS)
            }
        }
    })
}

enum Mode {
    Plan(Output),
    Apply(bool),
    Status(Output),
}

fn print_plan(
    plan: &pumpguard_cli::plan::Plan,
    output: Output,
    who: &pumpguard_cli::identity::Identity,
) -> anyhow::Result<()> {
    match output {
        Output::Json => println!("{}", with_identity(plan, who)?),
        Output::Text => println!("{plan}"),
    }
    Ok(())
}

/// `value` as pretty JSON, with the account and caller it was read as
/// under `"identity"`.
fn with_identity(
    value: &impl serde::Serialize,
    who: &pumpguard_cli::identity::Identity,
) -> anyhow::Result<String> {
    let mut v = serde_json::to_value(value)?;
    if let Some(o) = v.as_object_mut() {
        o.insert("identity".into(), serde_json::to_value(who)?);
    }
    Ok(serde_json::to_string_pretty(&v)?)
}

/// A number to judge: an empty one is a usage error, not a verdict.
fn parse_phone(s: &str) -> Result<String, String> {
    if s.trim().is_empty() {
        Err(
            "the number is empty; give the destination, e.g. +14155552671, or leave it out \
             to only check the policy"
                .into(),
        )
    } else {
        Ok(s.to_string())
    }
}

fn parse_source(s: &str) -> Result<TriggerSource, String> {
    TriggerSource::parse(s).ok_or_else(|| {
        format!(
            "not a CustomMessage trigger source; use one of: {}",
            TriggerSource::ALL.map(|s| s.as_str()).join(", ")
        )
    })
}

/// replay and simulate allocate and free small items by the million; the
/// system allocator spent about half of replay's time (BENCHMARKS.md).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> ExitCode {
    let cli = Cli::parse();
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_ansi(false)
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn")),
        )
        .init();
    match run(cli) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    match cli.command {
        Command::Render { what } => render(what),
        Command::Simulate {
            policy,
            scenario,
            seed,
            report,
            json,
        } => simulate(
            policy.as_deref(),
            &scenario,
            seed,
            report.as_deref(),
            json.as_deref(),
        ),
        Command::Replay {
            policy,
            events,
            strict,
            summary,
            report,
            output_format,
        } => replay(
            policy.as_deref(),
            &events,
            strict,
            summary.as_deref(),
            report.as_deref(),
            match output_format {
                ReplayFormat::Json => pumpguard_cli::replay::OutputFormat::Json,
                ReplayFormat::Text => pumpguard_cli::replay::OutputFormat::Text,
            },
        ),
        c @ Command::Import { .. } => import(c),
        c @ (Command::Plan { .. } | Command::Apply { .. } | Command::Status { .. }) => account(c),
        Command::Check {
            phone,
            policy,
            source,
            output,
        } => {
            let (policy, origin) = load_policy(policy.as_deref())?;
            let out = match phone {
                Some(phone) => check::judge(&policy, &origin, source, &phone, unix_now())?,
                None => check::validate(&policy, &origin),
            };
            print!("{}", out.render(output)?);
            Ok(if out.blocked() {
                ExitCode::from(EXIT_BLOCKED)
            } else {
                ExitCode::SUCCESS
            })
        }
        Command::Publish {
            policy,
            table,
            region,
            profile,
            endpoint_url,
        } => {
            let text = std::fs::read_to_string(&policy)
                .with_context(|| format!("cannot read {}", policy.display()))?;
            // Check before touching AWS, so a broken file never reaches a trigger.
            let parsed = Policy::parse(&text, &policy.display().to_string())?;
            let pool = parsed.user_pool.as_ref();
            let Some(table) = table.or_else(|| pool.map(|p| p.table.clone())) else {
                anyhow::bail!(
                    "no table to publish to: pass --table (the stack's TableName output) or set \
                     [user-pool] table in {}",
                    policy.display()
                );
            };
            let region = region.or_else(|| pool.map(|p| p.region.clone()));
            let rt = tokio::runtime::Runtime::new().context("cannot start the async runtime")?;
            let (published, written) = rt.block_on(async {
                let conn = pumpguard_cli::account::Connection {
                    profile,
                    region: None,
                    endpoint_url,
                };
                let config = conn.config_in(region.as_deref()).await;
                let regions: Vec<String> =
                    config.region().map(|r| r.to_string()).into_iter().collect();
                let who = pumpguard_cli::identity::identity(&config, &regions).await?;
                eprintln!("{who}");
                pumpguard_cli::identity::check_account(pool, &who)?;
                let store = DynamoPolicyStore::new(aws_sdk_dynamodb::Client::new(&config), &table);
                let now = unix_now();
                anyhow::Ok(
                    store
                        .publish_if_changed(&text, &policy.display().to_string(), now)
                        .await?,
                )
            })?;
            if written {
                eprintln!(
                    "published {} (sha256 {}) to table {table}; running triggers use it within \
                     their refresh interval",
                    policy.display(),
                    &published.digest[..12]
                );
            } else {
                eprintln!(
                    "{} (sha256 {}) is already the published policy in table {table}; nothing \
                     written",
                    policy.display(),
                    &published.digest[..12]
                );
            }
            Ok(ExitCode::SUCCESS)
        }
    }
}

fn render(what: RenderWhat) -> anyhow::Result<ExitCode> {
    match what {
        RenderWhat::Cloudformation {
            policy,
            template,
            write,
            check,
        } => {
            let policy = Policy::load(&policy)?;
            let mode = match (write, check) {
                (true, _) => render::Mode::Write,
                (_, true) => render::Mode::Check,
                _ => render::Mode::Print,
            };
            Ok(if render::run(&policy, &template, mode)? {
                ExitCode::SUCCESS
            } else {
                ExitCode::FAILURE
            })
        }
    }
}

fn replay(
    policy: Option<&std::path::Path>,
    events: &std::path::Path,
    strict: bool,
    summary: Option<&std::path::Path>,
    report: Option<&std::path::Path>,
    format: pumpguard_cli::replay::OutputFormat,
) -> anyhow::Result<ExitCode> {
    use std::io::IsTerminal;
    let policy_name = policy.map_or_else(
        || "(built-in example)".to_string(),
        |p| p.display().to_string(),
    );
    let (policy, _) = load_policy(policy)?;
    let input: Box<dyn std::io::BufRead + Send> = if events == std::path::Path::new("-") {
        Box::new(std::io::BufReader::new(std::io::stdin()))
    } else {
        Box::new(std::io::BufReader::new(
            std::fs::File::open(events)
                .with_context(|| format!("cannot open {}", events.display()))?,
        ))
    };
    let bar = if std::io::stderr().is_terminal() {
        let b = indicatif::ProgressBar::new_spinner();
        b.set_style(
            indicatif::ProgressStyle::with_template("{spinner} {pos} events replayed ({per_sec})")
                .unwrap_or_else(|_| indicatif::ProgressStyle::default_spinner()),
        );
        b
    } else {
        indicatif::ProgressBar::hidden()
    };
    let out = std::io::BufWriter::new(std::io::stdout().lock());
    let mut data = report.map(|_| pumpguard_cli::replay_report::ReportData::default());
    let result = pumpguard_cli::replay::replay_with(
        &policy,
        input,
        out,
        format,
        strict,
        |n| bar.set_position(n),
        data.as_mut(),
    );
    bar.finish_and_clear();
    let s = result?;
    if let (Some(path), Some(data)) = (report, &data) {
        let page = pumpguard_cli::replay_report::html(
            data,
            &s,
            &policy_name,
            &events.display().to_string(),
        );
        std::fs::write(path, page).with_context(|| format!("cannot write {}", path.display()))?;
        eprintln!("report written to {}", path.display());
    }
    match summary {
        Some(path) => std::fs::write(path, serde_json::to_string_pretty(&s)?)
            .with_context(|| format!("cannot write {}", path.display()))?,
        None => eprint!("{s}"),
    }
    Ok(ExitCode::SUCCESS)
}

fn rfc3339_ms(text: &str, flag: &str) -> anyhow::Result<i64> {
    let t = time::OffsetDateTime::parse(text, &time::format_description::well_known::Rfc3339)
        .with_context(|| format!("{flag} is not an RFC 3339 time (e.g. 2026-11-02T00:00:00Z)"))?;
    Ok(i64::try_from(t.unix_timestamp_nanos() / 1_000_000).unwrap_or(0))
}

fn import(command: Command) -> anyhow::Result<ExitCode> {
    use pumpguard_cli::import::{self, Kind, Tally, Writing};
    let Command::Import {
        kind,
        log_groups,
        files,
        start,
        end,
        user_pool,
        policy,
        hash_key_env,
        raw,
        out,
        profile,
        region,
        endpoint_url,
    } = command
    else {
        anyhow::bail!("not an import command");
    };
    let kind = match kind {
        ImportKind::SnsDeliveryLogs => Kind::SnsDeliveryLogs,
        ImportKind::EumEvents => Kind::EumEvents,
        ImportKind::TriggerLogs => Kind::TriggerLogs,
    };
    if log_groups.is_empty() && files.is_empty() {
        anyhow::bail!(
            "nothing to read: give --log-group NAME (with --start) or --file PATH; for SNS the \
             groups are sns/<region>/<account>/DirectPublishToPhoneNumber and its /Failure, for \
             trigger-logs the function's group, /aws/lambda/<function>"
        );
    }
    if kind == Kind::TriggerLogs {
        let given = [
            (user_pool.is_some(), "--user-pool"),
            (raw, "--raw"),
            (policy.is_some(), "--policy"),
        ];
        if let Some((_, flag)) = given.iter().find(|(on, _)| *on) {
            anyhow::bail!(
                "{flag} does not apply to trigger-logs: the trigger's records are hashed already, \
                 with the verification events and the prefix depths of the policy that wrote them"
            );
        }
    }
    let mut tally = Tally::default();
    let mut items = Vec::new();
    for f in &files {
        let text =
            std::fs::read_to_string(f).with_context(|| format!("cannot read {}", f.display()))?;
        items.extend(import::read_file(kind, &text, &mut tally));
    }
    let conn = pumpguard_cli::account::Connection {
        profile,
        region: region.clone(),
        endpoint_url,
    };
    let needs_aws = !log_groups.is_empty() || user_pool.is_some();
    let users = if needs_aws {
        let start_ms = match (&start, log_groups.is_empty()) {
            (Some(t), _) => Some(rfc3339_ms(t, "--start")?),
            (None, true) => None,
            (None, false) => {
                anyhow::bail!("--log-group needs --start (RFC 3339): the time range to read")
            }
        };
        let end_ms = match &end {
            Some(t) => rfc3339_ms(t, "--end")?,
            None => unix_now().saturating_mul(1000),
        };
        let rt = tokio::runtime::Runtime::new().context("cannot start the async runtime")?;
        rt.block_on(async {
            let config = conn.config_in(region.as_deref()).await;
            if let Some(start_ms) = start_ms {
                let logs = aws_sdk_cloudwatchlogs::Client::new(&config);
                for g in &log_groups {
                    items.extend(
                        import::read_log_group(&logs, kind, g, start_ms, end_ms, &mut tally)
                            .await?,
                    );
                }
            }
            match &user_pool {
                Some(pool) => {
                    let pool_region = pool.split('_').next().filter(|r| r.contains('-'));
                    let config = match (region.as_deref(), pool_region) {
                        (None, Some(r)) => conn.config(r).await,
                        _ => config,
                    };
                    let cognito = aws_sdk_cognitoidentityprovider::Client::new(&config);
                    anyhow::Ok(Some(import::read_users(&cognito, pool).await?))
                }
                None => anyhow::Ok(None),
            }
        })?
    } else {
        None
    };
    if kind == Kind::TriggerLogs {
        let lines = import::records_in_order(items, &mut tally);
        write_lines(out.as_deref(), &lines)?;
        eprintln!(
            "trigger-logs: {} records read ({} read twice and written once, {} lines without a \
             record, {} unreadable{}); {} lines written{}, in time order",
            tally.read,
            tally.duplicates,
            tally.not_sms,
            tally.malformed,
            tally
                .first_problem
                .map_or(String::new(), |p| format!(": {p}")),
            lines.len(),
            out.as_ref()
                .map_or(String::new(), |p| format!(" to {}", p.display()))
        );
        if tally.read == 0 {
            eprintln!(
                "trigger-logs: no record found: the trigger writes them with [trigger] record = \
                 true and PUMPGUARD_PHONE_HASH_KEY set"
            );
        }
        return Ok(ExitCode::SUCCESS);
    }
    let (policy, _) = load_policy(policy.as_deref())?;
    let sent = items
        .into_iter()
        .filter_map(|i| match i {
            import::Item::Sms(s) => Some(s),
            import::Item::Record { .. } => None,
        })
        .collect();
    let key = std::env::var(&hash_key_env)
        .ok()
        .and_then(|k| pumpguard_engine::hash::PhoneHasher::new(k.as_bytes()));
    let keyed = key.is_some();
    let keys = key.unwrap_or_else(pumpguard_engine::hash::PhoneHasher::ephemeral);
    let pool_id = user_pool.clone().unwrap_or_else(|| "unknown".into());
    let pool_region = region
        .clone()
        .unwrap_or_else(|| pool_id.split('_').next().unwrap_or("unknown").to_string());
    let writing = if raw {
        Writing::Raw {
            pool_id: &pool_id,
            region: &pool_region,
        }
    } else {
        Writing::Records {
            keys: &keys,
            policy: &policy,
        }
    };
    let (lines, approx) = import::build(sent, users.as_deref(), &writing, &mut tally);
    write_lines(out.as_deref(), &lines)?;
    eprintln!(
        "{}: {} SMS read ({} further events of a message dropped, {} not SMS, {} unreadable{}); {} lines written{}",
        kind.name(),
        tally.read,
        tally.duplicates,
        tally.not_sms,
        tally.malformed,
        tally.first_problem.map_or(String::new(), |p| format!(": {p}")),
        lines.len(),
        out.as_ref().map_or(String::new(), |p| format!(" to {}", p.display()))
    );
    if raw {
        eprintln!("raw events: the numbers are in clear, as asked (--raw); keep the file private");
    } else if keyed {
        eprintln!("records: numbers and users hashed with the key in ${hash_key_env}, as the trigger hashes them");
    } else {
        eprintln!(
            "records: ${hash_key_env} is unset, so numbers and users are hashed with a key made for \
             this run: the records replay, but do not join the trigger's logs or table"
        );
    }
    for note in approx.notes() {
        eprintln!("approximated: {note}");
    }
    Ok(ExitCode::SUCCESS)
}

/// Writes `lines` to `out`, or to standard output.
fn write_lines(out: Option<&std::path::Path>, lines: &[String]) -> anyhow::Result<()> {
    let mut w: Box<dyn std::io::Write> = match out {
        Some(p) => Box::new(std::io::BufWriter::new(
            std::fs::File::create(p).with_context(|| format!("cannot write {}", p.display()))?,
        )),
        None => Box::new(std::io::BufWriter::new(std::io::stdout().lock())),
    };
    for l in lines {
        writeln!(w, "{l}")?;
    }
    w.flush()?;
    Ok(())
}

fn simulate(
    policy: Option<&std::path::Path>,
    scenario: &str,
    seed: u64,
    report: Option<&std::path::Path>,
    json: Option<&std::path::Path>,
) -> anyhow::Result<ExitCode> {
    use std::io::IsTerminal;
    let label = match policy {
        Some(p) => p.display().to_string(),
        None => "pumpguard (example policy)".to_string(),
    };
    let (policy, _) = load_policy(policy)?;
    let runs = if scenario == "all" {
        pumpguard_cli::simulate::scenario_names().len()
    } else {
        1
    } * 6;
    let bar = if std::io::stderr().is_terminal() {
        let b = indicatif::ProgressBar::new(runs as u64);
        b.set_style(
            indicatif::ProgressStyle::with_template("{bar:30} {pos}/{len} runs {msg}")
                .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
        );
        b
    } else {
        indicatif::ProgressBar::hidden()
    };
    let sim = pumpguard_cli::simulate::run(&policy, &label, scenario, seed, &|sc, p| {
        bar.set_message(format!("{sc}: {p}"));
        bar.inc(1);
    });
    bar.finish_and_clear();
    let sim = sim?;
    let json_to_stdout = json.is_some_and(|p| p.as_os_str() == "-");
    if json_to_stdout {
        eprint!("{}", pumpguard_cli::simulate::table(&sim));
        println!("{}", serde_json::to_string_pretty(&sim)?);
    } else {
        print!("{}", pumpguard_cli::simulate::table(&sim));
    }
    if let Some(path) = report {
        std::fs::write(path, pumpguard_cli::simulate::report::html(&sim))
            .with_context(|| format!("cannot write {}", path.display()))?;
        eprintln!("report written to {}", path.display());
    }
    if let Some(path) = json.filter(|_| !json_to_stdout) {
        std::fs::write(path, serde_json::to_string_pretty(&sim)?)
            .with_context(|| format!("cannot write {}", path.display()))?;
    }
    Ok(ExitCode::SUCCESS)
}

fn unix_now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
}

fn load_policy(path: Option<&std::path::Path>) -> anyhow::Result<(Policy, String)> {
    match path {
        Some(p) => Ok((Policy::load(p)?, p.display().to_string())),
        None => {
            eprintln!("note: no --policy given; using the built-in example policy");
            Ok((Policy::example(), "built-in example policy".into()))
        }
    }
}
