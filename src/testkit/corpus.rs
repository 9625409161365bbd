//! The events and queries the checks share: a small booking business with ties on
//! `occurred_at`, events that occurred before earlier-recorded ones, deeper action names, `_`
//! next to `.`, unicode words and every filter's near misses.

use serde_json::json;
use time::{Duration, OffsetDateTime};

use crate::{
    Actor, ActorKind, NewEvent, Outcome, OutcomeFilter, Query, RequestContext, Source, Target,
};

/// 2026-01-10T09:00:00Z plus `minutes` and `micros`.
pub(super) fn at(minutes: i64, micros: i64) -> OffsetDateTime {
    time::macros::datetime!(2026-01-10 09:00:00 UTC)
        + Duration::minutes(minutes)
        + Duration::microseconds(micros)
}

fn booking(id: &str) -> Target {
    Target::new("booking", id)
}

fn customer(id: &str) -> Target {
    Target::new("customer", id)
}

fn order(id: &str) -> Target {
    Target::new("order", id)
}

fn sarah() -> Actor {
    Actor::user("u-1").name("Sarah Connor").role("staff")
}

fn ana() -> Actor {
    Actor::user("u-2").name("Ana").role("staff")
}

/// The shared corpus, in recording order.
pub(super) fn events() -> Vec<NewEvent> {
    vec![
        NewEvent::new("booking.created")
            .tenant("clinic-1")
            .actor(sarah())
            .source(Source::Web)
            .target(booking("b-1").label("Haircut with Sam"))
            .related(customer("c-1").label("Zoë Martin"))
            .after(json!({"slot": {"start": "10:00", "end": "11:00"}, "price": 40}))
            .context("reason", "phone call")
            .occurred_at(at(0, 0)),
        NewEvent::new("booking.rescheduled")
            .tenant("clinic-1")
            .actor(sarah())
            .source(Source::Web)
            .target(booking("b-1").label("Haircut with Sam"))
            .related(customer("c-1"))
            .before(json!({"slot": {"start": "10:00", "end": "11:00"}}))
            .after(json!({"slot": {"start": "12:00", "end": "11:00"}}))
            .context("reason", "customer asked")
            .occurred_at(at(10, 123_456)),
        NewEvent::new("booking.cancelled")
            .tenant("clinic-1")
            .actor(Actor::customer("c-1").name("Zoë Martin"))
            .source(Source::Mobile)
            .target(booking("b-1"))
            .related(customer("c-1"))
            .context("reason", "sick")
            .context("refund", json!({"amount": 40, "currency": "EUR"}))
            .occurred_at(at(20, 0)),
        NewEvent::new("booking.seat.reserved")
            .tenant("clinic-2")
            .actor(Actor::service("api-7"))
            .source(Source::Api)
            .target(booking("b-2"))
            .related(order("o-1"))
            .occurred_at(at(20, 0)),
        NewEvent::new("booking_note.added")
            .tenant("clinic-1")
            .actor(ana())
            .source(Source::Web)
            .target(booking("b-1"))
            .context("note", "Bring the blue dye")
            .occurred_at(at(30, 0)),
        NewEvent::new("payment.captured")
            .tenant("clinic-2")
            .actor(Actor::system())
            .source(Source::Webhook)
            .target(order("o-1").label("Order #1001"))
            .related(customer("c-2"))
            .context("amount", 42.5)
            .context("currency", "USD")
            .occurred_at(at(40, 0)),
        NewEvent::new("payment.failed")
            .tenant("clinic-2")
            .actor(Actor::system())
            .source(Source::Webhook)
            .target(order("o-2"))
            .outcome(Outcome::failure("card declined"))
            .context("amount", 42)
            .occurred_at(at(40, 0)),
        NewEvent::new("payment.refund.issued")
            .tenant("clinic-1")
            .actor(sarah())
            .source(Source::Web)
            .target(order("o-3"))
            .related(customer("c-1"))
            .before(json!({"status": "paid"}))
            .after(json!({"status": "refunded"}))
            .context("amount", 40)
            .occurred_at(at(50, 0)),
        NewEvent::new("account.login_failed")
            .actor(Actor::anonymous())
            .source(Source::Web)
            .outcome(Outcome::failure("unknown email"))
            .request(RequestContext::new().ip("203.0.113.9").request_id("req-1"))
            .context("email_domain", "example.com")
            .occurred_at(at(55, 0)),
        NewEvent::new("account.login")
            .tenant("clinic-1")
            .actor(sarah())
            .source(Source::Mobile)
            .occurred_at(at(60, 0)),
        NewEvent::new("customer.updated")
            .tenant("clinic-1")
            .actor(ana())
            .source(Source::Web)
            .target(customer("c-1").label("Zoë Martin"))
            .before(json!({"phone": "1", "address": {"city": "Paris", "zip": "75001"}}))
            .after(json!({"phone": "2", "address": {"city": "Lyon", "zip": "75001"}}))
            .occurred_at(at(70, 0)),
        NewEvent::new("voucher.redeemed")
            .tenant("clinic-3")
            .actor(Actor::customer("c-3").name("ÉCOLE Durand"))
            .source(Source::Other("kiosk".into()))
            .target(Target::new("voucher", "v-1"))
            .related(customer("c-3"))
            .context("code", "SPRING")
            .occurred_at(at(80, 0)),
        NewEvent::new("service.price_changed")
            .tenant("clinic-2")
            .actor(Actor::user("u-3").name("Bob"))
            .source(Source::Import)
            .target(Target::new("service", "s-1").label("Deep Tissue Massage"))
            .before(json!({"price": 60, "items": [1, 2]}))
            .after(json!({"price": 65, "items": [1, 3, 4]}))
            .occurred_at(at(90, 0)),
        NewEvent::new("notification.sent")
            .tenant("clinic-1")
            .actor(Actor::system())
            .source(Source::System)
            .target(booking("b-1"))
            .related(customer("c-1"))
            .context("channel", "sms")
            .occurred_at(at(95, 1)),
        NewEvent::new("booking.created")
            .tenant("clinic-2")
            .actor(Actor::user("u-3").name("Bob"))
            .source(Source::Web)
            .target(booking("b-3"))
            .occurred_at(at(100, 0)),
        NewEvent::new("staff.role_changed")
            .tenant("clinic-1")
            .actor(sarah().impersonated_by(Actor::user("admin-1").name("Admin")))
            .source(Source::Web)
            .target(Target::new("user", "u-2"))
            .before(json!({"role": "staff"}))
            .after(json!({"role": "manager"}))
            .occurred_at(at(110, 0)),
        // Occurred before most events recorded earlier: timeline order differs from seq order.
        NewEvent::new("booking.no_show")
            .tenant("clinic-1")
            .actor(Actor::system())
            .target(booking("b-1"))
            .occurred_at(at(5, 0)),
        NewEvent::new("loyalty.points_added")
            .tenant("clinic-3")
            .actor(Actor::system())
            .target(customer("c-3"))
            .context("points", u64::MAX)
            .occurred_at(at(120, 0)),
        NewEvent::new("booking.created")
            .tenant("clinic-1")
            .actor(Actor::customer("c-4").name("Walk-in Kim"))
            .source(Source::Mobile)
            .target(booking("b-4"))
            .related(customer("c-4"))
            .context("note", "walk in")
            .occurred_at(at(130, 0)),
        NewEvent::new("order.paid")
            .tenant("clinic-1")
            .actor(Actor::service("api-7"))
            .source(Source::Api)
            .target(order("o-3"))
            .related(booking("b-1"))
            .occurred_at(at(130, 0)),
    ]
}

