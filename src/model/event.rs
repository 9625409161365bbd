//! The stored event and the plain types it is made of.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use serde_json::{Map, Value};
use time::OffsetDateTime;
use uuid::Uuid;

/// One immutable entry of the audit trail, as recorded and as read back.
///
/// Fields are public and plain. An `Event` read back equals the one [`crate::AuditTrail::record`]
/// returned, field for field (times are truncated to microseconds in UTC when recorded).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct Event {
    /// Position in the chain: 1-based and contiguous.
    pub seq: u64,
    /// Time-ordered (v7) id, stamped when the event is sealed.
    pub id: Uuid,
    /// When it happened (defaults to the time of recording).
    #[serde(with = "time::serde::rfc3339")]
    pub occurred_at: OffsetDateTime,
    /// When auditkit sealed it; never decreases as `seq` grows.
    #[serde(with = "time::serde::rfc3339")]
    pub recorded_at: OffsetDateTime,
    /// The business, clinic or organization the event belongs to.
    pub tenant: Option<String>,
    /// Who did it.
    pub actor: Actor,
    /// Through which channel.
    pub source: Source,
    /// Request details: IP, user agent, request or correlation id.
    pub request: Option<RequestContext>,
    /// Dotted action name such as `booking.rescheduled`.
    pub action: String,
    /// Whether it succeeded.
    pub outcome: Outcome,
    /// The thing acted upon.
    pub target: Option<Target>,
    /// Other things the event touches (the customer and order of a booking).
    pub related: Vec<Target>,
    /// State before the change.
    pub before: Option<Value>,
    /// State after the change.
    pub after: Option<Value>,
    /// Field-level changes derived from `before` and `after`.
    pub changes: Vec<Change>,
    /// Free-form details: reason, amount, currency, channel, ...
    pub context: Map<String, Value>,
    /// The idempotency key the event was recorded with, if any.
    pub idempotency_key: Option<String>,
    /// Schema version of a typed payload (see [`crate::AuditPayload`]), if recorded from one.
    pub payload_version: Option<u32>,
    /// Personal fields whose values were erased (e.g. `actor.name`, `context.phone`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub redacted: Vec<String>,
    /// Chain hash of the previous event.
    #[serde(with = "hex32")]
    pub prev_hash: [u8; 32],
    /// Chain hash of this event.
    #[serde(with = "hex32")]
    pub hash: [u8; 32],
}

impl Event {
    /// The `context` value under `key`, if present.
    pub fn context_value(&self, key: &str) -> Option<&Value> {
        self.context.get(key)
    }

    /// The hash of this event as lowercase hex.
    pub fn hash_hex(&self) -> String {
        hex::encode(self.hash)
    }
}

/// What kind of party performed an action.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum ActorKind {
    /// Staff, admins, owners: people who log into the business side.
    User,
    /// A customer or client acting for themselves (self-service booking).
    Customer,
    /// The application itself: schedulers, automations, reminders.
    System,
    /// An API key, integration or another service.
    Service,
    /// Nobody identified (a failed login with an unknown email, a public form).
    Anonymous,
}

impl ActorKind {
    /// The snake_case name used in storage, JSON and CSV.
    pub fn as_str(self) -> &'static str {
        match self {
            ActorKind::User => "user",
            ActorKind::Customer => "customer",
            ActorKind::System => "system",
            ActorKind::Service => "service",
            ActorKind::Anonymous => "anonymous",
        }
    }

    /// All kinds, in declaration order.
    pub const ALL: [ActorKind; 5] = [
        ActorKind::User,
        ActorKind::Customer,
        ActorKind::System,
        ActorKind::Service,
        ActorKind::Anonymous,
    ];
}

impl fmt::Display for ActorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for ActorKind {
    type Err = crate::Error;
    fn from_str(s: &str) -> crate::Result<Self> {
        ActorKind::ALL
            .into_iter()
            .find(|k| k.as_str() == s)
            .ok_or_else(|| {
                crate::Error::invalid(
                    "actor.kind",
                    format!("{s:?} is not one of user, customer, system, service, anonymous"),
                )
            })
    }
}

