//! An embeddable audit viewer (feature `web`): an axum [`Router`] your app mounts in its admin
//! area, showing a target's timeline and the filtered audit log to the people who read it (a
//! clinic owner, a support agent), each held to what they may see.
//!
//! - `GET /timeline/{kind}/{id}`: everything involving a booking, an order or a customer
//!   (across bookings), newest first: the sentence in the business's time zone, relative
//!   time with the exact time on hover, actor and role, source, impersonation, each changed
//!   field old → new, the raw event on demand.
//! - `GET /`: the audit log, filtered by local date range, actor, action (`booking.*`) and
//!   keyword, 50 a page with a cursor, a CSV download of exactly the filtered view
//!   (`/export.csv`, the same columns as [`crate::AuditTrail::export_csv`]), and the verify
//!   status (a whole-log verify, run at most once a minute however many pages are viewed).
//! - JSON behind the same views: `/api/events`, `/api/timeline/{kind}/{id}`, `/api/verify`.
//!
//! Every request is scoped by your resolver ([`Viewer::access`]): from the request (the
//! session your auth middleware put in its extensions; never a header or parameter the
//! client sends) it returns the tenant the viewer may read,
//! [`Access::AllTenants`] for a platform admin, or `None` to refuse (403). A tenant viewer's
//! queries are held to its tenant whatever the URL, its parameters or the cursor say. Seq
//! numbers are the log's own order across tenants, so a tenant viewer sees the seq of its
//! events (and can tell how many were recorded between two of them), never their content.
//! Every value is HTML-escaped; the CSS and script are embedded, so the pages work offline.
//!
//! ```
//! use auditkit::web::{Access, Viewer};
//! use auditkit::{AsyncAuditTrail, AuditTrail, MemoryStore};
//! use axum::Router;
//!
//! /// What your session middleware knows about the signed-in user.
//! #[derive(Clone)]
//! struct Staff {
//!     tenant: String,
//! }
//!
//! # fn main() -> auditkit::Result<()> {
//! let trail = AsyncAuditTrail::new(AuditTrail::new(MemoryStore::new()))?;
//! let viewer = Viewer::new(trail)
//!     .zone("Europe/Berlin")
//!     // Your auth middleware (outside the viewer) put the signed-in staff member there.
//!     .access(|req| {
//!         let staff = req.extensions.get::<Staff>()?;
//!         Some(Access::Tenant(staff.tenant.clone()))
//!     });
//! // `nest_service` answers both `/admin/audit` and `/admin/audit/` (axum's `nest` only the
//! // first, and the viewer's links end in a slash).
//! let app: Router = Router::new().nest_service("/admin/audit", viewer.router());
//! # let _ = app;
//! # Ok(()) }
//! ```

mod html;
mod params;

use std::sync::Arc;
use std::time::{Duration, Instant};

use ::axum::body::Body;
use ::axum::extract::{OriginalUri, Path, Query as UrlQuery, State};
use ::axum::http::{header, request::Parts, StatusCode, Uri};
use ::axum::response::{Html, IntoResponse, Response};
use ::axum::routing::get;
use ::axum::{Json, Router};
use serde_json::{json, Value};
use time::OffsetDateTime;

use crate::integrity::VerifyReport;
use crate::model::defaults::EventDefaults;
use crate::model::event::{Event, Target};
use crate::query::{Page, Query};
use crate::store::AuditStore;
use crate::trail::async_trail::{AsyncAuditTrail, AsyncScopedTrail};
use crate::trail::scoped::within_tenant;
use crate::{Error, Result};
use params::Filters;

/// What a viewer may read, as your resolver decides it from the request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Access {
    /// This tenant's events only.
    Tenant(String),
    /// Every tenant's (a platform admin).
    AllTenants,
}

type Resolver = Arc<dyn Fn(&Parts) -> Option<Access> + Send + Sync>;

/// How long a verify result is shown before the next page view runs verify again: a
/// whole-log verify reads every event, and page views must not queue one each on the
/// reader threads.
const VERIFY_FRESH: Duration = Duration::from_secs(60);

/// The viewer's settings; [`Viewer::router`] makes the routes.
pub struct Viewer<S> {
    trail: AsyncAuditTrail<S>,
    zone: String,
    access: Resolver,
    /// The last verify and when it finished; the lock is held while one runs, so concurrent
    /// page views wait for it instead of starting their own.
    verified: Arc<tokio::sync::Mutex<Option<(Instant, VerifyReport)>>>,
}

