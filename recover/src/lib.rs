//! `recover`: the operator's tool. After a deploy, and for notifications that went missing (an
//! outage, a wrong URL, a bad deploy).
//!
//! - [`urls`]: the stack's webhook URLs and header values, ready to register;
//! - [`register`]: register them at iugu and iPag, so that a second run changes nothing;
//! - [`smoke`]: post one test notification and read it back from the table and the queue;
//! - [`backfill`]: give the notifications stored before sequences their `expires_at`;
//! - [`resend`]: ask iugu to deliver a period's (or an invoice's) notifications again;
//! - [`replay`]: send stored notifications to the queue again;
//! - [`reconcile`]: compare iugu's invoices with what we stored, and resend the gaps;
//! - [`quarantine`]: list the requests the functions refused and kept, and retry them.
//!
//! Every command is harmless to repeat: the functions store each notification once and
//! forward it once. [`run`] is the whole program but for reading the environment.

pub mod backfill;
pub mod cli;
pub mod deployment;
pub mod error;
pub mod event_table;
pub mod ipag_api;
pub mod iugu_api;
pub mod quarantine;
pub mod reconcile;
pub mod register;
pub mod replay;
pub mod report;
pub mod resend;
pub mod smoke;
pub mod urls;
pub mod windows;

use std::process::ExitCode;
use std::time::Duration;

use aws_config::timeout::TimeoutConfig;
use aws_config::BehaviorVersion;
use time::OffsetDateTime;
use webhook_aws::SqsForwarder;

use crate::cli::{
    BackfillArgs, Command, Gateways, QuarantineArgs, QuarantineCommand, ReconcileArgs,
    RegisterArgs, ReplayArgs, ResendArgs, SkipArgs, SmokeArgs, StackArgs, UrlsArgs,
};
use crate::deployment::{Stack, Tokens};
use crate::error::RecoverError;
use crate::event_table::EventTable;
use crate::ipag_api::HttpIpag;
use crate::iugu_api::{HttpIugu, RetryPolicy, WebHooksApi, DEFAULT_BASE_URL, WEB_HOOK_LIMIT};
use crate::report::Progress;
use crate::resend::Which;

/// Exit codes (also in `--help`).
pub const EXIT_FAILED: u8 = 1;
pub const EXIT_REFUSED: u8 = 2;
pub const EXIT_GAPS: u8 = 3;

/// Where the configuration comes from: the process environment, or a test's map.
pub trait Env {
    fn var(&self, name: &str) -> Option<String>;
}

pub struct ProcessEnv;

impl Env for ProcessEnv {
    fn var(&self, name: &str) -> Option<String> {
        std::env::var(name).ok().filter(|v| !v.trim().is_empty())
    }
}

fn required(env: &dyn Env, name: &'static str, why: &'static str) -> Result<String, RecoverError> {
    env.var(name).ok_or(RecoverError::Config { name, why })
}

fn iugu(env: &dyn Env, retry: RetryPolicy) -> Result<HttpIugu, RecoverError> {
    let token = required(
        env,
        "IUGU_API_TOKEN",
        "the API token iugu's API is called with (iugu panel > Configurações > Integração via API)",
    )?;
    let base = env
        .var("IUGU_API_URL")
        .unwrap_or_else(|| DEFAULT_BASE_URL.to_owned());
    HttpIugu::new(&base, &token, retry)
}

fn ipag(env: &dyn Env) -> Result<HttpIpag, RecoverError> {
    let id = required(
        env,
        "IPAG_API_ID",
        "the iPag API id (user) webhooks are registered with (iPag panel; docs/ipag.md)",
    )?;
    let key = required(
        env,
        "IPAG_API_KEY",
        "the iPag API key (password) webhooks are registered with; never printed",
    )?;
    let base = env
        .var("IPAG_API_URL")
        .unwrap_or_else(|| crate::ipag_api::DEFAULT_BASE_URL.to_owned());
    HttpIpag::new(&base, &id, &key)
}

/// The stack `args` names, from CloudFormation.
async fn stack(args: &StackArgs, config: &aws_config::SdkConfig) -> Result<Stack, RecoverError> {
    Stack::describe(&aws_sdk_cloudformation::Client::new(config), &args.stack).await
}

async fn aws() -> aws_config::SdkConfig {
    let timeouts = TimeoutConfig::builder()
        .connect_timeout(Duration::from_secs(3))
        .operation_attempt_timeout(Duration::from_secs(10))
        .operation_timeout(Duration::from_secs(30))
        .build();
    aws_config::defaults(BehaviorVersion::latest())
        .timeout_config(timeouts)
        .load()
        .await
}