/// Who performed an action.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct Actor {
    /// What kind of party this is.
    pub kind: ActorKind,
    /// Stable identifier in the application (user id, customer id, API key id).
    pub id: String,
    /// Display name at the time of the event (personal: erasable).
    pub name: Option<String>,
    /// Role at the time of the event (`staff`, `admin`, `owner`).
    pub role: Option<String>,
    /// Email at the time of the event (personal: erasable).
    pub email: Option<String>,
    /// Who really acted, when someone acted on behalf of this actor.
    pub impersonator: Option<Box<Actor>>,
}

impl Actor {
    /// An actor of `kind` with `id`.
    pub fn new(kind: ActorKind, id: impl Into<String>) -> Self {
        Actor {
            kind,
            id: id.into(),
            name: None,
            role: None,
            email: None,
            impersonator: None,
        }
    }

    /// A staff member or admin.
    pub fn user(id: impl Into<String>) -> Self {
        Actor::new(ActorKind::User, id)
    }

    /// A customer acting for themselves.
    pub fn customer(id: impl Into<String>) -> Self {
        Actor::new(ActorKind::Customer, id)
    }

    /// The application itself; its id is `system`.
    pub fn system() -> Self {
        Actor::new(ActorKind::System, "system")
    }

    /// An API key, integration or service.
    pub fn service(id: impl Into<String>) -> Self {
        Actor::new(ActorKind::Service, id)
    }

    /// Nobody identified; its id is `anonymous`.
    pub fn anonymous() -> Self {
        Actor::new(ActorKind::Anonymous, "anonymous")
    }

    /// Sets the display name.
    #[must_use]
    pub fn name(mut self, name: impl Into<String>) -> Self {
        self.name = Some(name.into());
        self
    }

    /// Sets the role.
    #[must_use]
    pub fn role(mut self, role: impl Into<String>) -> Self {
        self.role = Some(role.into());
        self
    }

    /// Sets the email.
    #[must_use]
    pub fn email(mut self, email: impl Into<String>) -> Self {
        self.email = Some(email.into());
        self
    }

    /// Marks this actor as impersonated by `by` (support staff acting as a customer, say).
    #[must_use]
    pub fn impersonated_by(mut self, by: Actor) -> Self {
        self.impersonator = Some(Box::new(by));
        self
    }

    /// The name if known, else the id.
    pub fn display_name(&self) -> &str {
        self.name.as_deref().unwrap_or(&self.id)
    }
}

impl Default for Actor {
    /// [`Actor::system()`].
    fn default() -> Self {
        Actor::system()
    }
}

/// A thing acted upon: a booking, order, customer, service, voucher...
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[non_exhaustive]
pub struct Target {
    /// What kind of thing (`booking`, `order`, `customer`).
    pub kind: String,
    /// Its id in the application.
    pub id: String,
    /// A human label at the time of the event (personal: erasable).
    pub label: Option<String>,
}

impl Target {
    /// A target of `kind` with `id`.
    pub fn new(kind: impl Into<String>, id: impl Into<String>) -> Self {
        Target {
            kind: kind.into(),
            id: id.into(),
            label: None,
        }
    }

    /// Sets the human label.
    #[must_use]
    pub fn label(mut self, label: impl Into<String>) -> Self {
        self.label = Some(label.into());
        self
    }

    /// True when `other` names the same thing (kind and id; labels are ignored).
    pub fn same_as(&self, other: &Target) -> bool {
        self.kind == other.kind && self.id == other.id
    }

    /// The label if known, else `kind id`.
    pub fn display_name(&self) -> String {
        match &self.label {
            Some(l) => l.clone(),
            None => format!("{} {}", self.kind, self.id),
        }
    }
}