impl<S> std::fmt::Debug for Viewer<S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Viewer")
            .field("zone", &self.zone)
            .finish_non_exhaustive()
    }
}

impl<S: AuditStore + 'static> Viewer<S> {
    /// A viewer of `trail`, in UTC, that refuses everyone until [`Viewer::access`] says who
    /// may read what.
    pub fn new(trail: AsyncAuditTrail<S>) -> Self {
        Viewer {
            trail,
            zone: "UTC".into(),
            access: Arc::new(|_| None),
            verified: Arc::default(),
        }
    }

    /// The business's IANA time zone: sentences, times and the date filters are in it.
    #[must_use]
    pub fn zone(mut self, zone: impl Into<String>) -> Self {
        self.zone = zone.into();
        self
    }

    /// Who may read what: from the request, the tenant the viewer may read,
    /// [`Access::AllTenants`], or `None` to refuse it (403).
    #[must_use]
    pub fn access(
        mut self,
        resolve: impl Fn(&Parts) -> Option<Access> + Send + Sync + 'static,
    ) -> Self {
        self.access = Arc::new(resolve);
        self
    }

    /// The routes, to mount with `nest_service` under a path of your admin area (or serve on
    /// their own). An unknown zone is reported on every page.
    pub fn router(self) -> Router {
        let state = Arc::new(self);
        Router::new()
            .route("/", get(log_page::<S>))
            .route("/timeline/{kind}/{id}", get(timeline_page::<S>))
            .route("/export.csv", get(export_csv::<S>))
            .route("/api/events", get(api_events::<S>))
            .route("/api/timeline/{kind}/{id}", get(api_timeline::<S>))
            .route("/api/verify", get(api_verify::<S>))
            .with_state(state)
    }
}

type Shared<S> = State<Arc<Viewer<S>>>;

/// What a request may read: its scoped trail, and whether it sees every tenant.
struct Scope<S> {
    trail: AsyncScopedTrail<S>,
    all_tenants: bool,
    base: String,
}

/// A refusal, as a page or as JSON.
struct Refusal {
    status: StatusCode,
    message: String,
    base: String,
    json: bool,
}

impl IntoResponse for Refusal {
    fn into_response(self) -> Response {
        if self.json {
            (self.status, Json(json!({ "error": self.message }))).into_response()
        } else {
            (
                self.status,
                Html(html::error_page(&self.base, &self.message)),
            )
                .into_response()
        }
    }
}

/// The mount point of the viewer, from the full path and the path inside the viewer: links
/// are made absolute from it, so they work however the app nests the router.
fn base_of(original: &Uri, inner: &Uri) -> String {
    let full = original.path();
    let prefix = full.strip_suffix(inner.path()).unwrap_or(full);
    format!("{}/", prefix.trim_end_matches('/'))
}

impl<S: AuditStore + 'static> Viewer<S> {
    fn scope(&self, parts: &Parts, json: bool) -> std::result::Result<Scope<S>, Refusal> {
        let original = parts
            .extensions
            .get::<OriginalUri>()
            .map_or_else(|| parts.uri.clone(), |o| o.0.clone());
        let base = base_of(&original, &parts.uri);
        match (self.access)(parts) {
            Some(Access::Tenant(t)) => Ok(Scope {
                trail: self.trail.scoped(EventDefaults::new().tenant(t)),
                all_tenants: false,
                base,
            }),
            Some(Access::AllTenants) => Ok(Scope {
                trail: self.trail.scoped(EventDefaults::new()),
                all_tenants: true,
                base,
            }),
            None => Err(Refusal {
                status: StatusCode::FORBIDDEN,
                message: "you may not read this audit log".into(),
                base,
                json,
            }),
        }
    }
}

impl<S> Scope<S> {
    fn refuse(&self, e: &Error, json: bool) -> Refusal {
        Refusal {
            status: crate::axum::status_of(e),
            message: e.to_string(),
            base: self.base.clone(),
            json,
        }
    }
}

/// The query the filters ask for, held to the scope's tenant.
fn filtered<S: AuditStore + 'static>(
    scope: &Scope<S>,
    f: &Filters,
    zone: &str,
    paged: bool,
) -> Result<Query> {
    let q = f.query(zone, paged)?;
    within_tenant(scope.trail.defaults().tenant.as_deref(), &q)
}

