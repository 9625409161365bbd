//! The booking-domain vocabulary: typed payloads and action names for what booking apps record.
//!
//! Every action the product pages of salons, clinics, field services and scheduling tools name
//! is here, grouped by what it is about: bookings, orders and payments, vouchers, clients,
//! services and schedule, events (classes), staff users, notifications, account security and
//! loyalty. Each has
//!
//! - a payload struct implementing [`AuditPayload`] (record it with
//!   [`NewEvent::typed`](crate::NewEvent::typed), read it back with
//!   [`Event::payload`](crate::Event::payload)),
//! - an action-name constant in [`actions`] (for queries such as
//!   `Query::new().action(actions::BOOKING_CANCELLED)`),
//! - a human description, listed by [`all`] and returned by [`description`],
//! - a sentence template that [`Event::describe`](crate::Event::describe) fills in.
//!
//! ```
//! # fn main() -> auditkit::Result<()> {
//! use auditkit::vocab::BookingRescheduled;
//! use auditkit::{Actor, AuditTrail, MemoryStore, NewEvent, Target};
//! use time::macros::datetime;
//!
//! let trail = AuditTrail::new(MemoryStore::new());
//! let event = trail.record(
//!     NewEvent::typed(&BookingRescheduled {
//!         from: datetime!(2026-01-10 14:00 UTC),
//!         to: datetime!(2026-01-15 09:00 UTC),
//!         reason: None,
//!         new_booking_id: None,
//!     })
//!     .actor(Actor::user("u-17").name("Sarah").role("staff"))
//!     .target(Target::new("booking", "b-123").label("Haircut with Sam")),
//! )?;
//! assert_eq!(
//!     event.describe(),
//!     "Sarah (staff) rescheduled Haircut with Sam from Sat 10 Jan 14:00 to Thu 15 Jan 09:00"
//! );
//! let payload: BookingRescheduled = event.payload()?;
//! assert_eq!(payload.to, datetime!(2026-01-15 09:00 UTC));
//! # Ok(()) }
//! ```
//!
//! # Conventions
//!
//! - Money is an integer `amount` in **minor units** (cents: `4500` is 45.00) with an ISO 4217
//!   `currency` code next to it, so sums never round. Descriptions print `€45.00`, `$45.00`,
//!   `£45.00`, or `45.00 CHF` for other currencies (`¥4500` and `4500 ISK` for currencies
//!   without minor units, three decimals for BHD, KWD, ...).
//! - Times are [`OffsetDateTime`]s, stored as RFC 3339 text in UTC to the microsecond; one
//!   outside 1970-01-01 … 9999-12-31 UTC makes recording fail with
//!   [`Error::Invalid`](crate::Error::Invalid) (field `payload`), as for `occurred_at`.
//! - Who acted is the event's [`Actor`](crate::Actor), not a payload field; what was acted on
//!   is its [`Target`](crate::Target) (the booking, order, client...), with the customer and
//!   order in `related`.
//! - Optional fields that are `None` are left out of the stored context.
//! - Payload fields that hold personal data (emails, phone numbers, notes) are ordinary context
//!   keys: name them in [`TrailBuilder::personal_keys`](crate::TrailBuilder::personal_keys) to
//!   make them erasable.
//!
//! # Templates
//!
//! Each action's sentence is a template: `{key}` is the context value `key` (or the top-level
//! `after` value `key`), `{target}` the target's label, `{ip}` the request's IP address;
//! a part in `[...]` is left out unless every value in it is present; the text after `|` is
//! used when the event's outcome is a failure. Values print by kind: RFC 3339 strings as
//! times, money fields as money in their currency, lists joined with commas.
//!
//! For an event recorded from one of these payloads, its type's declarations decide:
//! [`AuditPayload::MONEY`] names its money fields (`amount`, `fee_amount`, ... with
//! `currency`; [`Entry::money`]), and [`AuditPayload::STATED_PATHS`] the change paths its
//! sentence already states, which are not appended again (a reschedule's `start` and
//! `slot.start`, the `status` a cancellation sets; [`Entry::stated_paths`]). An event
//! recorded with [`NewEvent::new`](crate::NewEvent::new) under a vocabulary action is
//! described by key names: integers under `amount`, `price`, `total` and keys ending in
//! `_amount` or `_price` are money in its `currency`.