/// The channel through which an action came.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Default)]
#[non_exhaustive]
pub enum Source {
    /// The web app.
    Web,
    /// A mobile app.
    Mobile,
    /// The public API.
    Api,
    /// An incoming webhook (payment provider, calendar sync).
    Webhook,
    /// The application itself (default).
    #[default]
    System,
    /// A bulk import.
    Import,
    /// Anything else, by name.
    Other(String),
}

impl Source {
    /// The snake_case name used in storage, JSON and CSV.
    pub fn as_str(&self) -> &str {
        match self {
            Source::Web => "web",
            Source::Mobile => "mobile",
            Source::Api => "api",
            Source::Webhook => "webhook",
            Source::System => "system",
            Source::Import => "import",
            Source::Other(s) => s,
        }
    }

    /// The source named `s`; names other than the built-in ones become [`Source::Other`].
    pub fn parse(s: &str) -> Source {
        match s {
            "web" => Source::Web,
            "mobile" => Source::Mobile,
            "api" => Source::Api,
            "webhook" => Source::Webhook,
            "system" => Source::System,
            "import" => Source::Import,
            other => Source::Other(other.to_owned()),
        }
    }
}

impl fmt::Display for Source {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl Serialize for Source {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for Source {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        Ok(Source::parse(&s))
    }
}

/// Whether the action succeeded.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[serde(tag = "status", rename_all = "snake_case")]
#[non_exhaustive]
pub enum Outcome {
    /// It succeeded (default).
    #[default]
    Success,
    /// It failed: a failed login, a declined card.
    Failure {
        /// Why it failed.
        reason: String,
    },
}

impl Outcome {
    /// A failure with `reason`.
    pub fn failure(reason: impl Into<String>) -> Self {
        Outcome::Failure {
            reason: reason.into(),
        }
    }

    /// True for [`Outcome::Success`].
    pub fn is_success(&self) -> bool {
        matches!(self, Outcome::Success)
    }

    /// `success` or `failure`.
    pub fn as_str(&self) -> &'static str {
        match self {
            Outcome::Success => "success",
            Outcome::Failure { .. } => "failure",
        }
    }
}

/// Details of the request that caused an event.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[non_exhaustive]
pub struct RequestContext {
    /// Client IP address.
    pub ip: Option<String>,
    /// Client user agent.
    pub user_agent: Option<String>,
    /// Request or correlation id, to join with application logs.
    pub request_id: Option<String>,
}

impl RequestContext {
    /// An empty request context.
    pub fn new() -> Self {
        Self::default()
    }

    /// Sets the client IP.
    #[must_use]
    pub fn ip(mut self, ip: impl Into<String>) -> Self {
        self.ip = Some(ip.into());
        self
    }

    /// Sets the user agent.
    #[must_use]
    pub fn user_agent(mut self, ua: impl Into<String>) -> Self {
        self.user_agent = Some(ua.into());
        self
    }

    /// Sets the request or correlation id.
    #[must_use]
    pub fn request_id(mut self, id: impl Into<String>) -> Self {
        self.request_id = Some(id.into());
        self
    }
}

/// One field-level change, derived from `before` and `after`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct Change {
    /// Dotted path such as `slot.start` or `items[2].price`; `""` for the whole value.
    pub path: String,
    /// The old value, `None` when the field was added.
    pub old: Option<Value>,
    /// The new value, `None` when the field was removed.
    pub new: Option<Value>,
}

pub(crate) mod hex32 {
    use serde::{Deserialize, Deserializer, Serializer};

    pub(crate) fn serialize<S: Serializer>(h: &[u8; 32], s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&hex::encode(h))
    }

    pub(crate) fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<[u8; 32], D::Error> {
        let s = String::deserialize(d)?;
        let mut out = [0u8; 32];
        hex::decode_to_slice(&s, &mut out).map_err(serde::de::Error::custom)?;
        Ok(out)
    }
}
