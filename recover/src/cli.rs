//! The command line. The API token is read from the environment only, and never named with
//! its value in `--help` (clap's `env` would print it).

use clap::{Args, Parser, Subcommand};
use time::{Date, OffsetDateTime};

use crate::replay::parse_time;
use crate::windows::{parse_date, MAX_WINDOW_DAYS};

#[derive(Debug, Parser)]
#[command(
    name = "recover",
    version,
    about = "Recover missed iugu notifications: resend from iugu, replay to the queue, reconcile against iugu.",
    long_about = "Recover missed iugu notifications.\n\n\
        resend records its request in the events table before asking iugu, so the functions \
        take each resent notification for what it is (stored already: not forwarded again). \
        replay sends stored notifications to the queue again: the queue drops a copy within \
        5 minutes of the first; after that the consumer receives it again, with the same \
        sequence.",
    after_help = "Environment:\n  \
        IUGU_API_TOKEN    iugu API token (resend, reconcile); sent as HTTP Basic user, never printed\n  \
        EVENTS_TABLE      the DynamoDB events table (resend, replay, reconcile)\n  \
        EVENTS_QUEUE_URL  the SQS queue the functions forward to (replay)\n  \
        IUGU_API_URL      iugu's API base (default https://api.iugu.com/v1)\n  \
        DEDUP_WINDOW, RETENTION_DAYS  as the functions' (quarantine retry; defaults 22h, 90)\n  \
        AWS_REGION, AWS credentials, AWS_ENDPOINT_URL as for any AWS tool\n\n\
        Exit codes: 0 done; 1 failed (or some items failed); 2 refused (bad arguments, nothing sent); \
        3 reconcile found gaps it did not fix."
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    Resend(ResendArgs),
    Replay(ReplayArgs),
    Reconcile(ReconcileArgs),
    Quarantine(QuarantineArgs),
    Skip(SkipArgs),
    /// List the notifications set aside (unreadable, or skipped by an operator)
    Aside,
}

/// Set one waiting notification aside: it is forwarded as a gap record, and its entity goes on.
#[derive(Debug, Args)]
#[command(
    long_about = "Set aside one stored notification that is still waiting to be forwarded \
        (one that keeps its entity blocked, say): from then on the functions and the sweeper \
        forward a gap record in its place (`gap.reason` \"skipped\", your --reason as \
        `gap.detail`), never its body, and the entity's later notifications go on. The item \
        stays in the table until its retention ends; `recover aside` lists it, and `recover \
        replay --pk` sends its body if you change your mind.",
    after_help = "Example:\n  recover skip --pk invoice#84F982E1A10F4FF1B483B829F4762C2C --sequence 7 --reason \"ticket 123\""
)]
pub struct SkipArgs {
    /// The entity key (`invoice#<id>`)
    #[arg(long)]
    pub pk: String,

    /// The notification's sequence
    #[arg(long)]
    pub sequence: u64,

    /// Why, for the consumer (the gap record's `detail`; no personal data)
    #[arg(long)]
    pub reason: String,
}

/// The requests the functions refused (400, 413, 422) and kept: list them, retry them.
#[derive(Debug, Args)]
#[command(
    long_about = "The requests the functions refused as malformed, too large or unprocessable \
        (400, 413, 422), with a valid token, and kept: raw body (up to the gateway's body \
        limit), safe headers, route, error, first and last arrival, deliveries. One item per \
        body and day, at most 1,000 new ones a day per gateway (the rest are counted).\n\n\
        retry runs each through the functions' current admission (parse, route, iPag's event \
        header against its body) and stores and forwards what now parses, as the request path \
        would; what still fails stays, with today's reason.",
    after_help = "Examples:\n  \
        recover quarantine list --from 2026-11-20 --to 2026-11-21\n  \
        recover quarantine retry --from 2026-11-20 --dry-run\n  \
        recover quarantine retry --from 2026-11-20 --sha256 3fa9c2"
)]
pub struct QuarantineArgs {
    #[command(subcommand)]
    pub command: QuarantineCommand,
}

#[derive(Debug, Subcommand)]
pub enum QuarantineCommand {
    /// Show the quarantined requests of a period
    List(QuarantinePeriod),
    /// Run them through the current parser; store and forward what now parses
    Retry(QuarantineRetryArgs),
}

#[derive(Debug, Args)]
pub struct QuarantinePeriod {
    /// First day (YYYY-MM-DD, UTC); default today
    #[arg(long, value_parser = parse_date)]
    pub from: Option<Date>,

    /// Last day, included (default: --from)
    #[arg(long, value_parser = parse_date)]
    pub to: Option<Date>,
}

#[derive(Debug, Args)]
pub struct QuarantineRetryArgs {
    #[command(flatten)]
    pub period: QuarantinePeriod,

    /// Only the request whose body's SHA-256 starts with this (as `list` shows it)
    #[arg(long)]
    pub sha256: Option<String>,

