//! The embeddable viewer (feature `web`): a viewer scoped to one tenant never shows another
//! tenant's events, whatever the URL, its parameters or the cursor say; every recorded value
//! is escaped on every page; refusals are refusals.

use auditkit::sqlite::SqliteStore;
use auditkit::web::{Access, Viewer};
use auditkit::{
    Actor, AsyncAuditTrail, AuditStore, AuditTrail, MemoryStore, NewEvent, Outcome, Query, Target,
};
use axum::body::Body;
use axum::http::{Request, StatusCode};
use axum::Router;
use http_body_util::BodyExt;
use time::macros::datetime;
use time::Duration;
use tower::ServiceExt;

const XSS: &str = "<script>alert('x')</script>";

/// Two tenants with the same booking id; salon-2's events carry a marker that must never
/// reach salon-1's viewer.
fn trail() -> AsyncAuditTrail<MemoryStore> {
    seeded(MemoryStore::new())
}

fn seeded<S: AuditStore + 'static>(store: S) -> AsyncAuditTrail<S> {
    let trail = AuditTrail::new(store);
    for i in 0..70i64 {
        for tenant in ["salon-1", "salon-2"] {
            let label = if tenant == "salon-2" {
                format!("SECRET-OF-SALON-2 {i}")
            } else {
                format!("Haircut {i}")
            };
            trail
                .record(
                    NewEvent::new("booking.created")
                        .occurred_at(datetime!(2026-03-01 09:00 UTC) + Duration::hours(i))
                        .tenant(tenant)
                        .actor(Actor::user("u-1").name("Lena"))
                        .target(Target::new("booking", format!("b-{}", i % 5)).label(label))
                        .related(Target::new("customer", "c-9")),
                )
                .unwrap();
        }
    }
    trail
        .record(
            NewEvent::new("booking.cancelled")
                .occurred_at(datetime!(2026-03-10 09:00 UTC))
                .tenant("salon-1")
                .actor(Actor::user("u-2").name(XSS).role(XSS))
                .target(Target::new("booking", "b-x").label(XSS))
                .context("reason", XSS)
                .context(XSS, "value")
                .before(serde_json::json!({ "note": XSS }))
                .outcome(Outcome::failure(XSS)),
        )
        .unwrap();
    AsyncAuditTrail::new(trail).unwrap()
}

fn app<S: AuditStore + 'static>(trail: &AsyncAuditTrail<S>) -> Router {
    let salon = Viewer::new(trail.clone())
        .zone("Europe/Berlin")
        .access(|_| Some(Access::Tenant("salon-1".into())));
    let admin = Viewer::new(trail.clone())
        .access(|req| (req.headers.get("x-admin").is_some()).then_some(Access::AllTenants));
    Router::new()
        .nest_service("/salon", salon.router())
        .nest_service("/admin", admin.router())
}

async fn get(app: &Router, uri: &str, admin: bool) -> (StatusCode, String) {
    let mut req = Request::get(uri);
    if admin {
        req = req.header("x-admin", "1");
    }
    let res = app
        .clone()
        .oneshot(req.body(Body::empty()).unwrap())
        .await
        .unwrap();
    let status = res.status();
    let body = res.into_body().collect().await.unwrap().to_bytes();
    (status, String::from_utf8_lossy(&body).into_owned())
}

fn cursor_in(html: &str) -> String {
    let at = html.find("after=").expect("a next-page link") + "after=".len();
    html[at..].split('"').next().unwrap().to_owned()
}

#[tokio::test]
async fn a_tenant_viewer_never_sees_another_tenant_s_events() {
    tenant_isolation(trail()).await;
}

#[tokio::test]
async fn a_tenant_viewer_never_sees_another_tenant_s_events_on_sqlite() {
    let dir = tempfile::tempdir().unwrap();
    tenant_isolation(seeded(
        SqliteStore::open(dir.path().join("audit.db")).unwrap(),
    ))
    .await;
}

