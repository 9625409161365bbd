//! Each product page's example, run in-process: what its screen shows.
//!
//! The examples are compiled into this test as modules (their `main` unused), so their output
//! is checked without spawning `cargo run`. Their times are fixed, so lines are exact.
#![cfg(feature = "sqlite")]

#[allow(dead_code)]
#[path = "../examples/bellafy.rs"]
mod bellafy;
#[allow(dead_code)]
#[path = "../examples/bookitlive.rs"]
mod bookitlive;
#[allow(dead_code)]
#[path = "../examples/calcom.rs"]
mod calcom;
#[cfg(feature = "sign")]
#[allow(dead_code)]
#[path = "../examples/dispute.rs"]
mod dispute;
#[allow(dead_code)]
#[path = "../examples/in_transaction.rs"]
mod in_transaction;
#[allow(dead_code)]
#[path = "../examples/octopuspro.rs"]
mod octopuspro;
#[allow(dead_code)]
#[path = "../examples/opencals.rs"]
mod opencals;
#[allow(dead_code)]
#[path = "../examples/quickstart.rs"]
mod quickstart;

fn output(run: fn(&mut Vec<u8>) -> auditkit::Result<()>) -> String {
    let mut out = Vec::new();
    run(&mut out).expect("the example runs");
    String::from_utf8(out).expect("utf-8 output")
}

/// Every `want` line appears in `text`, in this order.
fn assert_lines_in_order(text: &str, want: &[&str]) {
    let lines: Vec<&str> = text.lines().collect();
    let mut at = 0;
    for w in want {
        match lines[at..].iter().position(|l| l == w) {
            Some(i) => at += i + 1,
            None => panic!("line {w:?} missing (or out of order) in:\n{text}"),
        }
    }
}

#[test]
fn opencals_booking_timeline_and_order_lifecycle() {
    let text = output(opencals::run);
    assert_lines_in_order(
        &text,
        &[
            "Booking Haircut with Sam · history (newest first)",
            "  Tue 13 Jan 2026 11:00 CET · Sarah (manager) refunded €45.00 for Order #77 to card (cancelled more than 24 hours ahead) [staff, 2 hours ago]",
            "  Mon 12 Jan 2026 21:05 CET · Alex Doe (customer) cancelled Haircut with Sam: feeling unwell [customer action, 15 hours ago]",
            "  Tue 6 Jan 2026 14:15 CET · Sarah (manager) rescheduled Haircut with Sam from Sat 10 Jan 14:00 to Thu 15 Jan 09:00 (customer called to move it) [staff, 1 week ago]",
            "  Mon 5 Jan 2026 19:30 CET · System confirmed Haircut with Sam (auto-confirm for returning customers) [system, 1 week ago]",
            "  Mon 5 Jan 2026 19:30 CET · Alex Doe (customer) created Haircut with Sam for Sat 10 Jan 14:00 with Sam [customer action, 1 week ago]",
            "Order #77 · payment lifecycle",
            "  Order created        Mon 5 Jan 2026 19:30 CET · Alex Doe (customer) created Order #77 for €45.00",
            "  Payment received     Mon 5 Jan 2026 19:31 CET · Stripe (integration) recorded a payment of €45.00 by card for Order #77",
            "  Payment refunded     Tue 13 Jan 2026 11:00 CET · Sarah (manager) refunded €45.00 for Order #77 to card (cancelled more than 24 hours ahead)",
            "Order #81 · payment lifecycle",
            "  Sam (staff) marked Colour with Sam as a no-show (customer)",
            "  System marked Order #81 as fulfilled (no-show)",
            "Who processed this refund? Sarah (manager), Tue 13 Jan 2026 11:00 CET",
            "Did the customer cancel, or did we? the customer (from mobile)",
            "Nothing altered: true",
        ],
    );
}