    /// Say what would be accepted; store and send nothing
    #[arg(long)]
    pub dry_run: bool,
}

/// Ask iugu to resend the notifications of a period, or of one invoice.
#[derive(Debug, Args)]
#[command(
    long_about = "Ask iugu to resend notifications.\n\n\
        With --from/--to: one call to iugu's \"resend by period\" per window of at most 3 days \
        (GET /v1/web_hooks/resend), retried with backoff on 429/5xx.\n\
        With --invoice: lists the invoice's deliveries (GET /v1/web_hook_logs/<id>) and asks \
        iugu to retry each one our URL did not answer 200 (GET /v1/web_hook_logs/<log>/retry).",
    after_help = "Examples:\n  \
        recover resend --from 2026-11-01 --to 2026-11-20 --event invoice.status_changed\n  \
        recover resend --invoice 84F982E1A10F4FF1B483B829F4762C2C"
)]
pub struct ResendArgs {
    /// First day to resend (YYYY-MM-DD, iugu's São Paulo date)
    #[arg(long, value_parser = parse_date, required_unless_present = "invoice", requires = "to")]
    pub from: Option<Date>,

    /// Last day to resend, included (YYYY-MM-DD); not after today
    #[arg(long, value_parser = parse_date, requires = "from")]
    pub to: Option<Date>,

    /// Only this event (e.g. invoice.status_changed); all events when left out
    #[arg(long, conflicts_with = "invoice")]
    pub event: Option<String>,

    /// Days per call to iugu (1 to 3)
    #[arg(long, default_value_t = MAX_WINDOW_DAYS, conflicts_with = "invoice")]
    pub window_days: u32,

    /// Retry this invoice's undelivered notifications instead of a period
    #[arg(long, conflicts_with_all = ["from", "to"])]
    pub invoice: Option<String>,
}

/// Send stored notifications that were never forwarded (with --all: every one) to the queue.
#[derive(Debug, Args)]
#[command(
    long_about = "Send stored notifications to the queue.\n\n\
        By default only those stored and never forwarded (the queue was down longer than the \
        gateway retried). With --all, also those already forwarded, for a consumer that lost \
        messages: WARNING, a consumer that did not lose them receives them twice (same \
        sequence; it should skip a sequence it has seen).\n\n\
        Each message is rebuilt from the stored raw body and is the one the first forward sent: \
        same JSON body, same attributes, FIFO group = the entity key, de-duplication id = the \
        notification's key and sequence. SQS itself drops a message whose de-duplication id it \
        saw in the last 5 minutes. An earlier notification of the entity still waiting is sent \
        first.",
    after_help = "Examples:\n  \
        recover replay --pk invoice#84F982E1A10F4FF1B483B829F4762C2C --dry-run\n  \
        recover replay --since 2026-11-20 --until 2026-11-21\n  \
        recover replay --since 2026-11-20T12:00:00-03:00"
)]
pub struct ReplayArgs {
    /// Every notification of one entity, e.g. invoice#<id>
    #[arg(long, required_unless_present = "since", conflicts_with_all = ["since", "until"])]
    pub pk: Option<String>,

    /// Every notification that arrived from this time (RFC 3339, or YYYY-MM-DD = 00:00 UTC)
    #[arg(long, value_parser = parse_time)]
    pub since: Option<OffsetDateTime>,

    /// ... until this time, excluded (default: now)
    #[arg(long, value_parser = parse_time, requires = "since")]
    pub until: Option<OffsetDateTime>,

    /// Print what would be sent; send nothing
    #[arg(long)]
    pub dry_run: bool,

    /// Also send what was forwarded before (consumers that have it receive it again)
    #[arg(long)]
    pub all: bool,
}

/// Compare iugu's invoices changed in a period with what we stored; list (and --fix) the gaps.
#[derive(Debug, Args)]
#[command(
    long_about = "Compare the invoices iugu reports as changed in a period (GET /v1/invoices?updated_since=...) \
        with the latest status stored for invoice#<id>, and print the gaps: an invoice we never \
        saw, or whose latest stored status is not iugu's (iugu says paid, we last saw pending).\n\n\
        With --fix, asks iugu to retry every logged delivery of exactly those invoices.",
    after_help = "Example:\n  recover reconcile --from 2026-11-20 --to 2026-11-20 --fix"
)]
pub struct ReconcileArgs {
    /// First day (YYYY-MM-DD, São Paulo)
    #[arg(long, value_parser = parse_date)]
    pub from: Date,

    /// Last day, included (YYYY-MM-DD); not after today
    #[arg(long, value_parser = parse_date)]
    pub to: Date,

    /// Ask iugu to resend the gaps' notifications
    #[arg(long)]
    pub fix: bool,

    /// Invoices per page of iugu's list (1 to 100)
    #[arg(long, default_value_t = 100, value_parser = clap::value_parser!(u32).range(1..=100))]
    pub page_size: u32,
}
