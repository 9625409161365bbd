//! The command line: every command, its options and its `--help` text.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

/// The operator's tool for an auditkit audit trail: verify it, prove and bundle evidence,
/// read, export and prune it.
///
/// STORE is a SQLite file path or a postgres:// URL. Commands that only read open the store
/// read-only and never migrate or write it.
#[derive(Debug, Parser)]
#[command(name = "auditkit", version, propagate_version = true)]
#[command(
    after_help = "Exit codes: 0 ok, 1 verify found a fault, 2 usage error, \
                        3 the store could not be opened or read.\n\n\
                        Examples:\n  \
                        auditkit verify audit.db\n  \
                        auditkit query audit.db --tenant salon-42 --action 'booking.*' --limit 20\n  \
                        auditkit export postgres://audit@db/app --format csv --out audit.csv"
)]
pub(crate) struct Cli {
    #[command(subcommand)]
    pub(crate) command: Command,
}

#[derive(Debug, Subcommand)]
pub(crate) enum Command {
    /// Recompute every hash and report the first damaged event, in words.
    #[command(after_help = "Examples:\n  \
                            auditkit verify audit.db\n  \
                            auditkit verify audit.db --against checkpoints/2026-01-31.txt\n\n\
                            Exit 0 when intact, 1 when a fault was found, 3 when the store \
                            cannot be read.")]
    Verify {
        #[command(flatten)]
        store: StoreArg,
        /// Also check that the log still holds everything this checkpoint (kept outside
        /// the database) states: catches the newest events cut off.
        #[arg(long, value_name = "CHECKPOINT_FILE")]
        against: Option<PathBuf>,
    },
    /// Check an evidence bundle file on its own, with no database.
    #[command(name = "verify-bundle")]
    #[command(after_help = "Examples:\n  \
                            auditkit verify-bundle booking-b-1.evidence.json\n  \
                            auditkit verify-bundle booking-b-1.evidence.json --key \"$(cat salon.pub)\"")]
    VerifyBundle {
        /// The bundle (JSON, as `auditkit bundle` writes it).
        file: PathBuf,
        /// Also check the checkpoint's signature with this public key
        /// (`name+keyid+base64`, as Go's sumdb/note writes it).
        #[arg(long, value_name = "PUBLIC_KEY")]
        key: Option<String>,
    },
    /// Print the log's current checkpoint (size, Merkle root, chain head) to keep outside
    /// the database.
    #[command(after_help = "Examples:\n  \
                            auditkit checkpoint audit.db > checkpoint.txt\n  \
                            auditkit checkpoint audit.db --key salon.key --out signed.txt\n\n\
                            The key file holds a private key in Go's sumdb/note text form, \
                            PRIVATE+KEY+name+keyid+base64.")]
    Checkpoint {
        #[command(flatten)]
        store: StoreArg,
        /// Sign it with the private key in this file (feature `sign`'s NoteSigner text).
        #[arg(long, value_name = "KEYFILE")]
        key: Option<PathBuf>,
        #[command(flatten)]
        out: OutArg,
    },
    /// Print an inclusion proof of event SEQ in a checkpoint.
    #[command(after_help = "Example:\n  \
                            auditkit prove audit.db 42 --checkpoint checkpoint.txt")]
    Prove {
        #[command(flatten)]
        store: StoreArg,
        /// The event's seq.
        seq: u64,
        /// The checkpoint to prove it in (one of this log, at least SEQ events long).
        #[arg(long, value_name = "FILE")]
        checkpoint: PathBuf,
    },
    /// Write an evidence bundle of one target's events, each with its inclusion proof.
    #[command(after_help = "Examples:\n  \
                            auditkit bundle audit.db --target booking:b-1 --tenant salon-7 --out b-1.json\n  \
                            auditkit bundle audit.db --target booking:b-1 --checkpoint signed.txt\n\n\
                            Without --checkpoint the log's current checkpoint is used; --key \
                            signs it.")]
    Bundle {
        #[command(flatten)]
        store: StoreArg,
        /// The target, KIND:ID (`booking:b-1`).
        #[arg(long, value_name = "KIND:ID", value_parser = parse_target)]
        target: (String, String),
        /// The target's tenant (events without a tenant when left out).
        #[arg(long)]
        tenant: Option<String>,
        /// Prove the events in this checkpoint (signed ones are passed on as they are).
        #[arg(long, value_name = "FILE", conflicts_with = "key")]
        checkpoint: Option<PathBuf>,
        /// Sign the current checkpoint with the private key in this file.
        #[arg(long, value_name = "KEYFILE")]
        key: Option<PathBuf>,
        /// Leave every personal value out (names, emails, labels, personal keys).
        #[arg(long)]
        without_personal_values: bool,
        #[command(flatten)]
        out: OutArg,
    },
    /// List the events that match filters, newest first.
    #[command(after_help = "Examples:\n  \
                            auditkit query audit.db --tenant salon-42 --action 'booking.*'\n  \
                            auditkit query audit.db --from-day 2026-01-05 --to-day 2026-01-11 --zone Europe/Berlin --json\n  \
                            auditkit query audit.db --search 'refund card' --outcome failure")]
    Query {
        #[command(flatten)]
        store: StoreArg,
        #[command(flatten)]
        filters: Filters,
        #[command(flatten)]
        list: ListArgs,
    },
    /// A target's history: every event whose target or related target it is, newest first.
    #[command(after_help = "Examples:\n  \
                            auditkit history audit.db booking:b-123\n  \
                            auditkit history audit.db order:o-77 --tenant salon-42 --json")]
    History {
        #[command(flatten)]
        store: StoreArg,
        /// The target, KIND:ID (`booking:b-123`).
        #[arg(value_name = "KIND:ID", value_parser = parse_target)]
        of: (String, String),
        #[command(flatten)]
        filters: Filters,
        #[command(flatten)]
        list: ListArgs,
    },
    /// A customer's history across bookings: `history customer:ID`.
    #[command(after_help = "Example:\n  \
                            auditkit customer audit.db c-9 --tenant salon-42")]
    Customer {
        #[command(flatten)]
        store: StoreArg,
        /// The customer's id.
        id: String,
        #[command(flatten)]
        filters: Filters,
        #[command(flatten)]
        list: ListArgs,
    },
    /// The newest events, oldest of them first; `--follow` keeps printing new ones.
    #[command(after_help = "Examples:\n  \
                            auditkit tail audit.db -n 20\n  \
                            auditkit tail audit.db --follow --tenant salon-42 --json\n\n\
                            --follow polls the store; Ctrl-C ends it.")]
    Tail {
        #[command(flatten)]
        store: StoreArg,
        /// How many of the newest events to show first.
        #[arg(short = 'n', long = "lines", default_value_t = 10)]
        lines: usize,
        /// Keep polling for new events and print them as they come.
        #[arg(short, long)]
        follow: bool,
        /// How often --follow polls, in milliseconds.
        #[arg(long, default_value_t = 1000, value_name = "MS")]
        interval: u64,
        #[command(flatten)]
        filters: Filters,
        /// Print JSON Lines (one event per line) instead of a table.
        #[arg(long)]
        json: bool,
    },
    /// Stream the matching events as CSV or JSON Lines, oldest first.
    #[command(after_help = "Examples:\n  \
                            auditkit export audit.db --format csv --zone Europe/Berlin --out january.csv \
                            --from-day 2026-01-01 --to-day 2026-01-31\n  \
                            auditkit export audit.db --format jsonl --tenant salon-42 | gzip > salon-42.jsonl.gz\n\n\
                            With --zone, CSV gets local-time columns in that zone.")]
    Export {
        #[command(flatten)]
        store: StoreArg,
        /// The output format.
        #[arg(long, value_enum)]
        format: Format,
        #[command(flatten)]
        filters: Filters,
        #[command(flatten)]
        out: OutArg,
    },
    /// Counts: events, file size, events per action and per day.
    #[command(after_help = "Examples:\n  \
                            auditkit stats audit.db\n  \
                            auditkit stats audit.db --tenant salon-42 --zone Europe/Berlin")]
    Stats {
        #[command(flatten)]
        store: StoreArg,
        #[command(flatten)]
        filters: Filters,
    },
    /// Migrate a store of an older schema to this version's (asks first).
    #[command(after_help = "Examples:\n  \
                            auditkit migrate audit.db\n  \
                            auditkit migrate audit.db --yes\n\n\
                            Take a backup first: a migrated file cannot be opened by older \
                            versions of auditkit.")]
    Migrate {
        #[command(flatten)]
        store: StoreArg,
        #[command(flatten)]
        yes: YesArg,
    },
    /// Remove the events recorded before a date, keeping a purge anchor so the rest
    /// verifies (asks first).
    #[command(after_help = "Examples:\n  \
                            auditkit purge audit.db --before 2025-01-01\n  \
                            auditkit purge audit.db --before 2025-01-01T00:00:00Z --archive 2024.jsonl --yes\n\n\
                            The cutoff is on recorded_at (when auditkit recorded each event), \
                            not on occurred_at.")]
    Purge {
        #[command(flatten)]
        store: StoreArg,
        /// Purge events recorded before this instant (RFC 3339) or day (YYYY-MM-DD, UTC).
        #[arg(long, value_name = "DATE", value_parser = parse_instant)]
        before: time::OffsetDateTime,
        /// Write the purged events here first, as JSON Lines that verify on their own.
        #[arg(long, value_name = "FILE")]
        archive: Option<PathBuf>,
        #[command(flatten)]
        yes: YesArg,
    },
    /// Erase one person's personal values everywhere (GDPR), in every tenant, without
    /// breaking the chain (asks first).
    #[command(after_help = "Examples:\n  \
                            auditkit erase audit.db --subject customer:c-9\n  \
                            auditkit erase audit.db --subject user:u-17 --yes\n\n\
                            customer:ID is the customer as actor and as target; user:, service: \
                            and other actor kinds are that actor and the target of the same \
                            KIND:ID; any other KIND:ID is a target.\n\n\
                            The subject is KIND:ID alone, with no tenant: its values are erased \
                            in every tenant's events, so the same id used by two tenants (two \
                            people) is erased in both. The preview shows the events per tenant \
                            when there is more than one.")]
    Erase {
        #[command(flatten)]
        store: StoreArg,
        /// The person, KIND:ID.
        #[arg(long, value_name = "KIND:ID", value_parser = parse_target)]
        subject: (String, String),
        #[command(flatten)]
        yes: YesArg,
    },
}