pub(crate) mod describe;

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use crate::{AuditPayload, Money};

/// One action of the vocabulary.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct Entry {
    /// The action name, such as `booking.rescheduled`.
    pub action: &'static str,
    /// A short human description, such as `Booking rescheduled`.
    pub description: &'static str,
    /// The sentence template [`Event::describe`](crate::Event::describe) fills in (see the
    /// module docs).
    pub template: &'static str,
    /// The payload's fields (context keys), required ones first.
    pub fields: &'static [&'static str],
    /// The change paths the sentence already states: the payload's
    /// [`AuditPayload::STATED_PATHS`].
    pub stated_paths: &'static [&'static str],
    /// The fields that hold money: the payload's [`AuditPayload::MONEY`].
    pub money: &'static [Money],
}

/// Every `(action, description)` pair of the vocabulary, grouped by area, in a stable order.
pub fn all() -> Vec<(&'static str, &'static str)> {
    ENTRIES.iter().map(|e| (e.action, e.description)).collect()
}

/// Every entry of the vocabulary, with its sentence template.
pub fn entries() -> &'static [Entry] {
    ENTRIES
}

/// The entry for `action`, if it is part of the vocabulary.
pub fn entry(action: &str) -> Option<&'static Entry> {
    ENTRIES.iter().find(|e| e.action == action)
}

/// The human description of `action`, if it is part of the vocabulary.
pub fn description(action: &str) -> Option<&'static str> {
    entry(action).map(|e| e.description)
}