fn table(env: &dyn Env, config: &aws_config::SdkConfig) -> Result<EventTable, RecoverError> {
    let name = required(
        env,
        "EVENTS_TABLE",
        "the DynamoDB table the functions store into (resend records its request there, so \
         the functions know the resent notifications for what they are)",
    )?;
    let settings = webhook_core::delivery::DeliverySettings::from_values(
        env.var("DEDUP_WINDOW").as_deref(),
        env.var("RETENTION_DAYS").as_deref(),
    )
    .map_err(RecoverError::Refused)?;
    Ok(EventTable::new(aws_sdk_dynamodb::Client::new(config), name).with_window(settings.window))
}

/// The queue the functions forward to; a dry run sends nothing, so needs none.
fn queue_url(env: &dyn Env, dry_run: bool) -> Result<String, RecoverError> {
    if dry_run {
        return Ok(env.var("EVENTS_QUEUE_URL").unwrap_or_default());
    }
    required(
        env,
        "EVENTS_QUEUE_URL",
        "the SQS queue the functions forward to",
    )
}

/// Runs one command; prints progress on stderr and the summary on stdout.
pub async fn run(command: Command, env: &dyn Env, now: OffsetDateTime) -> ExitCode {
    let result = match command {
        Command::Urls(args) => urls_command(args).await,
        Command::Register(args) => register_command(args, env).await,
        Command::Smoke(args) => smoke_command(args, now).await,
        Command::BackfillRetention(args) => backfill_command(args, env, now).await,
        Command::Resend(args) => resend_command(args, env, now).await,
        Command::Replay(args) => replay_command(args, env, now).await,
        Command::Reconcile(args) => reconcile_command(args, env, now).await,
        Command::Skip(args) => skip_command(args, env, now).await,
        Command::Aside => aside_command(env, now).await,
        Command::Quarantine(args) => quarantine_command(args, env, now).await,
    };
    match result {
        Ok(code) => code,
        Err(e) => {
            eprintln!("recover: {e}");
            match e {
                RecoverError::Refused(_) | RecoverError::Config { .. } => {
                    ExitCode::from(EXIT_REFUSED)
                }
                _ => ExitCode::from(EXIT_FAILED),
            }
        }
    }
}

async fn urls_command(args: UrlsArgs) -> Result<ExitCode, RecoverError> {
    let config = aws().await;
    let stack = stack(&args.stack, &config).await?;
    let tokens = Tokens::read(&aws_sdk_secretsmanager::Client::new(&config), &stack).await?;
    eprintln!("recover urls: the output holds the webhook tokens; keep it out of tickets and logs");
    print!("{}", urls::render(&stack, &tokens));
    Ok(ExitCode::SUCCESS)
}

async fn register_command(args: RegisterArgs, env: &dyn Env) -> Result<ExitCode, RecoverError> {
    let (to_iugu, to_ipag) = match args.gateway {
        Gateways::Both => (true, true),
        Gateways::Iugu => (true, false),
        Gateways::Ipag => (false, true),
    };
    // Every credential is checked before the first call.
    let iugu_api = to_iugu
        .then(|| iugu(env, RetryPolicy::STANDARD))
        .transpose()?;
    let ipag_api = to_ipag.then(|| ipag(env)).transpose()?;
    let config = aws().await;
    let stack = stack(&args.stack, &config).await?;
    let tokens = Tokens::read(&aws_sdk_secretsmanager::Client::new(&config), &stack).await?;
    let mut done = Vec::new();
    if let Some(api) = &iugu_api {
        let host = stack.host().unwrap_or_default();
        let layout = register::Layout {
            own_routes: args.own_route.clone(),
            events: args.events.clone(),
        };
        let existing = api.list_web_hooks().await?;
        let supported = if layout.is_all_events() {
            Vec::new()
        } else {
            api.supported_events().await?
        };
        let wanted = register::wanted_iugu(&stack, &layout, &supported)?;
        let policy = register::Policy {
            prune: args.prune,
            renew: args.renew,
        };
        let plan = register::plan_iugu(&existing, &wanted, &host, policy, WEB_HOOK_LIMIT)?;
        if plan.delete_first && !args.dry_run {
            eprintln!(
                "recover register: creating first would pass iugu's limit of {WEB_HOOK_LIMIT} \
                 webhooks: deleting first, so for a moment the deleted ones' events have no URL \
                 (`recover resend` covers the gap)"
            );
        }
        done.extend(register::apply_iugu(api, &plan, tokens.iugu.expose(), args.dry_run).await);
    }
    if let Some(api) = &ipag_api {
        done.extend(register::register_ipag(api, &stack, &tokens, args.prune, args.dry_run).await?);
    }
    print!("{}", register::report(&done));
    Ok(failed_if(done.iter().any(register::Done::failed)))
}