#[derive(Debug, Args)]
pub(crate) struct StoreArg {
    /// A SQLite file path or a postgres:// URL.
    #[arg(value_name = "STORE")]
    pub(crate) store: String,
    /// The PostgreSQL schema that holds the log (one log per schema).
    #[arg(long, value_name = "SCHEMA", default_value = auditkit::postgres::DEFAULT_SCHEMA)]
    pub(crate) pg_schema: String,
}

#[derive(Debug, Args)]
pub(crate) struct OutArg {
    /// Write to this file instead of stdout.
    #[arg(long, short, value_name = "FILE")]
    pub(crate) out: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub(crate) struct YesArg {
    /// Do it without asking (for scripts).
    #[arg(long, short)]
    pub(crate) yes: bool,
}

#[derive(Debug, Args)]
pub(crate) struct ListArgs {
    /// At most this many events (1 to 1000).
    #[arg(long, default_value_t = 100)]
    pub(crate) limit: usize,
    /// Oldest first instead of newest first.
    #[arg(long)]
    pub(crate) oldest_first: bool,
    /// Print JSON Lines (one event per line) instead of a table.
    #[arg(long)]
    pub(crate) json: bool,
}

/// The filters of `auditkit::Query`.
#[derive(Debug, Args, Default)]
pub(crate) struct Filters {
    /// Only events of this tenant (business, clinic).
    #[arg(long)]
    pub(crate) tenant: Option<String>,
    /// Only events by the actor with this id.
    #[arg(long, value_name = "ID")]
    pub(crate) actor: Option<String>,
    /// Only events with this action; `booking.*` matches every booking action. Repeat for
    /// several.
    #[arg(long)]
    pub(crate) action: Vec<String>,
    /// Only events whose target is exactly KIND:ID.
    #[arg(long, value_name = "KIND:ID", value_parser = parse_target)]
    pub(crate) target: Option<(String, String)>,
    /// Only events that occurred at or after this instant (RFC 3339) or day (YYYY-MM-DD, UTC).
    #[arg(long, value_name = "TIME", value_parser = parse_instant)]
    pub(crate) since: Option<time::OffsetDateTime>,
    /// Only events that occurred before this instant (RFC 3339) or day (YYYY-MM-DD, UTC).
    #[arg(long, value_name = "TIME", value_parser = parse_instant)]
    pub(crate) until: Option<time::OffsetDateTime>,
    /// Only events from this local day on (YYYY-MM-DD in --zone).
    #[arg(long, value_name = "DAY", value_parser = parse_day, conflicts_with_all = ["since", "until"])]
    pub(crate) from_day: Option<time::Date>,
    /// Only events up to this local day, included (YYYY-MM-DD in --zone).
    #[arg(long, value_name = "DAY", value_parser = parse_day, conflicts_with_all = ["since", "until"])]
    pub(crate) to_day: Option<time::Date>,
    /// The IANA time zone of local days and local times (`Europe/Berlin`); default UTC.
    #[arg(long)]
    pub(crate) zone: Option<String>,
    /// Only events containing every word (action, actor name, target label, context).
    #[arg(long, value_name = "WORDS")]
    pub(crate) search: Option<String>,
    /// Only events that changed this field or one below it (`slot` matches `slot.start`).
    #[arg(long, value_name = "PATH")]
    pub(crate) changed: Option<String>,
    /// Only successes or only failures.
    #[arg(long, value_enum)]
    pub(crate) outcome: Option<OutcomeArg>,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
pub(crate) enum OutcomeArg {
    Success,
    Failure,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub(crate) enum Format {
    Csv,
    Jsonl,
}

fn parse_target(s: &str) -> Result<(String, String), String> {
    match s.split_once(':') {
        Some((kind, id)) if !kind.is_empty() && !id.is_empty() => {
            Ok((kind.to_owned(), id.to_owned()))
        }
        _ => Err(format!(
            "{s:?} is not KIND:ID; write the kind and the id with a colon, such as booking:b-123"
        )),
    }
}

fn parse_day(s: &str) -> Result<time::Date, String> {
    let format = time::macros::format_description!("[year]-[month]-[day]");
    time::Date::parse(s, &format).map_err(|e| format!("{s:?} is not a day YYYY-MM-DD: {e}"))
}

fn parse_instant(s: &str) -> Result<time::OffsetDateTime, String> {
    use time::format_description::well_known::Rfc3339;
    if let Ok(t) = time::OffsetDateTime::parse(s, &Rfc3339) {
        return Ok(t);
    }
    parse_day(s)
        .map(|d| d.midnight().assume_utc())
        .map_err(|_| {
            format!(
                "{s:?} is neither an RFC 3339 instant (2026-01-31T18:00:00Z) nor a day (2026-01-31)"
            )
        })
}

#[cfg(test)]
mod tests {
    use clap::CommandFactory as _;

    #[test]
    fn the_command_line_is_consistent() {
        super::Cli::command().debug_assert();
    }
}
