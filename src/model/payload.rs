//! Typed events: [`AuditPayload`].

use serde::de::DeserializeOwned;
use serde::Serialize;
use serde_json::Value;

use crate::model::event::Event;
use crate::{Error, Result};

/// A typed event payload: a serde struct with its action name and schema version.
///
/// Record it with [`crate::NewEvent::typed`]; its fields become the event's context. Read it
/// back with [`Event::payload`]. When a payload's shape changes, bump `VERSION` and teach
/// [`AuditPayload::upgrade`] to turn older versions into the current one.
///
/// ```
/// use auditkit::AuditPayload;
/// #[derive(serde::Serialize, serde::Deserialize)]
/// struct NoShow { booking_id: String }
/// impl AuditPayload for NoShow {
///     const ACTION: &'static str = "booking.no_show";
/// }
/// ```
///
/// # Describing it
///
/// [`Event::describe`](crate::Event::describe) fills in the action's sentence and appends the
/// field changes (from `before` and `after`) it did not state. Two provided constants tell it
/// what it cannot guess from key names: [`AuditPayload::STATED_PATHS`], the change paths the
/// sentence already states (left out of the appended changes), and [`AuditPayload::MONEY`],
/// the fields that hold money. The [`vocab`](crate::vocab) payloads declare theirs; describe
/// an event of your own payload type with [`Event::describe_as`](crate::Event::describe_as).
///
/// ```
/// use auditkit::{AuditPayload, Money};
///
/// #[derive(serde::Serialize, serde::Deserialize)]
/// struct DepositTaken { amount_cents: i64, currency: String }
///
/// impl AuditPayload for DepositTaken {
///     const ACTION: &'static str = "booking.deposit_taken";
///     // The sentence says the deposit was taken, so a `deposit_paid` change says nothing new.
///     const STATED_PATHS: &'static [&'static str] = &["deposit_paid"];
///     const MONEY: &'static [Money] = &[
///         Money::new("amount_cents", "currency"),
///         // A change of the booking's balance, which is always in euros.
///         Money::fixed("balance_cents", "EUR"),
///     ];
/// }
/// ```
///
/// # Changing a payload's shape
///
/// Events are never rewritten, so old shapes stay in the log. Bump `VERSION` and turn older
/// contexts into the current shape in `upgrade`; [`Event::payload`] calls it for events
/// recorded with an older version, and refuses (with [`Error::Payload`]) events recorded by
/// a newer build than this one.
///
/// ```
/// use auditkit::{AuditPayload, Error};
/// use serde_json::{json, Value};
///
/// #[derive(serde::Serialize, serde::Deserialize)]
/// struct PriceSet { amount: i64, currency: String } // version 1 was `{ "cents": 4500 }`
///
/// impl AuditPayload for PriceSet {
///     const ACTION: &'static str = "service.price_set";
///     const VERSION: u32 = 2;
///     fn upgrade(version: u32, old: Value) -> auditkit::Result<Value> {
///         match version {
///             1 => Ok(json!({ "amount": old["cents"], "currency": "EUR" })),
///             v => Err(Error::payload(format!("no upgrade from version {v}"))),
///         }
///     }
/// }
/// ```
pub trait AuditPayload: Serialize + DeserializeOwned {
    /// The action name events of this payload are recorded under.
    const ACTION: &'static str;
    /// The payload's schema version (default 1).
    const VERSION: u32 = 1;
    /// Change paths (as in [`crate::Change::path`]) that the action's sentence already
    /// states, so [`Event::describe`](crate::Event::describe) does not append them again:
    /// `"start"` for a reschedule whose sentence reads `from … to …`. A path also covers the
    /// paths below it (`"slot"` covers `slot.start`), as [`crate::Query::changed`] does.
    ///
    /// The default states none: every change is appended.
    const STATED_PATHS: &'static [&'static str] = &[];
    /// The fields that hold money, in minor units with a currency: the payload's own fields
    /// (as the sentence shows them) and the change paths of `before`/`after` alike.
    /// [`Event::describe`](crate::Event::describe) shows these, and only these, as money
    /// (`€20.00`) for events of this payload.
    ///
    /// The default declares none: integers print as they are.
    const MONEY: &'static [Money] = &[];

    /// Turns the context of an event recorded with an older `version` into the current shape.
    ///
    /// The default accepts no older version.
    ///
    /// # Errors
    /// [`Error::Payload`] when `version` cannot be upgraded.
    fn upgrade(version: u32, context: Value) -> Result<Value> {
        let _ = context;
        Err(Error::payload(format!(
            "{} has no upgrade from version {version} to {}",
            Self::ACTION,
            Self::VERSION
        )))
    }
}

/// A field that holds an amount of money: an integer in minor units (cents: `2000` is 20.00)
/// at a path, and where its currency is. Declared in [`AuditPayload::MONEY`].
///
/// The path names a payload field (a context key, such as `amount`) and the change path of
/// the same name in `before`/`after` (`refunded_cents`, `price.amount`; see
/// [`crate::Change::path`]); the elements of a list there (`amounts[2]`) are money too.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Money {
    path: &'static str,
    currency: Currency,
}

/// Where the currency of a [`Money`] field is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Currency {
    /// The ISO 4217 code at this path: a payload field, else the same path in `after` (for
    /// a change's new value) or `before` (for its old value).
    Field(&'static str),
    /// Always this ISO 4217 code, such as `EUR`.
    Code(&'static str),
}

impl Money {
    /// Minor units at `path`, in the currency whose ISO 4217 code is at `currency_path`:
    /// `Money::new("amount", "currency")`.
    pub const fn new(path: &'static str, currency_path: &'static str) -> Money {
        Money {
            path,
            currency: Currency::Field(currency_path),
        }
    }

    /// Minor units at `path`, always in the currency `code` (ISO 4217, such as `EUR`).
    pub const fn fixed(path: &'static str, code: &'static str) -> Money {
        Money {
            path,
            currency: Currency::Code(code),
        }
    }

    /// The path of the amount.
    pub const fn path(&self) -> &'static str {
        self.path
    }

    /// Where the currency is.
    pub const fn currency(&self) -> Currency {
        self.currency
    }

    /// True when the value at change path `path` is this amount or one element of a list of
    /// them.
    pub(crate) fn covers(&self, path: &str) -> bool {
        path.strip_prefix(self.path)
            .is_some_and(|rest| rest.is_empty() || rest.starts_with('['))
    }
}

impl Event {
    /// The typed payload of this event.
    ///
    /// # Errors
    /// [`Error::Payload`] when the event has another action, was not recorded from a typed
    /// payload, has a version that cannot be upgraded, or its context does not fit `P`.
    pub fn payload<P: AuditPayload>(&self) -> Result<P> {
        if self.action != P::ACTION {
            return Err(Error::payload(format!(
                "event {} is {:?}, not {:?}",
                self.seq,
                self.action,
                P::ACTION
            )));
        }
        let version = self.payload_version.ok_or_else(|| {
            Error::payload(format!(
                "event {} was not recorded from a typed payload",
                self.seq
            ))
        })?;
        let context = Value::Object(self.context.clone());
        let context = match version {
            v if v == P::VERSION => context,
            v if v < P::VERSION => P::upgrade(v, context)?,
            v => {
                return Err(Error::payload(format!(
                "event {} has {} version {v}, newer than this build's {}; upgrade the application",
                self.seq,
                P::ACTION,
                P::VERSION
            )))
            }
        };
        serde_json::from_value(context).map_err(|e| {
            Error::payload(format!(
                "event {} does not fit {}: {e}",
                self.seq,
                std::any::type_name::<P>()
            ))
        })
    }
}