async fn smoke_command(args: SmokeArgs, now: OffsetDateTime) -> Result<ExitCode, RecoverError> {
    let config = aws().await;
    let stack = stack(&args.stack, &config).await?;
    let token = deployment::token(
        &aws_sdk_secretsmanager::Client::new(&config),
        &stack.iugu_secret,
        webhook_iugu::NAME,
    )
    .await?;
    let table = EventTable::new(aws_sdk_dynamodb::Client::new(&config), stack.table.clone());
    let sqs = aws_sdk_sqs::Client::new(&config);
    let target = smoke::Target {
        stack: &stack,
        token: &token,
        table: &table,
        sqs: &sqs,
    };
    let seen = smoke::smoke(&target, args.receive, now).await?;
    print!("{}", seen.render());
    Ok(failed_if(!seen.passed()))
}

async fn backfill_command(
    args: BackfillArgs,
    env: &dyn Env,
    now: OffsetDateTime,
) -> Result<ExitCode, RecoverError> {
    let name = required(
        env,
        "EVENTS_TABLE",
        "the DynamoDB table the functions store into (the stack's EventsTableName output)",
    )?;
    let days = args.retention_days.unwrap_or(90);
    let config = aws().await;
    let client = aws_sdk_dynamodb::Client::new(&config);
    let mut progress = Progress::new(None);
    let done = backfill::backfill(&client, &name, days, args.dry_run, &mut progress, now).await?;
    progress.finish();
    print!("{}", backfill::report(&done, days, args.dry_run));
    Ok(ExitCode::SUCCESS)
}

fn failed_if(any_failed: bool) -> ExitCode {
    if any_failed {
        ExitCode::from(EXIT_FAILED)
    } else {
        ExitCode::SUCCESS
    }
}

async fn resend_command(
    args: ResendArgs,
    env: &dyn Env,
    now: OffsetDateTime,
) -> Result<ExitCode, RecoverError> {
    if let Some(invoice) = args.invoice {
        let invoice = invoice.trim().to_owned();
        if invoice.is_empty() {
            return Err(RecoverError::Refused("--invoice is empty".to_owned()));
        }
        let api = iugu(env, RetryPolicy::STANDARD)?;
        let config = aws().await;
        let table = table(env, &config)?;
        let mut progress = Progress::new(None);
        let outcomes = resend::resend_invoice(
            &api,
            &invoice,
            Which::Undelivered,
            Some((&table, now)),
            &mut progress,
        )
        .await?;
        progress.finish();
        print!("{}", resend::deliveries_table(&outcomes));
        return Ok(failed_if(resend::any_failed(&outcomes)));
    }
    let (Some(from), Some(to)) = (args.from, args.to) else {
        return Err(RecoverError::Refused(
            "give --from and --to, or --invoice".to_owned(),
        ));
    };
    // Everything is checked before the first call: the period, the window, the event name.
    let period = windows::check_period(from, to, windows::iugu_today(now))?;
    let windows = windows::split(period, args.window_days)?;
    if let Some(event) = &args.event {
        webhook_iugu::EventName::parse(event)
            .map_err(|e| RecoverError::Refused(format!("--event `{event}`: {e}")))?;
    }
    let api = iugu(env, RetryPolicy::STANDARD)?;
    let config = aws().await;
    let table = table(env, &config)?;
    // Recorded before iugu is asked, so that no resent delivery arrives before the functions
    // can tell it is one.
    table
        .record_resend(
            &resend::request_for_period(period, args.event.as_deref(), now),
            now,
        )
        .await?;
    let mut progress = Progress::new(Some(windows.len() as u64));
    let outcomes =
        resend::resend_windows(&api, &windows, args.event.as_deref(), &mut progress).await?;
    progress.finish();
    print!(
        "{}",
        resend::windows_table(&outcomes, args.event.as_deref())
    );
    Ok(failed_if(outcomes.iter().any(|o| o.result.is_err())))
}

async fn skip_command(
    args: SkipArgs,
    env: &dyn Env,
    now: OffsetDateTime,
) -> Result<ExitCode, RecoverError> {
    let reason = args.reason.trim();
    if reason.is_empty() {
        return Err(RecoverError::Refused("--reason is empty".to_owned()));
    }
    let config = aws().await;
    let table = table(env, &config)?;
    table.skip(&args.pk, args.sequence, reason, now).await?;
    println!(
        "{} #{}: set aside; the next forward of its entity sends a gap record in its place",
        args.pk, args.sequence
    );
    Ok(ExitCode::SUCCESS)
}

async fn aside_command(env: &dyn Env, now: OffsetDateTime) -> Result<ExitCode, RecoverError> {
    let config = aws().await;
    let table = table(env, &config)?;
    let aside = table.aside(now).await?;
    let mut out = report::Table::new(&["entity", "sequence", "reason", "set aside at", "detail"]);
    for a in &aside {
        out.row(vec![
            a.entity_key.clone(),
            a.sequence.to_string(),
            a.gap.reason.as_str().to_owned(),
            webhook_aws::table::format_time(a.at),
            a.gap.detail.clone(),
        ]);
    }
    if out.is_empty() {
        println!("no notification is set aside");
    } else {
        print!("{}", out.render());
        println!("{} set aside", aside.len());
    }
    Ok(ExitCode::SUCCESS)
}

