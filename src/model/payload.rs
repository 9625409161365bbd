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