async fn tenant_isolation<S: AuditStore + 'static>(trail: AsyncAuditTrail<S>) {
    let app = app(&trail);

    // The admin's cursor points into salon-2's events; handed to salon-1's viewer it pages
    // salon-1's log only.
    let (st, admin_page) = get(&app, "/admin/?tenant=salon-2", true).await;
    assert_eq!(st, StatusCode::OK);
    assert!(admin_page.contains("SECRET-OF-SALON-2"));
    let foreign_cursor = cursor_in(&admin_page);

    // Each probe answers as it should (the page, or a refusal) and never with salon-2's
    // events; the pages that answer show salon-1's own.
    let ok = StatusCode::OK;
    let refused = StatusCode::BAD_REQUEST;
    let probes = [
        ("/salon/".to_owned(), ok),
        ("/salon/timeline/booking/b-1".to_owned(), ok),
        ("/salon/timeline/customer/c-9".to_owned(), ok),
        ("/salon/api/timeline/booking/b-1".to_owned(), ok),
        ("/salon/api/events".to_owned(), ok),
        ("/salon/export.csv".to_owned(), ok),
        (format!("/salon/?after={foreign_cursor}"), ok),
        (format!("/salon/api/events?after={foreign_cursor}"), ok),
        ("/salon/?tenant=salon-2".to_owned(), refused),
        ("/salon/api/events?tenant=salon-2".to_owned(), refused),
        ("/salon/export.csv?tenant=salon-2".to_owned(), refused),
        ("/salon/?q=SECRET".to_owned(), ok),
        ("/salon/timeline/booking/b-1?tenant=salon-2".to_owned(), ok),
    ];
    for (uri, want) in &probes {
        let (st, body) = get(&app, uri, false).await;
        assert_eq!(st, *want, "{uri}: {body}");
        assert!(
            !body.contains("SECRET-OF-SALON-2") && !body.contains("salon-2\","),
            "{uri} ({st}) shows salon-2's events"
        );
        let own = body.contains("Haircut ") || body.contains("No events");
        assert!(
            st != ok || own,
            "{uri} shows none of salon-1's own events: {body}"
        );
    }
    // The salon's own timeline of b-1 is all there (14 creations, newest first).
    let (_, timeline) = get(&app, "/salon/api/timeline/booking/b-1", false).await;
    let json: serde_json::Value = serde_json::from_str(&timeline).unwrap();
    assert_eq!(json["events"].as_array().unwrap().len(), 14);

    // The CSV download is exactly export_csv of the same filter, scoped.
    let (_, csv) = get(&app, "/salon/export.csv?action=booking.created", false).await;
    let mut expected = Vec::new();
    trail
        .trail()
        .export_csv(
            &Query::new().tenant("salon-1").action("booking.created"),
            &mut expected,
        )
        .unwrap();
    assert_eq!(csv, String::from_utf8(expected).unwrap());

    // Without access, nothing.
    assert_eq!(get(&app, "/admin/", false).await.0, StatusCode::FORBIDDEN);
    assert_eq!(
        get(&app, "/admin/api/verify", false).await.0,
        StatusCode::FORBIDDEN
    );
}

#[tokio::test]
async fn recorded_markup_is_escaped_on_every_page() {
    let trail = trail();
    let app = app(&trail);
    for uri in [
        "/salon/",
        "/salon/?action=booking.cancelled",
        "/salon/timeline/booking/b-x",
        "/admin/timeline/booking/b-x",
        "/admin/?action=booking.cancelled",
    ] {
        let (st, html) = get(&app, uri, true).await;
        assert_eq!(st, StatusCode::OK, "{uri}");
        assert!(
            html.contains("b-x") || html.contains("Raw event"),
            "{uri}: {html}"
        );
        assert!(!html.contains("<script>alert"), "{uri} lets markup through");
        assert!(
            html.contains("&lt;script&gt;alert("),
            "{uri} lost the escaped text"
        );
    }
    // The JSON endpoints carry it as JSON text, which a browser never runs.
    let (_, json) = get(&app, "/salon/api/timeline/booking/b-x", false).await;
    let v: serde_json::Value = serde_json::from_str(&json).unwrap();
    assert_eq!(v["events"][0]["event"]["target"]["label"], XSS);
}

#[tokio::test]
async fn the_verify_status_says_whether_the_log_holds_together() {
    let trail = trail();
    let app = app(&trail);
    let (st, body) = get(&app, "/salon/api/verify", false).await;
    assert_eq!(st, StatusCode::OK);
    let v: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(v["ok"], true, "{body}");
    // A tenant viewer is not told the size of the whole log; the admin is.
    assert_eq!(v["checked"], serde_json::Value::Null, "{body}");
    let (_, body) = get(&app, "/admin/api/verify", true).await;
    let v: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(v["checked"], 141, "{body}");
}