/// Every filter alone, their near misses, and combinations, each named for failure messages.
pub(super) fn queries() -> Vec<(String, Query)> {
    let q = Query::new;
    let mut out: Vec<(&str, Query)> = vec![
        ("no filter", q()),
        ("tenant(clinic-1)", q().tenant("clinic-1")),
        ("tenant(clinic-2)", q().tenant("clinic-2")),
        ("tenant(nobody)", q().tenant("nobody")),
        ("between(20m, 60m)", q().between(at(20, 0), at(60, 0))),
        ("between(40m, 40m + 1µs)", q().between(at(40, 0), at(40, 1))),
        (
            "between(95m + 1µs, 95m + 2µs)",
            q().between(at(95, 1), at(95, 2)),
        ),
        ("between(95m, 95m + 1µs)", q().between(at(95, 0), at(95, 1))),
        ("since(50m)", q().since(at(50, 0))),
        ("until(20m)", q().until(at(20, 0))),
        ("actor(u-1)", q().actor("u-1")),
        ("actor(nobody)", q().actor("nobody")),
        ("actor_kind(customer)", q().actor_kind(ActorKind::Customer)),
        ("actor_kind(system)", q().actor_kind(ActorKind::System)),
        (
            "actor_kind(anonymous)",
            q().actor_kind(ActorKind::Anonymous),
        ),
        ("action(booking.created)", q().action("booking.created")),
        ("action(account.login)", q().action("account.login")),
        ("action(booking.*)", q().action("booking.*")),
        ("action(payment.*)", q().action("payment.*")),
        ("action(payment.refund.*)", q().action("payment.refund.*")),
        (
            "actions([booking.cancelled, payment.*])",
            q().actions(["booking.cancelled", "payment.*"]),
        ),
        ("target(booking/b-1)", q().target(&booking("b-1"))),
        ("target(order/o-3)", q().target(&order("o-3"))),
        ("target_kind(order)", q().target_kind("order")),
        ("involving(customer/c-1)", q().involving(&customer("c-1"))),
        ("involving(booking/b-1)", q().involving(&booking("b-1"))),
        ("source(web)", q().source(Source::Web)),
        ("source(webhook)", q().source(Source::Webhook)),
        ("source(kiosk)", q().source(Source::Other("kiosk".into()))),
        ("outcome(success)", q().outcome(OutcomeFilter::Success)),
        ("failures()", q().failures()),
        ("search(haircut)", q().search("haircut")),
        ("search(HAIRCUT sam)", q().search("HAIRCUT sam")),
        ("search(cut)", q().search("cut")),
        ("search(zoë)", q().search("zoë")),
        ("search(ZOË)", q().search("ZOË")),
        ("search(école)", q().search("école")),
        ("search(42)", q().search("42")),
        ("search(eur)", q().search("eur")),
        ("search(refund)", q().search("refund")),
        ("search(walk-in)", q().search("walk-in")),
        ("changed(slot)", q().changed("slot")),
        ("changed(slot.start)", q().changed("slot.start")),
        ("changed(slot.end)", q().changed("slot.end")),
        ("changed(address)", q().changed("address")),
        ("changed(items[1])", q().changed("items[1]")),
        ("changed(price)", q().changed("price")),
        (
            "tenant(clinic-1) action(booking.*) since(10m)",
            q().tenant("clinic-1").action("booking.*").since(at(10, 0)),
        ),
        (
            "tenant(clinic-2) failures()",
            q().tenant("clinic-2").failures(),
        ),
        (
            "involving(customer/c-1) actor_kind(customer)",
            q().involving(&customer("c-1"))
                .actor_kind(ActorKind::Customer),
        ),
        (
            "tenant(clinic-1) search(customer) changed(slot)",
            q().tenant("clinic-1").search("customer").changed("slot"),
        ),
        (
            "actor(u-1) source(web) between(0m, 55m)",
            q().actor("u-1")
                .source(Source::Web)
                .between(at(0, 0), at(55, 0)),
        ),
    ];
    out.iter_mut()
        .map(|(n, q)| (n.to_string(), std::mem::take(q)))
        .collect()
}
