//! Realistic booking events, generated deterministically from their index.

use auditkit::{Actor, NewEvent, Outcome, RequestContext, Source, Target};
use serde_json::json;
use time::OffsetDateTime;

pub const TENANTS: u64 = 50;
pub const ACTORS: u64 = 500;
pub const CUSTOMERS_PER_TENANT: u64 = 400;
pub const EVENTS_PER_BOOKING: u64 = 8;
pub const DAY: i64 = 86_400;
/// 2025-01-01T00:00:00Z: the generated log spans one year from here.
pub const BASE: i64 = 1_735_689_600;
pub const SPAN: i64 = 365 * DAY;

fn mix(mut z: u64) -> u64 {
    z = z.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// A small deterministic random stream.
pub struct Rng(pub u64);

impl Rng {
    pub fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(1);
        mix(self.0)
    }
    pub fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

const FIRST: [&str; 24] = [
    "Maria", "Sam", "Olivia", "Noah", "Emma", "Liam", "Ava", "Lucas", "Mia", "Ethan", "Sofia",
    "Mateo", "Chloe", "Leon", "Hannah", "Jonas", "Elena", "Felix", "Zoe", "Omar", "Ines", "Yusuf",
    "Nora", "Ravi",
];
pub const SURNAMES: [&str; 40] = [
    "lopez", "smith", "novak", "garcia", "muller", "rossi", "dubois", "kowalski", "jensen",
    "silva", "tanaka", "okafor", "nguyen", "haddad", "petrov", "larsen", "moreau", "fischer",
    "conti", "walsh", "ibrahim", "kim", "singh", "costa", "berg", "weber", "ramos", "quinn",
    "hughes", "varga", "sato", "mendes", "adler", "brandt", "keller", "lind", "marin", "nolan",
    "ortiz", "price",
];
const SERVICES: [(&str, i64); 8] = [
    ("Haircut", 4500),
    ("Colour", 9000),
    ("Massage", 7000),
    ("Physio session", 6500),
    ("Dental check-up", 8000),
    ("Manicure", 3000),
    ("Boiler service", 12000),
    ("Consultation", 5000),
];
const BOOKING_ACTIONS: [&str; 6] = [
    "booking.created",
    "booking.rescheduled",
    "booking.confirmed",
    "booking.checked_in",
    "booking.completed",
    "booking.cancelled",
];
const ORDER_ACTIONS: [&str; 4] = [
    "order.created",
    "order.paid",
    "order.refunded",
    "payment.failed",
];
const AUTH_ACTIONS: [&str; 4] = [
    "auth.login",
    "auth.login_failed",
    "auth.logout",
    "auth.password_changed",
];

fn cap(s: &str) -> String {
    let mut c = s.chars();
    c.next()
        .map(|f| f.to_uppercase().collect::<String>() + c.as_str())
        .unwrap_or_default()
}

fn customer_name(tenant: u64, c: u64) -> (String, &'static str) {
    let k = mix(tenant * 100_000 + c);
    let first = FIRST[(k % 24) as usize];
    let last = SURNAMES[((k >> 8) % 40) as usize];
    (format!("{first} {}", cap(last)), last)
}

fn actor_of(a: u64) -> Actor {
    let k = mix(a ^ 0xAC70);
    let role = ["staff", "manager", "owner", "front_desk"][(k % 4) as usize];
    Actor::user(format!("u-{a}"))
        .name(format!(
            "{} {}",
            FIRST[((k >> 4) % 24) as usize],
            cap(SURNAMES[((k >> 12) % 40) as usize])
        ))
        .role(role)
        .email(format!("staff{a}@example.com"))
}

pub fn at(secs: i64) -> OffsetDateTime {
    OffsetDateTime::from_unix_timestamp(secs).expect("valid time")
}

fn rfc3339(secs: i64) -> String {
    at(secs)
        .format(&time::format_description::well_known::Rfc3339)
        .expect("formats")
}

/// The `i`-th event of a log of `n`: times spread over one year in order, with jitter.
fn event(i: u64, n: u64) -> NewEvent {
    let mut r = Rng(mix(i ^ 0x5EED));
    let when = BASE + (i as i128 * SPAN as i128 / n.max(1) as i128) as i64 - r.below(3_600) as i64;
    let booking = (i / EVENTS_PER_BOOKING).saturating_sub(r.below(64));
    let tenant = mix(booking) % TENANTS;
    // 10 staff accounts per tenant.
    let actor_n = tenant + TENANTS * r.below(ACTORS / TENANTS);
    let customer = mix(booking ^ 0xC057) % CUSTOMERS_PER_TENANT;
    let (cname, _) = customer_name(tenant, customer);
    let (service, price) = SERVICES[(mix(booking ^ 0x5E) % 8) as usize];
    let tenant_s = format!("tenant-{tenant:02}");
    let customer_t = Target::new("customer", format!("c-{tenant}-{customer}")).label(&cname);
    let request = RequestContext::new()
        .ip(format!(
            "10.{}.{}.{}",
            r.below(256),
            r.below(256),
            r.below(256)
        ))
        .user_agent("Mozilla/5.0 (Macintosh; Intel Mac OS X 14_5) AppleWebKit/605.1.15")
        .request_id(format!("req-{:016x}", r.next()));
    let roll = r.below(100);
    let e = if roll < 60 {
        let action = BOOKING_ACTIONS[r.below(6) as usize];
        let slot = BASE + (booking as i64 % 400) * DAY + 9 * 3_600;
        let moved = slot + (1 + r.below(14) as i64) * DAY;
        let mut e = NewEvent::new(action)
            .target(
                Target::new("booking", format!("b-{booking}"))
                    .label(format!("{service} for {cname}")),
            )
            .related(customer_t)
            .context("service", service)
            .context("staff", format!("s-{}", r.below(12)))
            .context("location", "Main Street 12, Springfield")
            .context("channel", ["web", "phone", "walk_in"][r.below(3) as usize]);
        e = match action {
            "booking.rescheduled" => e
                .before(json!({"slot": {"start": rfc3339(slot), "end": rfc3339(slot + 3_600)}, "staff": "s-1"}))
                .after(json!({"slot": {"start": rfc3339(moved), "end": rfc3339(moved + 3_600)}, "staff": "s-2"}))
                .context("reason", "customer asked to move it"),
            "booking.cancelled" => e
                .before(json!({"status": "confirmed"}))
                .after(json!({"status": "cancelled"}))
                .context("reason", "customer is ill"),
            "booking.created" => e.after(json!({
                "status": "pending",
                "slot": {"start": rfc3339(slot), "end": rfc3339(slot + 3_600)},
                "price": {"amount": price, "currency": "EUR"}
            })),
            _ => e
                .before(json!({"status": "pending"}))
                .after(json!({"status": action.trim_start_matches("booking.")})),
        };
        e.actor(actor_of(actor_n)).source(Source::Web)
    } else if roll < 85 {
        let action = ORDER_ACTIONS[r.below(4) as usize];
        let order = format!("o-{booking}");
        let e = NewEvent::new(action)
            .target(Target::new("order", order).label(format!("{service} for {cname}")))
            .related(customer_t)
            .related(Target::new("booking", format!("b-{booking}")))
            .context("amount", price)
            .context("currency", "EUR")
            .context("method", ["card", "cash", "voucher"][r.below(3) as usize])
            .context("service", service)
            .before(json!({"status": "open", "paid": 0}))
            .after(json!({"status": "paid", "paid": price, "lines": [{"sku": service, "qty": 1}]}));
        let e = if action == "payment.failed" {
            e.outcome(Outcome::failure("card declined"))
        } else {
            e
        };
        e.actor(actor_of(actor_n)).source(Source::Api)
    } else {
        let action = AUTH_ACTIONS[r.below(4) as usize];
        let actor = actor_of(actor_n);
        let e = NewEvent::new(action)
            .target(Target::new("user", actor.id.clone()))
            .context("method", "password")
            .context("mfa", r.below(2) == 0)
            .context("device", "MacBook Pro, Safari 17")
            .context("location", "Springfield, US");
        let e = if action == "auth.login_failed" {
            e.outcome(Outcome::failure("wrong password"))
        } else {
            e
        };
        e.actor(actor).source(Source::Web)
    };
    e.tenant(tenant_s).occurred_at(at(when)).request(request)
}

pub fn events(range: std::ops::Range<u64>, n: u64) -> Vec<NewEvent> {
    range.map(|i| event(i, n)).collect()
}