type Answer = std::result::Result<Response, Refusal>;

async fn log_page<S: AuditStore + 'static>(
    State(v): Shared<S>,
    parts: Parts,
    UrlQuery(f): UrlQuery<Filters>,
) -> Answer {
    let scope = v.scope(&parts, false)?;
    let page = read_page(&scope, &v.zone, &f)
        .await
        .map_err(|e| scope.refuse(&e, false))?;
    let now = OffsetDateTime::now_utc();
    let mut body = String::new();
    html::filter_form(&mut body, &scope.base, &f, scope.all_tenants);
    let filters = f.to_query_string();
    let amp = if filters.is_empty() { "" } else { "&" };
    body.push_str(&format!(
        "<p class=\"paging\"><a class=\"button secondary\" id=\"download-csv\" href=\"{}export.csv?{}\">Download CSV</a></p>",
        html::esc(&scope.base),
        html::esc(&filters)
    ));
    events_list(&mut body, &page.events, &v.zone, now, scope.all_tenants)
        .map_err(|e| scope.refuse(&e, false))?;
    body.push_str("<p class=\"paging\">");
    if !f.after.is_empty() {
        body.push_str(&format!(
            "<a class=\"button secondary\" href=\"{}?{}\">First page</a>",
            html::esc(&scope.base),
            html::esc(&filters)
        ));
    }
    if let Some(next) = &page.next {
        body.push_str(&format!(
            "<a class=\"button\" id=\"next-page\" href=\"{}?{}{amp}after={}\">Older events</a>",
            html::esc(&scope.base),
            html::esc(&filters),
            html::esc(&params::percent(&next.to_string()))
        ));
    }
    body.push_str("</p>");
    Ok(Html(html::page(&scope.base, "Audit log", &body)).into_response())
}

async fn read_page<S: AuditStore + 'static>(
    scope: &Scope<S>,
    zone: &str,
    f: &Filters,
) -> Result<Page> {
    let q = filtered(scope, f, zone, true)?;
    scope.trail.query(&q).await
}

fn events_list(
    out: &mut String,
    events: &[Event],
    zone: &str,
    now: OffsetDateTime,
    show_tenant: bool,
) -> Result<()> {
    if events.is_empty() {
        out.push_str("<p class=\"empty\">No events.</p>");
        return Ok(());
    }
    let tz = crate::model::zone::get(zone)?;
    out.push_str("<ol class=\"events\">");
    for e in events {
        let d = e.describe_in(zone, now)?;
        html::event_item(out, e, &d, &tz, show_tenant);
    }
    out.push_str("</ol>");
    Ok(())
}

/// Everything involving `target` that the scope may read, newest first: the newest
/// [`crate::query::MAX_LIMIT`] (1,000) events, more than any booking's or customer's screen
/// shows.
async fn timeline_of<S: AuditStore + 'static>(
    scope: &Scope<S>,
    target: &Target,
) -> Result<Vec<Event>> {
    let q = Query::new()
        .involving(target)
        .limit(crate::query::MAX_LIMIT);
    Ok(scope.trail.query(&q).await?.events)
}

async fn timeline_page<S: AuditStore + 'static>(
    State(v): Shared<S>,
    parts: Parts,
    Path((kind, id)): Path<(String, String)>,
) -> Answer {
    let scope = v.scope(&parts, false)?;
    let target = Target::new(&kind, &id);
    let events = timeline_of(&scope, &target)
        .await
        .map_err(|e| scope.refuse(&e, false))?;
    let now = OffsetDateTime::now_utc();
    let mut body = format!(
        "<p>Everything involving <strong>{}</strong> <code>{}</code>, newest first, in {}.</p>",
        html::esc(&kind),
        html::esc(&id),
        html::esc(&v.zone)
    );
    events_list(&mut body, &events, &v.zone, now, scope.all_tenants)
        .map_err(|e| scope.refuse(&e, false))?;
    let title = format!("Timeline of {kind} {id}");
    Ok(Html(html::page(&scope.base, &title, &body)).into_response())
}