#[test]
fn octopuspro_change_log_report_and_customer_history() {
    let text = output(octopuspro::run);
    assert_lines_in_order(
        &text,
        &[
            "Booking History · Aircon service, 12 High St (newest first)",
            "  Fri 6 Mar 2026 16:00 AEDT · Ola (fieldworker) · Booking completed",
            "      status: scheduled → completed",
            "  Tue 3 Mar 2026 10:05 AEDT · Priya (dispatcher) · Booking reassigned",
            "      technician: Ben → Ola",
            "  Tue 3 Mar 2026 10:00 AEDT · Priya (dispatcher) · Booking rescheduled",
            "      start: 2026-03-04T22:00:00Z → 2026-03-06T02:00:00Z",
            "  Mon 2 Mar 2026 15:30 AEDT · Kim (admin) · Booking modified",
            "      price: 12000 → 15000",
            "  Mon 2 Mar 2026 09:00 AEDT · Priya (dispatcher) · Booking created",
            "      price: — → 12000",
            "Booking History Log · week of 2 Mar 2026 (Australia/Sydney)",
            "  day           new  modified",
            // 09:00 in Sydney on 2 March is 22:00 UTC on 1 March: counted on the 2nd.
            "  2026-03-02      1         1",
            "  2026-03-03      1         2",
            "  2026-03-04      1         1",
            "  2026-03-06      0         1",
            "  changes by user: u-2: 5, system: 2, c-88: 1, u-1: 1, u-7: 1",
            "Customer profile · History of Jordan Lee",
        ],
    );
    for want in [
        "  Mon 2 Mar 2026 15:30 AEDT · Kim (admin) modified Aircon service, 12 High St (reason: second indoor unit), changing price from 120.00 AUD to 150.00 AUD",
        "  Tue 3 Mar 2026 20:10 AEDT · Jordan Lee (customer) created Gutter clean, 12 High St for Wed 11 Mar 10:00, setting price to 90.00 AUD and status to scheduled",
        "  Wed 4 Mar 2026 08:45 AEDT · Priya (dispatcher) cancelled Gutter clean, 12 High St: customer request by phone, changing status from scheduled to cancelled",
        "  Mon 9 Mar 2026 11:00 AEDT · Kim (admin) recorded a payment of 150.00 AUD by bank transfer for Aircon service, 12 High St",
    ] {
        assert!(text.lines().any(|l| l == want), "missing {want:?} in:\n{text}");
    }
    // The other customer's booking is in the report but not in Jordan's history.
    let history = text
        .split("Customer profile")
        .nth(1)
        .expect("history section");
    assert!(!history.contains("Boiler check"), "{history}");
    assert_eq!(
        history.lines().filter(|l| l.starts_with("  ")).count(),
        10,
        "{history}"
    );
}

#[test]
fn bellafy_activity_log_filters_and_csv() {
    let text = output(bellafy::run);
    assert_lines_in_order(
        &text,
        &[
            "Activity log · 27–31 Mar 2026 · times in Europe/London",
            // After the switch to summer time: BST.
            "  Sun 29 Mar 2026 10:00 BST | System | Payment refunded | Deep tissue massage with Maya",
            "      System refunded £65.00 for Deep tissue massage with Maya to card (cancellation policy: more than 24 hours ahead)",
            // Before it: GMT.
            "  Sat 28 Mar 2026 08:58 GMT | Leo | Login | -",
            "      Leo (reception) failed to sign in with password from 203.0.113.9: wrong password",
            "  Fri 27 Mar 2026 08:02 GMT | Dr Maya Patel | Login | -",
            "      Dr Maya Patel (owner) signed in with password from 198.51.100.7",
            "Filter · action type: payments",
            "  Mon 30 Mar 2026 08:30 BST | Stripe | Payment failed | Facial with Leo",
            "  Sun 29 Mar 2026 10:00 BST | System | Payment refunded | Deep tissue massage with Maya",
            "  Fri 27 Mar 2026 19:45 GMT | Stripe | Payment received | Deep tissue massage with Maya",
            "Filter · actor: Leo · 28 Mar only",
            "  Sat 28 Mar 2026 09:02 GMT | Leo | Two-factor authentication enabled | -",
            "  Sat 28 Mar 2026 09:01 GMT | Leo | Password changed | -",
            "Export · payments.csv",
            "timestamp,actor,action,target,details,status",
            "Fri 27 Mar 2026 19:45 GMT,Stripe,Payment received,Deep tissue massage with Maya,Stripe (integration) recorded a payment of £65.00 by card for Deep tissue massage with Maya,success",
            "Mon 30 Mar 2026 08:30 BST,Stripe,Payment failed,Facial with Leo,Stripe (integration) could not charge £40.00 by card for Facial with Leo: card declined,success",
            "Full export · 3 rows with every column (UTC and Europe/London times, request context, hashes)",
            "Log intact: true",
        ],
    );
    let leo = text
        .split("Filter · actor: Leo")
        .nth(1)
        .and_then(|s| s.split("Export").next())
        .expect("actor section");
    assert_eq!(
        leo.lines().filter(|l| l.contains(" | ")).count(),
        4,
        "{leo}"
    );
    assert!(text.contains("System anonymized client #311 (requested by client)"));
}

