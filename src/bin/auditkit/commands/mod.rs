//! The commands, grouped by what they do to the store: prove it intact, read it, change it.

mod change;
mod integrity;
mod read;

use std::process::ExitCode;

use auditkit::{OutcomeFilter, Query, Target};

use crate::args::{Cli, Command, Filters, OutcomeArg};
use crate::fail::{Fail, Result};

/// Runs the command; `Ok` carries its exit code (1 when verify found a fault).
pub(crate) fn run(cli: Cli) -> Result<ExitCode> {
    match cli.command {
        Command::Verify { store, against } => integrity::verify(&store, against.as_deref()),
        Command::VerifyBundle { file, key } => integrity::verify_bundle(&file, key.as_deref()),
        Command::Checkpoint { store, key, out } => {
            integrity::checkpoint(&store, key.as_deref(), out.out.as_deref())
        }
        Command::Prove {
            store,
            seq,
            checkpoint,
        } => integrity::prove(&store, seq, &checkpoint),
        Command::Bundle {
            store,
            target,
            tenant,
            checkpoint,
            key,
            without_personal_values,
            out,
        } => integrity::bundle(
            &store,
            &integrity::BundleArgs {
                target: Target::new(target.0, target.1),
                tenant,
                checkpoint,
                key,
                without_personal_values,
                out: out.out,
            },
        ),
        Command::Query {
            store,
            filters,
            list,
        } => read::list(&store, query(&filters)?, &filters, &list),
        Command::History {
            store,
            of,
            filters,
            list,
        } => {
            let q = query(&filters)?.involving(&Target::new(of.0, of.1));
            read::list(&store, q, &filters, &list)
        }
        Command::Customer {
            store,
            id,
            filters,
            list,
        } => {
            let q = query(&filters)?.involving(&Target::new("customer", id));
            read::list(&store, q, &filters, &list)
        }
        Command::Tail {
            store,
            lines,
            follow,
            interval,
            filters,
            json,
        } => read::tail(
            &store,
            &read::TailArgs {
                query: query(&filters)?,
                zone: filters.zone.clone(),
                lines,
                follow,
                interval,
                json,
            },
        ),
        Command::Export {
            store,
            format,
            filters,
            out,
        } => read::export(
            &store,
            format,
            query(&filters)?,
            filters.zone.as_deref(),
            out.out.as_deref(),
        ),
        Command::Stats { store, filters } => {
            read::stats(&store, query(&filters)?, filters.zone.as_deref())
        }
        Command::Migrate { store, yes } => change::migrate(&store, yes.yes),
        Command::Purge {
            store,
            before,
            archive,
            yes,
        } => change::purge(&store, before, archive.as_deref(), yes.yes),
        Command::Erase {
            store,
            subject,
            yes,
        } => change::erase(&store, &subject.0, &subject.1, yes.yes),
    }
}

/// The `Query` of the filter options, checked before any store is opened.
///
/// # Errors
/// Exit 2 for filters the library refuses (an unknown zone, an empty day range).
fn query(f: &Filters) -> Result<Query> {
    let mut q = Query::new();
    if let Some(t) = &f.tenant {
        q = q.tenant(t);
    }
    if let Some(a) = &f.actor {
        q = q.actor(a);
    }
    if !f.action.is_empty() {
        q = q.actions(&f.action);
    }
    if let Some((kind, id)) = &f.target {
        q = q.target(&Target::new(kind, id));
    }
    if let Some(t) = f.since {
        q = q.since(t);
    }
    if let Some(t) = f.until {
        q = q.until(t);
    }
    if f.from_day.is_some() || f.to_day.is_some() {
        // An open end reaches as far as the store can hold.
        let from = f.from_day.unwrap_or(time::macros::date!(1970 - 01 - 01));
        let to = f.to_day.unwrap_or(time::macros::date!(9999 - 12 - 31));
        if from > to {
            return Err(Fail::usage(format!(
                "--to-day {to} is before --from-day {from}; both days are included, so give the same day twice for one day"
            )));
        }
        q = q.between_local_days(from, to, f.zone.as_deref().unwrap_or("UTC"));
    }
    if let Some(s) = &f.search {
        q = q.search(s);
    }
    if let Some(c) = &f.changed {
        q = q.changed(c);
    }
    match f.outcome {
        Some(OutcomeArg::Success) => q = q.outcome(OutcomeFilter::Success),
        Some(OutcomeArg::Failure) => q = q.outcome(OutcomeFilter::Failure),
        None => {}
    }
    q.validate().map_err(Fail::usage)?;
    Ok(q)
}