async fn export_csv<S: AuditStore + 'static>(
    State(v): Shared<S>,
    parts: Parts,
    UrlQuery(f): UrlQuery<Filters>,
) -> Answer {
    let scope = v.scope(&parts, false)?;
    let q = filtered(&scope, &f, &v.zone, false).map_err(|e| scope.refuse(&e, false))?;
    let stream = scope
        .trail
        .export_csv(&q)
        .await
        .map_err(|e| scope.refuse(&e, false))?;
    Ok((
        [
            (header::CONTENT_TYPE, "text/csv; charset=utf-8"),
            (
                header::CONTENT_DISPOSITION,
                "attachment; filename=\"audit-log.csv\"",
            ),
        ],
        Body::from_stream(stream),
    )
        .into_response())
}

/// An event as the JSON endpoints give it: the event, and its description in the zone.
fn event_json(e: &Event, zone: &str, now: OffsetDateTime) -> Result<Value> {
    let d = e.describe_in(zone, now)?;
    Ok(json!({
        "event": e,
        "sentence": d.sentence,
        "at": d.at,
        "relative": d.relative,
    }))
}

fn events_json(events: &[Event], zone: &str) -> Result<Vec<Value>> {
    let now = OffsetDateTime::now_utc();
    events.iter().map(|e| event_json(e, zone, now)).collect()
}

async fn api_events<S: AuditStore + 'static>(
    State(v): Shared<S>,
    parts: Parts,
    UrlQuery(f): UrlQuery<Filters>,
) -> Answer {
    let scope = v.scope(&parts, true)?;
    let page = read_page(&scope, &v.zone, &f)
        .await
        .map_err(|e| scope.refuse(&e, true))?;
    let events = events_json(&page.events, &v.zone).map_err(|e| scope.refuse(&e, true))?;
    let next = page.next.map(|c| c.to_string());
    Ok(Json(json!({ "events": events, "next": next })).into_response())
}

async fn api_timeline<S: AuditStore + 'static>(
    State(v): Shared<S>,
    parts: Parts,
    Path((kind, id)): Path<(String, String)>,
) -> Answer {
    let scope = v.scope(&parts, true)?;
    let events = timeline_of(&scope, &Target::new(&kind, &id))
        .await
        .map_err(|e| scope.refuse(&e, true))?;
    let events = events_json(&events, &v.zone).map_err(|e| scope.refuse(&e, true))?;
    Ok(Json(json!({ "target": { "kind": kind, "id": id }, "events": events })).into_response())
}

/// The verify status. The chain spans every tenant, so a tenant viewer learns whether the
/// log holds together, not where another tenant's event failed.
async fn api_verify<S: AuditStore + 'static>(State(v): Shared<S>, parts: Parts) -> Answer {
    let scope = v.scope(&parts, true)?;
    // On a task of its own, which finishes and keeps its result even when the client that
    // asked hangs up; the lock makes concurrent page views wait for that one verify.
    let (cache, trail) = (Arc::clone(&v.verified), v.trail.clone());
    let report = tokio::spawn(async move {
        let mut last = cache.lock().await;
        match &*last {
            Some((at, report)) if at.elapsed() < VERIFY_FRESH => Ok(report.clone()),
            _ => {
                let report = trail.verify().await?;
                *last = Some((Instant::now(), report.clone()));
                Ok(report)
            }
        }
    })
    .await
    .unwrap_or_else(|_| {
        Err(Error::Storage {
            message: "verify stopped before answering (a panic in the store); reload the page, and if it persists run `auditkit verify` on the store".into(),
            source: None,
        })
    })
    .map_err(|e| scope.refuse(&e, true))?;
    let ok = report.is_ok();
    // A tenant viewer learns whether the log holds together, not where another tenant's
    // event failed (nor the count of every tenant's events).
    let message = match (&report.fault, scope.all_tenants) {
        (None, true) => format!(
            "Verified: {} events, none altered, missing or out of order",
            report.checked
        ),
        (None, false) => "Verified: no event altered, missing or out of order".to_owned(),
        (Some(fault), true) => format!("Verification failed: {fault}"),
        (Some(_), false) => {
            "Verification failed: tell your administrator to run `auditkit verify`".to_owned()
        }
    };
    let (checked, fault) = if scope.all_tenants {
        let fault = report
            .fault
            .as_ref()
            .map(|f| json!({"seq": f.seq, "kind": f.kind.to_string(), "detail": f.detail}));
        (Some(report.checked), fault)
    } else {
        (None, None)
    };
    Ok(
        Json(json!({ "ok": ok, "checked": checked, "message": message, "fault": fault }))
            .into_response(),
    )
}