/// Defines each payload struct (required fields, then `;`, then optional ones), its
/// [`AuditPayload`] impl, its action constant and its [`Entry`] in one table.
macro_rules! vocab {
    ($(
        $(#[$doc:meta])*
        $name:ident, $konst:ident = $action:literal, $desc:literal, $template:literal
        $( stated [ $($stated:literal),* $(,)? ] )?
        $( money [ $($money:expr),* $(,)? ] )?
        {
            $( $(#[$rm:meta])* $rf:ident : $rty:ty ),* $(,)?
            $( ; $( $(#[$om:meta])* $of:ident : $oty:ty ),* $(,)? )?
        }
    )*) => {
        $(
            $(#[$doc])*
            #[doc = ""]
            #[doc = concat!("Action `", $action, "`: ", $desc, ".")]
            #[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
            pub struct $name {
                $( $(#[$rm])* pub $rf: $rty, )*
                $($(
                    $(#[$om])*
                    #[serde(default, skip_serializing_if = "Option::is_none")]
                    pub $of: Option<$oty>,
                )*)?
            }

            impl AuditPayload for $name {
                const ACTION: &'static str = $action;
                const STATED_PATHS: &'static [&'static str] = &[$($($stated),*)?];
                const MONEY: &'static [Money] = &[$($($money),*)?];
            }
        )*

        /// Action-name constants, one per vocabulary action.
        pub mod actions {
            $(
                #[doc = concat!("`", $action, "`: ", $desc, ".")]
                pub const $konst: &str = $action;
            )*
        }

        const ENTRIES: &[Entry] = &[
            $( Entry {
                action: $action,
                description: $desc,
                template: $template,
                fields: &[$(stringify!($rf),)* $($(stringify!($of),)*)?],
                stated_paths: <$name as AuditPayload>::STATED_PATHS,
                money: <$name as AuditPayload>::MONEY,
            }, )*
        ];
    };
}

vocab! {
    // ---- bookings ----

    /// A booking was made (by a customer online, or by staff).
    BookingCreated, BOOKING_CREATED = "booking.created", "Booking created",
        "created {target}[ for {start}][ with {host}]" {
        /// Start of the booked slot.
        #[serde(with = "ts")]
        start: OffsetDateTime,
        ;
        /// End of the booked slot.
        #[serde(with = "ts::option")]
        end: OffsetDateTime,
        /// The service booked.
        service: String,
        /// The assigned host or staff member.
        host: String,
    }

    /// A pending booking was confirmed (accepted), automatically or by staff.
    BookingConfirmed, BOOKING_CONFIRMED = "booking.confirmed", "Booking confirmed",
        "confirmed {target}[ ({rule})]"
        stated ["status"] {
        ;
        /// The rule that confirmed it automatically, if any.
        rule: String,
    }

    /// A pending booking was declined.
    BookingRejected, BOOKING_REJECTED = "booking.rejected", "Booking rejected",
        "rejected {target}[: {reason}]"
        stated ["status"] {
        ;
        /// Why it was rejected.
        reason: String,
    }

    /// A booking moved to another time.
    BookingRescheduled, BOOKING_RESCHEDULED = "booking.rescheduled", "Booking rescheduled",
        "rescheduled {target}[ from {from} to {to}][ ({reason})][, new booking {new_booking_id}]"
        stated ["start", "slot.start"] {
        /// The original start.
        #[serde(with = "ts")]
        from: OffsetDateTime,
        /// The new start.
        #[serde(with = "ts")]
        to: OffsetDateTime,
        ;
        /// Why it was moved.
        reason: String,
        /// The id of the booking that replaces this one, where the app creates a new one.
        new_booking_id: String,
    }

    /// A new time was requested for a booking (by the host or the customer).
    BookingRescheduleRequested, BOOKING_RESCHEDULE_REQUESTED = "booking.reschedule_requested",
        "Reschedule requested", "requested a new time for {target}[: {reason}]" {
        ;
        /// Why.
        reason: String,
    }

    /// A booking moved to another host.
    BookingReassigned, BOOKING_REASSIGNED = "booking.reassigned", "Booking reassigned",
        "reassigned {target}[ from {previous_host}][ to {host}][ ({assignment})]"
        stated ["host"] {
        /// The new host.
        host: String,
        ;
        /// The previous host.
        previous_host: String,
        /// How it was assigned: `manual`, `round robin`.
        assignment: String,
    }

    /// A booking was cancelled; the actor says by whom (customer, staff, system).
    BookingCancelled, BOOKING_CANCELLED = "booking.cancelled", "Booking cancelled",
        "cancelled {target}[: {reason}]"
        stated ["status"]
        money [Money::new("fee_amount", "currency")] {
        ;
        /// Why, if given.
        reason: String,
        /// A cancellation fee charged, in minor units of `currency`.
        fee_amount: i64,
        /// ISO 4217 code of the fee.
        currency: String,
    }

    /// The customer (or the host) did not show up.
    BookingNoShow, BOOKING_NO_SHOW = "booking.no_show", "Marked as no-show",
        "marked {target} as a no-show[ ({who})]"
        stated ["status"] {
        ;
        /// Who did not show: `attendee`, `host`, a name.
        who: String,
    }

    /// The service was delivered.
    BookingCompleted, BOOKING_COMPLETED = "booking.completed", "Booking completed",
        "marked {target} as completed"
        stated ["status"] {}

    /// Details of a booking changed (price, service, status...); see the event's changes.
    BookingModified, BOOKING_MODIFIED = "booking.modified", "Booking modified",
        "modified {target}"
        money [Money::new("price_amount", "currency")] {}

    /// Someone joined a booking.
    BookingAttendeeAdded, BOOKING_ATTENDEE_ADDED = "booking.attendee_added", "Attendee added",
        "added an attendee to {target}[: {attendee}]" {
        /// The attendee's name or email.
        attendee: String,
    }

    /// A booking's location changed.
    BookingLocationChanged, BOOKING_LOCATION_CHANGED = "booking.location_changed",
        "Location changed", "changed the location of {target}[ from {from} to {to}]"
        stated ["location"] {
        /// The previous location.
        from: String,
        /// The new location.
        to: String,
    }

    /// Someone booked a seat on a seated event.
    BookingSeatBooked, BOOKING_SEAT_BOOKED = "booking.seat_booked", "Seat booked",
        "booked a seat on {target}[ for {attendee}]" {
        ;
        /// Who holds the seat.
        attendee: String,
    }

    /// A seat moved to another time.
    BookingSeatRescheduled, BOOKING_SEAT_RESCHEDULED = "booking.seat_rescheduled",
        "Seat rescheduled", "moved a seat on {target}[ for {attendee}][ from {from} to {to}]"
        stated ["start", "slot.start"] {
        /// The original start.
        #[serde(with = "ts")]
        from: OffsetDateTime,
        /// The new start.
        #[serde(with = "ts")]
        to: OffsetDateTime,
        ;
        /// Who holds the seat.
        attendee: String,
    }

    /// An internal note was added to a booking.
    BookingNoteAdded, BOOKING_NOTE_ADDED = "booking.note_added", "Note added",
        "added a note to {target}[: {note}]" {
        ;
        /// The note.
        note: String,
    }

    // ---- orders and payments ----

    /// An order (a booking's bill, a product purchase) was placed.
    OrderCreated, ORDER_CREATED = "order.created", "Order created",
        "created {target}[ for {amount}]"
        money [Money::new("amount", "currency")] {
        ;
        /// Total in minor units of `currency`.
        amount: i64,
        /// ISO 4217 code.
        currency: String,
    }

    /// A payment was received.
    PaymentPaid, PAYMENT_PAID = "payment.paid", "Payment received",
        "recorded a payment[ of {amount}][ by {method}][ for {target}]|could not take a payment[ of {amount}][ by {method}][ for {target}]"
        money [Money::new("amount", "currency")] {
        /// Amount in minor units of `currency`.
        amount: i64,
        /// ISO 4217 code.
        currency: String,
        ;
        /// Payment method: `card`, `cash`, `bank transfer`...
        method: String,
        /// The payment provider's transaction id.
        transaction_id: String,
    }

    /// A charge was attempted and failed (declined card, insufficient funds).
    PaymentFailed, PAYMENT_FAILED = "payment.failed", "Payment failed",
        "could not charge[ {amount}][ by {method}][ for {target}][: {reason}]"
        money [Money::new("amount", "currency")] {
        /// Amount in minor units of `currency`.
        amount: i64,
        /// ISO 4217 code.
        currency: String,
        ;
        /// Payment method.
        method: String,
        /// Why it failed, as the provider says.
        reason: String,
    }

    /// Money was refunded, in full or in part.
    PaymentRefunded, PAYMENT_REFUNDED = "payment.refunded", "Payment refunded",
        "refunded[ {amount}][ of {original_amount}][ for {target}][ to {method}][ ({reason})]"
        money [
            Money::new("amount", "currency"),
            Money::new("original_amount", "currency"),
        ] {
        /// Amount refunded, in minor units of `currency`.
        amount: i64,
        /// ISO 4217 code.
        currency: String,
        ;
        /// The amount originally paid, for partial refunds.
        original_amount: i64,
        /// Where the money went back: `card`, `voucher`...
        method: String,
        /// Why.
        reason: String,
    }

    /// An invoice was created.
    InvoiceCreated, INVOICE_CREATED = "invoice.created", "Invoice created",
        "created invoice[ {number}][ for {target}][ ({amount})]"
        money [Money::new("amount", "currency")] {
        /// The invoice number.
        number: String,
        ;
        /// Total in minor units of `currency`.
        amount: i64,
        /// ISO 4217 code.
        currency: String,
    }

    /// An invoice was sent to the customer.
    InvoiceSent, INVOICE_SENT = "invoice.sent", "Invoice sent",
        "sent invoice[ {number}][ for {target}][ to {recipient}]" {
        /// The invoice number.
        number: String,
        ;
        /// Where it was sent.
        recipient: String,
    }

    /// An order was fulfilled: the service was delivered.
    OrderFulfilled, ORDER_FULFILLED = "order.fulfilled", "Order fulfilled",
        "marked {target} as fulfilled[ ({outcome})]" {
        ;
        /// How the service ended: `completed`, `no-show`.
        outcome: String,
    }

    /// An order's payment was kept without the service (late cancellation, no-show).
    OrderForfeited, ORDER_FORFEITED = "order.forfeited", "Order forfeited",
        "forfeited {target}[ ({amount})][: {reason}]"
        money [Money::new("amount", "currency")] {
        ;
        /// Amount kept, in minor units of `currency`.
        amount: i64,
        /// ISO 4217 code.
        currency: String,
        /// Why.
        reason: String,
    }

    // ---- vouchers ----

    /// A voucher (gift card) was bought.
    VoucherPurchased, VOUCHER_PURCHASED = "voucher.purchased", "Voucher purchased",
        "purchased voucher {code}[ worth {amount}]"
        money [Money::new("amount", "currency")] {
        /// The voucher code.
        code: String,
        ;
        /// Value in minor units of `currency`.
        amount: i64,
        /// ISO 4217 code.
        currency: String,
    }

    /// A voucher was used.
    VoucherRedeemed, VOUCHER_REDEEMED = "voucher.redeemed", "Voucher redeemed",
        "redeemed voucher {code}[ for {amount}][ on {target}]"
        money [Money::new("amount", "currency")] {
        /// The voucher code.
        code: String,
        ;
        /// Value used, in minor units of `currency`.
        amount: i64,
        /// ISO 4217 code.
        currency: String,
    }

    /// A voucher ran out.
    VoucherExpired, VOUCHER_EXPIRED = "voucher.expired", "Voucher expired",
        "expired voucher {code}" {
        /// The voucher code.
        code: String,
    }

    // ---- clients ----

    /// A client record was created.
    ClientCreated, CLIENT_CREATED = "client.created", "Client created",
        "added client {target}" {}

    /// A client record was changed; see the event's changes.
    ClientUpdated, CLIENT_UPDATED = "client.updated", "Client updated",
        "updated client {target}" {}

    /// A client record was deleted.
    ClientDeleted, CLIENT_DELETED = "client.deleted", "Client deleted",
        "deleted client {target}" {}

    /// A client's personal data was anonymized (by the business or at the client's request).
    ClientAnonymized, CLIENT_ANONYMIZED = "client.anonymized", "Client anonymized",
        "anonymized client {target}[ (requested by {requested_by})]" {
        ;
        /// Who asked for it: `client`, `staff`.
        requested_by: String,
    }

    /// A file was uploaded to a client record.
    ClientFileUploaded, CLIENT_FILE_UPLOADED = "client.file_uploaded", "Client file uploaded",
        "uploaded {file_name} to {target}" {
        /// The file's name.
        file_name: String,
    }

    /// A client completed a form (intake, consent).
    ClientFormCompleted, CLIENT_FORM_COMPLETED = "client.form_completed", "Client form completed",
        "completed the form {form}[ for {target}]" {
        /// The form's name.
        form: String,
    }

    // ---- services and schedule ----

    /// A bookable service was created.
    ServiceCreated, SERVICE_CREATED = "service.created", "Service created",
        "created service {target}[ ({duration_minutes} min)][ at {price_amount}]"
        money [Money::new("price_amount", "currency")] {
        ;
        /// Length in minutes.
        duration_minutes: u32,
        /// Price in minor units of `currency`.
        price_amount: i64,
        /// ISO 4217 code.
        currency: String,
    }

    /// A service changed; see the event's changes.
    ServiceUpdated, SERVICE_UPDATED = "service.updated", "Service updated",
        "updated service {target}"
        money [Money::new("price_amount", "currency")] {}

    /// A service was deleted.
    ServiceDeleted, SERVICE_DELETED = "service.deleted", "Service deleted",
        "deleted service {target}" {}

    /// Opening hours, a staff schedule or time off were created.
    ScheduleCreated, SCHEDULE_CREATED = "schedule.created", "Schedule created",
        "created schedule {target}" {}

    /// A schedule changed; see the event's changes.
    ScheduleUpdated, SCHEDULE_UPDATED = "schedule.updated", "Schedule updated",
        "updated schedule {target}" {}

    /// A schedule was deleted.
    ScheduleDeleted, SCHEDULE_DELETED = "schedule.deleted", "Schedule deleted",
        "deleted schedule {target}" {}

    // ---- events (classes) ----

    /// A class or group event was added.
    EventCreated, EVENT_CREATED = "event.created", "Event added",
        "added event {target}[ on {start}][ ({capacity} places)]" {
        ;
        /// When it starts.
        #[serde(with = "ts::option")]
        start: OffsetDateTime,
        /// How many can attend.
        capacity: u32,
    }

    /// A class or group event changed; see the event's changes.
    EventUpdated, EVENT_UPDATED = "event.updated", "Event modified",
        "modified event {target}" {}

    /// A class or group event was cancelled.
    EventCancelled, EVENT_CANCELLED = "event.cancelled", "Event cancelled",
        "cancelled event {target}[: {reason}]" {
        ;
        /// Why.
        reason: String,
    }

    // ---- staff users ----

    /// A staff user was added to the account.
    UserAdded, USER_ADDED = "user.added", "User added",
        "added user {target}[ as {role}]" {
        ;
        /// Their role: `staff`, `admin`, `owner`.
        role: String,
    }

    /// A staff user's profile changed; see the event's changes.
    UserUpdated, USER_UPDATED = "user.updated", "User updated",
        "updated user {target}" {}

    /// A staff user was removed from the account.
    UserRemoved, USER_REMOVED = "user.removed", "User removed",
        "removed user {target}" {}

    /// A staff user's role (access level) changed.
    UserRoleChanged, USER_ROLE_CHANGED = "user.role_changed", "User role changed",
        "changed the role of {target}[ from {from} to {to}]"
        stated ["role"] {
        /// The previous role.
        from: String,
        /// The new role.
        to: String,
    }

    // ---- notifications ----

    /// A booking confirmation went out by SMS.
    SmsConfirmationSent, SMS_CONFIRMATION_SENT = "notification.sms_confirmation_sent",
        "SMS confirmation sent", "sent an SMS confirmation for {target}[ to {to}]|could not send an SMS confirmation for {target}[ to {to}]" {
        ;
        /// The recipient's number.
        to: String,
    }

    /// A booking confirmation went out by email.
    EmailConfirmationSent, EMAIL_CONFIRMATION_SENT = "notification.email_confirmation_sent",
        "Email confirmation sent", "sent an email confirmation for {target}[ to {to}]|could not send an email confirmation for {target}[ to {to}]" {
        ;
        /// The recipient's address.
        to: String,
    }

    /// An email about an unconfirmed (requested) booking went out.
    BookingRequestSent, BOOKING_REQUEST_SENT = "notification.request_sent",
        "Booking request email sent", "sent a booking request email for {target}[ to {to}]" {
        ;
        /// The recipient's address.
        to: String,
    }

    /// An email saying an unconfirmed booking was declined went out.
    BookingDeclinedSent, BOOKING_DECLINED_SENT = "notification.declined_sent",
        "Booking declined email sent", "sent a booking declined email for {target}[ to {to}]" {
        ;
        /// The recipient's address.
        to: String,
    }

    /// An appointment reminder went out.
    ReminderSent, REMINDER_SENT = "notification.reminder_sent", "Reminder sent",
        "sent a reminder for {target}[ by {channel}]" {
        ;
        /// `sms`, `email`, `push`.
        channel: String,
    }

    // ---- account security ----

    /// A sign-in: record failures (wrong password, locked account, failed two-factor) with
    /// [`Outcome::failure`](crate::Outcome::failure).
    Login, LOGIN = "account.login", "Login",
        "signed in[ with {method}][ from {ip}]|failed to sign in[ with {method}][ from {ip}]" {
        ;
        /// How: `password`, `sso`, `magic link`.
        method: String,
    }

    /// A sign-out.
    Logout, LOGOUT = "account.logout", "Logout", "signed out" {}

    /// A password was changed (or reset for someone else).
    PasswordChanged, PASSWORD_CHANGED = "account.password_changed", "Password changed",
        "changed the password[ of {target}]" {}

    /// An account's email address changed.
    EmailChanged, EMAIL_CHANGED = "account.email_changed", "Email changed",
        "changed the email[ of {target}][ from {from} to {to}]"
        stated ["email"] {
        /// The previous address.
        from: String,
        /// The new address.
        to: String,
    }

    /// Two-factor authentication was turned on.
    TwoFactorEnabled, TWO_FACTOR_ENABLED = "account.two_factor_enabled",
        "Two-factor authentication enabled", "turned on two-factor authentication[ for {target}]" {}

    /// Two-factor authentication was turned off.
    TwoFactorDisabled, TWO_FACTOR_DISABLED = "account.two_factor_disabled",
        "Two-factor authentication disabled", "turned off two-factor authentication[ for {target}]" {}

    /// A signed-in session was ended remotely.
    SessionRevoked, SESSION_REVOKED = "account.session_revoked", "Session revoked",
        "revoked a session[ of {target}][ on {device}]" {
        ;
        /// The session's device or browser.
        device: String,
    }

    /// An admin locked an account.
    AccountLocked, ACCOUNT_LOCKED = "account.locked", "Account locked",
        "locked the account[ of {target}][: {reason}]" {
        ;
        /// Why.
        reason: String,
    }

    /// An admin unlocked an account.
    AccountUnlocked, ACCOUNT_UNLOCKED = "account.unlocked", "Account unlocked",
        "unlocked the account[ of {target}]" {}

    /// An admin started acting as another user.
    ImpersonationStarted, IMPERSONATION_STARTED = "account.impersonation_started",
        "Impersonation started", "started impersonating {target}[ ({reason})]" {
        ;
        /// Why (a support ticket).
        reason: String,
    }

    /// An admin stopped acting as another user.
    ImpersonationStopped, IMPERSONATION_STOPPED = "account.impersonation_stopped",
        "Impersonation stopped", "stopped impersonating {target}" {}

    // ---- loyalty ----

    /// Loyalty points were awarded.
    PointsAwarded, POINTS_AWARDED = "loyalty.points_awarded", "Loyalty points awarded",
        "awarded[ {points}] points to {target}[ ({reason})]" {
        /// How many.
        points: i64,
        ;
        /// What for.
        reason: String,
    }

    /// A loyalty coupon was redeemed.
    CouponRedeemed, COUPON_REDEEMED = "loyalty.coupon_redeemed", "Coupon redeemed",
        "redeemed coupon {code}[ for {target}]" {
        /// The coupon code.
        code: String,
    }

    /// A loyalty reward was created.
    RewardCreated, REWARD_CREATED = "loyalty.reward_created", "Reward created",
        "created reward {target}[ for {points} points]" {
        ;
        /// Points needed.
        points: i64,
    }

    /// A loyalty reward was edited; see the event's changes.
    RewardUpdated, REWARD_UPDATED = "loyalty.reward_updated", "Reward edited",
        "edited reward {target}" {}
}

/// Payload times as RFC 3339 text in UTC, through the same checked conversion as an event's
/// `occurred_at` (so a time outside the supported range is an error, never a panic).
mod ts {
    use serde::{Deserialize, Deserializer, Serializer};
    use time::format_description::well_known::Rfc3339;
    use time::OffsetDateTime;

    use crate::model::time_util;

    pub(super) fn serialize<S: Serializer>(t: &OffsetDateTime, s: S) -> Result<S::Ok, S::Error> {
        let utc = time_util::recorded("time", *t).map_err(serde::ser::Error::custom)?;
        let text = utc.format(&Rfc3339).map_err(serde::ser::Error::custom)?;
        s.serialize_str(&text)
    }

    pub(super) fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<OffsetDateTime, D::Error> {
        time::serde::rfc3339::deserialize(d)
    }

    pub(super) mod option {
        use super::*;

        pub(in super::super) fn serialize<S: Serializer>(
            t: &Option<OffsetDateTime>,
            s: S,
        ) -> Result<S::Ok, S::Error> {
            match t {
                Some(t) => super::serialize(t, s),
                None => s.serialize_none(),
            }
        }

        pub(in super::super) fn deserialize<'de, D: Deserializer<'de>>(
            d: D,
        ) -> Result<Option<OffsetDateTime>, D::Error> {
            Option::<String>::deserialize(d)?
                .map(|text| {
                    OffsetDateTime::parse(&text, &Rfc3339).map_err(serde::de::Error::custom)
                })
                .transpose()
        }
    }
}