#[test]
fn calcom_booking_timeline_security_and_filters() {
    let text = output(calcom::run);
    assert_lines_in_order(
        &text,
        &[
            "Booking audit log · 30 min meeting between Nina and Omar (newest first)",
            "  • Org admin Rita as Pia (host) changed the location of 30 min meeting between Nina and Omar from Zoom to Google Meet",
            "      Pia · host · 2 days ago (Wed 14 Jan 2026 10:05 EST) · web app",
            "      impersonated by Rita (org admin)",
            "      Omar · attendee · 4 days ago (Mon 12 Jan 2026 06:00 EST) · API",
            "  • Cal.com reassigned 30 min meeting between Nina and Omar from Nina to Pia (round robin)",
            "  • Omar (attendee) rescheduled 30 min meeting between Nina and Omar from Sat 10 Jan 10:00 to Thu 15 Jan 14:00, new booking bk-2",
            "  • Nina (host) requested a new time for 30 min meeting between Nina and Omar: conflict with a client call",
            "Raw data of the impersonated change:",
            "Security events (newest first)",
            "  • Rita (org admin) started impersonating Pia (support ticket #4411)",
            "  • Pia (host) changed the email of Pia from pia@oldmail.test to pia@acme.test",
            "  • Rita (org admin) locked the account of Ken: repeated failed sign-ins",
            "  • Ken failed to sign in with password from 203.0.113.50: failed two-factor verification",
            "  • ken@acme.test failed to sign in with password from 203.0.113.50: wrong password",
            "      ken@acme.test · anonymous · 3 days ago (Tue 13 Jan 2026 02:58 EST) · web app",
            "Search \"location\":",
            "  Org admin Rita as Pia (host) changed the location of 30 min meeting between Nina and Omar from Zoom to Google Meet (2 days ago)",
            "Actor filter \"Omar\":",
            "Failed sign-ins: 2",
            "Booking event taxonomy:",
            "  booking.reschedule_requested   Reschedule requested",
            "  booking.seat_rescheduled       Seat rescheduled",
            "Security event taxonomy:",
            "  account.impersonation_stopped  Impersonation stopped",
        ],
    );
    let raw = text
        .lines()
        .skip_while(|l| *l != "Raw data of the impersonated change:")
        .nth(1)
        .expect("raw line");
    let raw: serde_json::Value = serde_json::from_str(raw.trim()).expect("raw data is JSON");
    assert_eq!(raw["actor"]["impersonator"]["name"], "Rita");
    assert_eq!(raw["context"]["to"], "Google Meet");
    let search = text.split("Search \"location\":").nth(1).expect("search");
    let search = search.split("Actor filter").next().unwrap_or_default();
    assert_eq!(
        search.lines().filter(|l| !l.is_empty()).count(),
        1,
        "{search}"
    );
}

