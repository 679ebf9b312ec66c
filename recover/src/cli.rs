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
    about = "The operator's tool: register the URLs, prove a deploy, recover missed notifications.",
    long_about = "The operator's tool.\n\n\
        After a deploy: urls prints the webhook URLs and header values; register registers them \
        at iugu and iPag (running it again changes nothing); smoke posts one test notification \
        and reads it back from the table and the queue. Once: backfill-retention gives the \
        notifications stored before sequences their expiry.\n\n\
        Recovering missed iugu notifications: \
        resend records its request in the events table before asking iugu, so the functions \
        take each resent notification for what it is (stored already: not forwarded again). \
        replay sends stored notifications to the queue again: the queue drops a copy within \
        5 minutes of the first; after that the consumer receives it again, with the same \
        sequence.",
    after_help = "Environment:\n  \
        IUGU_API_TOKEN    iugu API token (resend, reconcile, register); sent as HTTP Basic user, never printed\n  \
        IPAG_API_ID, IPAG_API_KEY  iPag API credentials (register); IPAG_API_URL (default https://api.ipag.com.br)\n  \
        STACK_NAME        the stack (urls, register, smoke; default webhooks, as samconfig.toml)\n  \
        EVENTS_TABLE      the DynamoDB events table (resend, replay, reconcile, backfill-retention)\n  \
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
    Urls(UrlsArgs),
    Register(RegisterArgs),
    Smoke(SmokeArgs),
    BackfillRetention(BackfillArgs),
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

// The deployed stack a command reads (its outputs and secrets).
#[derive(Debug, Args)]
pub struct StackArgs {
    /// The CloudFormation stack (samconfig.toml's stack_name)
    #[arg(long, env = "STACK_NAME", default_value = "webhooks")]
    pub stack: String,
}

/// Print the stack's webhook URLs, ready to register, with the header values (the tokens).
#[derive(Debug, Args)]
#[command(
    long_about = "Print the stack's webhook URLs, ready to register, and the header values: \
        iugu's URLs without the token plus the `authorization` value (what `register` sends), \
        iugu's URLs with `?token=` for the panel, iPag's URL with its token, and the command \
        that fires an alarm. Read from the stack's outputs and its two secrets.\n\n\
        The output holds the tokens: keep it out of tickets and logs.",
    after_help = "Example:\n  recover urls --stack webhooks"
)]
pub struct UrlsArgs {
    #[command(flatten)]
    pub stack: StackArgs,
}

/// Register the stack's URLs at iugu and iPag; a second run changes nothing.
#[derive(Debug, Args)]
#[command(
    long_about = "Register the stack's URLs at iugu and iPag. Lists the webhooks first: what is \
        there is kept, what is missing is created, and running it again changes nothing.\n\n\
        iugu: by default one webhook, event `all` to /iugu/events (an account holds at most \
        20 webhooks, and creating one is not idempotent). With --events (the events your \
        consumers need; names or prefix.*) and --own-route, one webhook per event: those of \
        the families named on their own routes, the others on /iugu/events. A plan that would \
        not fit in 20 (with the account's other webhooks) is refused before any call. The \
        token is the webhook's `authorization`, which iugu sends back in the Authorization \
        header: it is in no URL.\n\n\
        iPag: one webhook for its 16 events, /ipag/events?token=<iPag's token>.\n\n\
        Webhooks of this stack that are not wanted (an older layout, a URL with the token) \
        are listed and left; --prune deletes them. Webhooks of other hosts are never touched.\n\n\
        After rotating iugu's token (docs/operations.md, \"Rotating a token\"), --renew makes \
        this stack's iugu webhooks again with the new token as their `authorization` (iugu's \
        list does not show it to compare) and then deletes the previous ones.",
    after_help = "Examples:\n  \
        recover register --dry-run\n  \
        recover register\n  \
        recover register --events 'invoice.*,subscription.*' --own-route invoices --prune"
)]
pub struct RegisterArgs {
    #[command(flatten)]
    pub stack: StackArgs,

    /// Families whose events go to their own routes (invoices, subscriptions, payment-methods,
    /// transfers, deposits, advancements, payment-requests); every other event to /iugu/events
    #[arg(long, value_delimiter = ',', value_parser = parse_family)]
    pub own_route: Vec<webhook_iugu::Family>,

    /// Register only these iugu events, one webhook each (names, or `prefix.*`); default: all
    #[arg(long, value_delimiter = ',')]
    pub events: Vec<String>,

    /// Also delete this stack's webhooks that the layout does not want
    #[arg(long)]
    pub prune: bool,

    /// Make this stack's iugu webhooks again with the current token (after rotating it), then
    /// delete the previous ones
    #[arg(long)]
    pub renew: bool,

    /// Which gateway to register at
    #[arg(long, value_enum, default_value_t = Gateways::Both)]
    pub gateway: Gateways,

    /// List and print the plan; create and delete nothing
    #[arg(long)]
    pub dry_run: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Gateways {
    Both,
    Iugu,
    Ipag,
}

/// `invoices`, `payment-methods`, ...: a family with a route of its own.
pub fn parse_family(s: &str) -> Result<webhook_iugu::Family, String> {
    webhook_iugu::Family::ALL
        .into_iter()
        .filter(|f| *f != webhook_iugu::Family::Other)
        .find(|f| f.as_str() == s.trim())
        .ok_or_else(|| {
            format!(
                "`{s}` is not a family with a route of its own (invoices, subscriptions, \
                 payment-methods, transfers, deposits, advancements, payment-requests)"
            )
        })
}

/// Post one test notification to the stack and read it back from the table and the queue.
#[derive(Debug, Args)]
#[command(
    long_about = "Post one authenticated test notification (event smoke.test, an entity of its \
        own) to the stack's /iugu/events, as iugu delivers (the token in Authorization: Basic), \
        and read it back: the answer, the item in the table, the entity's head (forwarded once \
        the queue took it) and the queue. Exit 0 only if every step passed.\n\n\
        Consumers skip event smoke.test (docs/envelope.md): by default the message stays in the \
        queue for them. --receive, for a queue no consumer reads yet, receives and deletes it; \
        it refuses to run unless the queue is empty, and makes any other message it sees \
        visible again at once.",
    after_help = "Examples:\n  recover smoke\n  recover smoke --receive   (right after the first deploy)"
)]
pub struct SmokeArgs {
    #[command(flatten)]
    pub stack: StackArgs,

    /// Receive (and delete) the test message: only for a queue no consumer reads yet
    #[arg(long)]
    pub receive: bool,
}

/// Give the notifications stored before sequences their expiry (expires_at), once.
#[derive(Debug, Args)]
#[command(
    long_about = "Give every notification stored before sequences (no sequence, no expires_at) \
        expires_at = received_at + RETENTION_DAYS, as newer ones get when stored, so that \
        DynamoDB's TTL deletes them, and their copies in the old by_received_day index, like \
        every other. Scans the table once (EVENTS_TABLE); running it again changes nothing. \
        Then the old index can go: docs/deploy.md, \"Upgrading\".",
    after_help = "Example:\n  EVENTS_TABLE=<EventsTableName output> recover backfill-retention --dry-run"
)]
pub struct BackfillArgs {
    /// Days kept (the stack's RetentionDays); default RETENTION_DAYS, else 90
    #[arg(long, env = "RETENTION_DAYS", value_parser = clap::value_parser!(u32).range(1..=3650))]
    pub retention_days: Option<u32>,

    /// Count what would change; change nothing
    #[arg(long)]
    pub dry_run: bool,
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
        sequence; its ledger should book each (entity_key, sequence) once: docs/consumers.md).\n\n\
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