async fn replay_command(
    args: ReplayArgs,
    env: &dyn Env,
    now: OffsetDateTime,
) -> Result<ExitCode, RecoverError> {
    let selection = match (&args.pk, args.since) {
        (Some(pk), _) => replay::Selection::entity(pk)?,
        (None, Some(since)) => replay::Selection::period(since, args.until, now)?,
        (None, None) => {
            return Err(RecoverError::Refused(
                "give --pk, or --since [--until]".to_owned(),
            ))
        }
    };
    let queue_url = queue_url(env, args.dry_run)?;
    let config = aws().await;
    let table = table(env, &config)?;
    let forwarder = SqsForwarder::new(aws_sdk_sqs::Client::new(&config), queue_url);
    let mut progress = Progress::new(None);
    let which = if args.all {
        replay::Which::All
    } else {
        replay::Which::Unforwarded
    };
    let replayed = replay::replay(
        &table,
        &forwarder,
        &selection,
        which,
        args.dry_run,
        &mut progress,
        now,
    )
    .await?;
    progress.finish();
    print!("{}", replay::replay_table(&replayed, args.dry_run));
    Ok(failed_if(replay::any_failed(&replayed)))
}

async fn reconcile_command(
    args: ReconcileArgs,
    env: &dyn Env,
    now: OffsetDateTime,
) -> Result<ExitCode, RecoverError> {
    let period = windows::check_period(args.from, args.to, windows::iugu_today(now))?;
    let api = iugu(env, RetryPolicy::STANDARD)?;
    let config = aws().await;
    let table = table(env, &config)?;
    let mut progress = Progress::new(None);
    let report = reconcile::reconcile(
        &api,
        &table,
        period,
        args.page_size,
        args.fix,
        &mut progress,
        now,
    )
    .await?;
    progress.finish();
    print!("{}", reconcile::reconcile_table(&report, args.fix));
    let left = report.anything_left();
    Ok(if !left {
        ExitCode::SUCCESS
    } else if args.fix {
        ExitCode::from(EXIT_FAILED)
    } else {
        ExitCode::from(EXIT_GAPS)
    })
}

async fn quarantine_command(
    args: QuarantineArgs,
    env: &dyn Env,
    now: OffsetDateTime,
) -> Result<ExitCode, RecoverError> {
    let today = now.to_offset(time::UtcOffset::UTC).date();
    let (from, to) = match &args.command {
        QuarantineCommand::List(p)
        | QuarantineCommand::Retry(cli::QuarantineRetryArgs { period: p, .. }) => {
            (p.from.unwrap_or(today), p.to.or(p.from).unwrap_or(today))
        }
    };
    if to < from {
        return Err(RecoverError::Refused(format!(
            "--to {} is before --from {}",
            windows::format_date(to),
            windows::format_date(from)
        )));
    }
    let config = aws().await;
    let table = table(env, &config)?;
    let mut items = quarantine::list(&table, from, to, now).await?;
    match args.command {
        QuarantineCommand::List(_) => {
            print!("{}", quarantine::list_table(&items));
            let not_kept = quarantine::not_kept(&table, from, to).await?;
            if not_kept > 0 {
                println!(
                    "{not_kept} more refused and not kept: a day's cap of {} new requests per \
                     gateway was reached; ask the gateway to resend them",
                    webhook_core::quarantine::MAX_ITEMS_PER_DAY
                );
            }
            Ok(ExitCode::SUCCESS)
        }
        QuarantineCommand::Retry(retry) => {
            if let Some(hash) = &retry.sha256 {
                items.retain(|q| q.request.body_sha256.starts_with(hash.as_str()));
            }
            let queue_url = queue_url(env, retry.dry_run)?;
            let settings = webhook_core::delivery::DeliverySettings::from_values(
                env.var("DEDUP_WINDOW").as_deref(),
                env.var("RETENTION_DAYS").as_deref(),
            )
            .map_err(RecoverError::Refused)?;
            let forwarder = SqsForwarder::new(aws_sdk_sqs::Client::new(&config), queue_url);
            let mut progress = Progress::new(Some(items.len() as u64));
            let retrier = quarantine::Retrier {
                table: &table,
                forwarder: &forwarder,
                admit: &webhook_core::admission::admit_to,
                settings: &settings,
            };
            let results =
                quarantine::retry(&retrier, &items, retry.dry_run, &mut progress, now).await?;
            progress.finish();
            print!("{}", quarantine::retry_table(&results));
            Ok(failed_if(quarantine::any_failed(&results)))
        }
    }
}
