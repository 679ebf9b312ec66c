//! `recover`: the operator's tool for notifications that went missing (an outage, a wrong URL,
//! a bad deploy).
//!
//! - [`resend`]: ask iugu to deliver a period's (or an invoice's) notifications again;
//! - [`replay`]: send stored notifications to the queue again;
//! - [`reconcile`]: compare iugu's invoices with what we stored, and resend the gaps;
//! - [`quarantine`]: list the requests the functions refused and kept, and retry them.
//!
//! Every command is harmless to repeat: the functions store each notification once and
//! forward it once. [`run`] is the whole program but for reading the environment.

pub mod cli;
pub mod error;
pub mod event_table;
pub mod iugu_api;
pub mod quarantine;
pub mod reconcile;
pub mod replay;
pub mod report;
pub mod resend;
pub mod windows;

use std::process::ExitCode;
use std::time::Duration;

use aws_config::timeout::TimeoutConfig;
use aws_config::BehaviorVersion;
use time::OffsetDateTime;
use webhook_aws::SqsForwarder;

use crate::cli::{
    Command, QuarantineArgs, QuarantineCommand, ReconcileArgs, ReplayArgs, ResendArgs, SkipArgs,
};
use crate::error::RecoverError;
use crate::event_table::EventTable;
use crate::iugu_api::{HttpIugu, RetryPolicy, DEFAULT_BASE_URL};
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