#[test]
fn bookitlive_search_with_before_and_after_past_90_days() {
    let text = output(bookitlive::run);
    assert_lines_in_order(
        &text,
        &[
            "Audit Log · business biz-101 · 1 Jan – 30 Nov 2026 (334 days)",
            "Record type: Booking · items found: 3",
            "  Sun 1 Feb 2026 11:30 AEST | Booking · Booking modified | Kai (staff, kai@spa.test) | client Mia Chen | txn bk-1001 / - | Success",
            "      before: {\"staff\":\"Ana\",\"start\":\"2026-02-03T00:00:00Z\"}",
            "      after:  {\"staff\":\"Ben\",\"start\":\"2026-02-05T04:00:00Z\"}",
            "  Thu 18 Jun 2026 12:00 AEST | Booking · Booking cancelled | Kai (staff, kai@spa.test) | client Mia Chen | txn bk-1001 / - | Success",
            "Record type: Purchase · items found: 2",
            "  Thu 18 Jun 2026 12:10 AEST | Purchase · Payment refunded (Partial) | Jo Smith (manager, jo@spa.test) | client Mia Chen | txn pu-501 / INV-300 | Success",
            "      Jo Smith (manager) refunded 20.00 AUD of 60.00 AUD for Purchase pu-501 to card (late cancellation fee kept)",
            "User: Jo Smith · Record type: User · items found: 3",
            "  Mon 2 Nov 2026 09:00 AEST | User · User removed | Jo Smith (manager, jo@spa.test) | client - | txn u-kai / - | Success",
            "Client: Mia Chen · Action: Modify · items found: 1",
            "      before: {\"phone\":\"+61 400 000 007\"}",
            "      after:  {\"phone\":\"+61 400 000 070\"}",
            "Status: Failed · items found: 1",
            "  Tue 20 Jan 2026 14:00 AEST | Notify · Email confirmation sent | system (system, -) | client Mia Chen | txn bk-1001 / - | Failed",
            "      System could not send an email confirmation for Facial 60 min to mia@example.com: mailbox full",
            "All biz-101 items: 19 · about Mia Chen: 12 · all biz-202 items: 1 · log intact: true",
        ],
    );
}

#[test]
fn quickstart_still_prints_a_verified_timeline() {
    let text = output(quickstart::run);
    assert!(
        text.starts_with("Timeline of Haircut with Sam (newest first):"),
        "{text}"
    );
    for want in [
        "Sarah (staff) rescheduled Haircut with Sam (customer called to move it), changing start from Sat 10 Jan 14:00 to Thu 15 Jan 09:00",
        "Sarah (staff) refunded €45.00 for order o-77 to card",
        "verify: ",
    ] {
        assert!(text.contains(want), "missing {want:?} in:\n{text}");
    }
}

#[test]
fn in_transaction_records_the_same_day_both_ways() {
    let dir = tempfile::tempdir().unwrap();
    let mut out = Vec::new();
    in_transaction::run(dir.path(), &mut out).expect("the example runs");
    let text = String::from_utf8(out).unwrap();
    let timeline = [
        "  #4 Sarah (staff) cancelled Massage 60 min: customer is ill, changing status from booked to cancelled",
        "  #3 Alex Doe (customer) cancelled Massage 60 min — failed: less than 24 hours before the start",
        "  #2 Sarah (staff) rescheduled Massage 60 min (customer called), changing start from Sat 28 Mar 10:00 to Mon 30 Mar 10:30",
        "  #1 Alex Doe (customer) created Massage 60 min for Sat 28 Mar 10:00, setting status to booked",
    ];
    let mut want = vec!["In the app's transaction (one file, record_in):"];
    want.extend(timeline);
    want.push("With an outbox (events queued in the app's transaction, recorded afterwards):");
    want.extend(timeline);
    want.push("both ways recorded the same 4 events: true");
    assert_lines_in_order(&text, &want);
    // The first way kept the log in the app's own file, beside its tables.
    let app = auditkit::sqlite::rusqlite::Connection::open(dir.path().join("app.db")).unwrap();
    let status: String = app
        .query_row("SELECT status FROM bookings WHERE id = 'b-1'", [], |r| {
            r.get(0)
        })
        .unwrap();
    assert_eq!(status, "cancelled");
    let events: i64 = app
        .query_row("SELECT COUNT(*) FROM auditkit_events", [], |r| r.get(0))
        .unwrap();
    assert_eq!(events, 4);
}

#[cfg(feature = "sign")]
#[test]
fn dispute_hands_over_a_bundle_an_outsider_verifies_and_edits_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let mut out = Vec::new();
    dispute::run(dir.path(), &mut out).expect("the example runs");
    let text = String::from_utf8(out).unwrap();
    for want in [
        "ok: 3 events about booking:b-1 (tenant salon-7) are in log ",
        "none involving it between seq 1 and 6 is left out, and seq 1 is its first; the checkpoint is signed by audit.salon-7.example",
        "  #5 2026-03-24T14:15:00Z  Sarah (staff) rescheduled Colour & cut (customer called to move it)",
        "  the reschedule's time changed: refused: ",
        "  the reschedule left out: refused: ",
    ] {
        assert!(text.contains(want), "missing {want:?} in:\n{text}");
    }
    assert!(!text.contains("ACCEPTED"), "{text}");
}
