//! axum integration (feature `axum`): a tower [`AuditLayer`] that gives every request its
//! audit defaults, and the [`Audit`] extractor that records with them.
//!
//! The layer builds each request's [`RequestContext`]: the client IP from the source you
//! trust ([`ClientIp`]: the peer address, or `X-Forwarded-For` / `Forwarded` only when the
//! peer is one of your named proxies), the user agent, and the request id from
//! `x-request-id` (which tower-http's `SetRequestIdLayer` sets; put it outside this layer).
//! Tenant and actor come from resolvers you supply, reading what your routing and
//! authentication put in the request (a path prefix, a header, the session your auth
//! middleware stored in the extensions; put that middleware outside this layer too). A
//! handler takes [`Audit`] and records; its events get those defaults unless they set their
//! own, and its reads are held to the request's tenant.
//!
//! ```
//! use std::net::SocketAddr;
//!
//! use auditkit::axum::{Audit, AuditLayer, ClientIp};
//! use auditkit::{Actor, AsyncAuditTrail, AuditTrail, MemoryStore, NewEvent, Target};
//! use axum::{routing::post, Router};
//!
//! /// What your session middleware knows about the signed-in user.
//! #[derive(Clone)]
//! struct Staff {
//!     tenant: String,
//!     actor: Actor,
//! }
//!
//! async fn cancel(audit: Audit<MemoryStore>) -> Result<&'static str, auditkit::Error> {
//!     audit
//!         .record(NewEvent::new("booking.cancelled").target(Target::new("booking", "b-1")))
//!         .await?;
//!     Ok("cancelled")
//! }
//!
//! # fn main() -> auditkit::Result<()> {
//! let trail = AsyncAuditTrail::new(AuditTrail::new(MemoryStore::new()))?;
//! let proxy: std::net::IpAddr = "10.0.0.2".parse().unwrap();
//! let app: Router = Router::new().route("/cancel", post(cancel)).layer(
//!     AuditLayer::new(trail)
//!         .client_ip(ClientIp::behind_proxies([proxy]))
//!         // What your auth middleware (outside this layer) stored for the signed-in user;
//!         // never a header or parameter the client sends.
//!         .tenant(|req| req.extensions.get::<Staff>().map(|s| s.tenant.clone()))
//!         .actor(|req| req.extensions.get::<Staff>().map(|s| s.actor.clone())),
//! );
//! // Serve with `axum::serve(listener, app.into_make_service_with_connect_info::<SocketAddr>())`
//! // so the layer knows the peer address.
//! # let _ = app; let _: Option<SocketAddr> = None;
//! # Ok(()) }
//! ```

use std::net::{IpAddr, SocketAddr};
use std::ops::Deref;
use std::sync::Arc;
use std::task::{Context, Poll};

use ::axum::extract::{ConnectInfo, FromRequestParts};
use ::axum::response::{IntoResponse, Response};
use http::header::{HeaderName, FORWARDED, USER_AGENT};
use http::request::Parts;
use http::{HeaderMap, Request, StatusCode};

use crate::model::defaults::EventDefaults;
use crate::model::event::{Actor, RequestContext, Source};
use crate::store::AuditStore;
use crate::trail::async_trail::{AsyncAuditTrail, AsyncScopedTrail};
use crate::Error;

/// Longest user agent or request id kept, in bytes: both come from the client, and one
/// event should not store whatever a client sends.
const MAX_HEADER_BYTES: usize = 512;

/// Where the client IP of a request comes from.
///
/// Headers are only believed from proxies you name: a client can send any
/// `X-Forwarded-For` it likes, so from any other peer the peer address is the client IP.
/// Behind named proxies the address is read right to left from the one header your proxies
/// write ([`ForwardedHeader`]; `X-Forwarded-For` unless you say otherwise), skipping your
/// proxies: the first address that is not one of them is the client (the one your outermost
/// proxy saw). The other header is never read: a proxy that appends to `X-Forwarded-For`
/// passes a client's own `Forwarded` through untouched. Addresses compare in canonical form,
/// so a dual-stack listener's `::ffff:10.0.0.2` is the proxy `10.0.0.2`.
#[derive(Debug, Clone, Default)]
pub struct ClientIp {
    trusted: Vec<IpAddr>,
    header: ForwardedHeader,
}

/// The forwarding header your proxies write (see [`ClientIp`]).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub enum ForwardedHeader {
    /// `X-Forwarded-For: client, proxy1, proxy2` (nginx's `$proxy_add_x_forwarded_for`,
    /// AWS ALB, most load balancers).
    #[default]
    XForwardedFor,
    /// `Forwarded: for=client, for=proxy1` (RFC 7239).
    Forwarded,
}

impl ClientIp {
    /// The peer address of the connection (axum's `ConnectInfo<SocketAddr>`), whatever
    /// headers say: for a service that clients reach directly.
    pub fn peer() -> Self {
        ClientIp::default()
    }

    /// Behind these reverse proxies (or load balancers): their `X-Forwarded-For` is
    /// believed when the peer is one of them ([`ClientIp::header`] for `Forwarded`).
    pub fn behind_proxies(proxies: impl IntoIterator<Item = IpAddr>) -> Self {
        ClientIp {
            trusted: proxies.into_iter().map(|ip| ip.to_canonical()).collect(),
            header: ForwardedHeader::default(),
        }
    }

    /// Reads `header` instead (the only one your proxies write).
    #[must_use]
    pub fn header(mut self, header: ForwardedHeader) -> Self {
        self.header = header;
        self
    }

    /// The client IP of a request from `peer` with `headers`, by this rule.
    pub fn resolve(&self, peer: Option<IpAddr>, headers: &HeaderMap) -> Option<IpAddr> {
        let peer = peer?.to_canonical();
        if !self.trusted.contains(&peer) {
            return Some(peer);
        }
        let mut nearest = peer;
        for hop in forwarded_for(headers, self.header).iter().rev() {
            match hop.map(|ip| ip.to_canonical()) {
                Some(ip) if self.trusted.contains(&ip) => nearest = ip,
                Some(ip) => return Some(ip),
                // An address a trusted proxy could not give (`unknown`, garbage): the
                // nearest proxy that is known is as far as the chain can be believed.
                None => return Some(nearest),
            }
        }
        Some(nearest)
    }
}

/// The addresses of `header`'s lines, in order (client first), `None` for one that is not
/// an address (or a whole line that is not text, which a client may have appended to).
fn forwarded_for(headers: &HeaderMap, header: ForwardedHeader) -> Vec<Option<IpAddr>> {
    let name = match header {
        ForwardedHeader::XForwardedFor => "x-forwarded-for",
        ForwardedHeader::Forwarded => FORWARDED.as_str(),
    };
    let mut hops = Vec::new();
    for line in headers.get_all(name) {
        let Ok(line) = line.to_str() else {
            hops.push(None);
            continue;
        };
        for element in line.split(',').map(str::trim).filter(|e| !e.is_empty()) {
            hops.push(match header {
                ForwardedHeader::XForwardedFor => parse_node(element),
                ForwardedHeader::Forwarded => element
                    .split(';')
                    .filter_map(|pair| pair.trim().split_once('='))
                    .find(|(k, _)| k.trim().eq_ignore_ascii_case("for"))
                    .and_then(|(_, v)| parse_node(v.trim().trim_matches('"'))),
            });
        }
    }
    hops
}

/// An address as forwarding headers write it: `192.0.2.60`, `192.0.2.60:4711`,
/// `2001:db8::1`, `[2001:db8::1]:4711`.
fn parse_node(s: &str) -> Option<IpAddr> {
    s.parse::<IpAddr>()
        .ok()
        .or_else(|| s.parse::<SocketAddr>().ok().map(|a| a.ip()))
        .or_else(|| {
            s.strip_prefix('[')
                .and_then(|r| r.strip_suffix(']'))
                .and_then(|r| r.parse().ok())
        })
}

type Resolver<T> = Arc<dyn Fn(&Parts) -> Option<T> + Send + Sync>;

/// The tower layer giving each request its audit defaults (see the [module](self) docs).
pub struct AuditLayer<S> {
    config: Arc<Config<S>>,
}

struct Config<S> {
    trail: AsyncAuditTrail<S>,
    client_ip: ClientIp,
    request_id_header: HeaderName,
    source: Source,
    tenant: Option<Resolver<String>>,
    actor: Option<Resolver<Actor>>,
}

impl<S> Clone for Config<S> {
    fn clone(&self) -> Self {
        Config {
            trail: self.trail.clone(),
            client_ip: self.client_ip.clone(),
            request_id_header: self.request_id_header.clone(),
            source: self.source.clone(),
            tenant: self.tenant.clone(),
            actor: self.actor.clone(),
        }
    }
}

impl<S> Clone for AuditLayer<S> {
    fn clone(&self) -> Self {
        AuditLayer {
            config: Arc::clone(&self.config),
        }
    }
}

impl<S> std::fmt::Debug for AuditLayer<S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AuditLayer")
            .field("client_ip", &self.config.client_ip)
            .field("request_id_header", &self.config.request_id_header)
            .field("source", &self.config.source)
            .finish_non_exhaustive()
    }
}

impl<S: AuditStore + 'static> AuditLayer<S> {
    /// A layer recording into `trail`: client IP from the peer address, request id from
    /// `x-request-id`, source [`Source::Web`], no tenant or actor until you add resolvers.
    pub fn new(trail: AsyncAuditTrail<S>) -> Self {
        AuditLayer {
            config: Arc::new(Config {
                trail,
                client_ip: ClientIp::peer(),
                request_id_header: HeaderName::from_static("x-request-id"),
                source: Source::Web,
                tenant: None,
                actor: None,
            }),
        }
    }

    fn change(mut self, f: impl FnOnce(&mut Config<S>)) -> Self {
        f(Arc::make_mut(&mut self.config));
        self
    }

    /// Where the client IP comes from (default [`ClientIp::peer`]).
    #[must_use]
    pub fn client_ip(self, rule: ClientIp) -> Self {
        self.change(|c| c.client_ip = rule)
    }

    /// The header holding the request id (default `x-request-id`).
    #[must_use]
    pub fn request_id_header(self, name: HeaderName) -> Self {
        self.change(|c| c.request_id_header = name)
    }

    /// The source of the requests through this layer (default [`Source::Web`]; an API
    /// router would say [`Source::Api`]).
    #[must_use]
    pub fn source(self, source: Source) -> Self {
        self.change(|c| c.source = source)
    }

    /// How a request names its tenant: `None` leaves the events without a tenant and the
    /// reads unscoped, so return one for every request of a multi-tenant app.
    #[must_use]
    pub fn tenant(
        self,
        resolve: impl Fn(&Parts) -> Option<String> + Send + Sync + 'static,
    ) -> Self {
        self.change(|c| c.tenant = Some(Arc::new(resolve)))
    }

    /// Who is acting in a request (typically read from what your auth middleware put in
    /// `parts.extensions`); `None` records [`Actor::system()`] unless an event names one.
    #[must_use]
    pub fn actor(self, resolve: impl Fn(&Parts) -> Option<Actor> + Send + Sync + 'static) -> Self {
        self.change(|c| c.actor = Some(Arc::new(resolve)))
    }

    /// The defaults the layer gives a request with these parts.
    pub fn defaults_for(&self, parts: &Parts) -> EventDefaults {
        self.config.defaults_for(parts)
    }
}

impl<S> Config<S> {
    fn defaults_for(&self, parts: &Parts) -> EventDefaults {
        let peer = parts
            .extensions
            .get::<ConnectInfo<SocketAddr>>()
            .map(|c| c.0.ip());
        let header = |name: &HeaderName| {
            parts
                .headers
                .get(name)
                .map(|v| truncated(&String::from_utf8_lossy(v.as_bytes())))
                .filter(|v| !v.is_empty())
        };
        let request = RequestContext {
            ip: self
                .client_ip
                .resolve(peer, &parts.headers)
                .map(|ip| ip.to_string()),
            user_agent: header(&USER_AGENT),
            request_id: header(&self.request_id_header),
        };
        let mut defaults = EventDefaults::new().source(self.source.clone());
        if request != RequestContext::default() {
            defaults = defaults.request(request);
        }
        defaults.tenant = self.tenant.as_ref().and_then(|f| f(parts));
        defaults.actor = self.actor.as_ref().and_then(|f| f(parts));
        defaults
    }
}

/// `s` cut to [`MAX_HEADER_BYTES`] at a character boundary.
fn truncated(s: &str) -> String {
    let mut end = s.len().min(MAX_HEADER_BYTES);
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    s[..end].to_owned()
}

impl<S, I> tower_layer::Layer<I> for AuditLayer<S> {
    type Service = AuditService<S, I>;

    fn layer(&self, inner: I) -> Self::Service {
        AuditService {
            inner,
            config: Arc::clone(&self.config),
        }
    }
}

/// The service [`AuditLayer`] wraps around a router or handler.
pub struct AuditService<S, I> {
    inner: I,
    config: Arc<Config<S>>,
}

impl<S, I: Clone> Clone for AuditService<S, I> {
    fn clone(&self) -> Self {
        AuditService {
            inner: self.inner.clone(),
            config: Arc::clone(&self.config),
        }
    }
}

impl<S, I: std::fmt::Debug> std::fmt::Debug for AuditService<S, I> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AuditService")
            .field("inner", &self.inner)
            .finish_non_exhaustive()
    }
}

impl<S, I, B> tower_service::Service<Request<B>> for AuditService<S, I>
where
    S: AuditStore + 'static,
    I: tower_service::Service<Request<B>>,
{
    type Response = I::Response;
    type Error = I::Error;
    type Future = I::Future;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: Request<B>) -> Self::Future {
        let (mut parts, body) = request.into_parts();
        let defaults = self.config.defaults_for(&parts);
        parts
            .extensions
            .insert(Audit(self.config.trail.scoped(defaults)));
        self.inner.call(Request::from_parts(parts, body))
    }
}

/// The extractor: the request's [`AsyncScopedTrail`], with the defaults [`AuditLayer`] gave
/// it. Derefs to it, so a handler writes `audit.record(event).await?`.
pub struct Audit<S>(pub AsyncScopedTrail<S>);

impl<S> Clone for Audit<S> {
    fn clone(&self) -> Self {
        Audit(self.0.clone())
    }
}

impl<S> std::fmt::Debug for Audit<S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_tuple("Audit").field(&self.0).finish()
    }
}

impl<S> Deref for Audit<S> {
    type Target = AsyncScopedTrail<S>;

    fn deref(&self) -> &Self::Target {
        &self.0
    }
}

impl<S, St> FromRequestParts<St> for Audit<S>
where
    S: AuditStore + 'static,
    St: Send + Sync,
{
    type Rejection = MissingAuditLayer;

    async fn from_request_parts(parts: &mut Parts, _state: &St) -> Result<Self, Self::Rejection> {
        parts
            .extensions
            .get::<Audit<S>>()
            .cloned()
            .ok_or(MissingAuditLayer)
    }
}

/// The rejection of [`Audit`] on a route without [`AuditLayer`] (or with one over another
/// store type): a 500, since it is a wiring mistake, not the client's.
#[derive(Debug, Clone, Copy)]
pub struct MissingAuditLayer;

impl IntoResponse for MissingAuditLayer {
    fn into_response(self) -> Response {
        (
            StatusCode::INTERNAL_SERVER_ERROR,
            "auditkit: no AuditLayer for this store type is installed on this route",
        )
            .into_response()
    }
}

/// Handlers may return `Result<_, auditkit::Error>`: bad input is a 400 with the message
/// naming the field, a busy store a 503, anything else a 500.
impl IntoResponse for Error {
    fn into_response(self) -> Response {
        (status_of(&self), self.to_string()).into_response()
    }
}

/// The HTTP status an error answers with: the client's mistake, a busy store, or ours.
pub(crate) fn status_of(e: &Error) -> StatusCode {
    match e {
        Error::Invalid { .. } | Error::Malformed { .. } | Error::Checkpoint { .. } => {
            StatusCode::BAD_REQUEST
        }
        Error::Busy { .. } => StatusCode::SERVICE_UNAVAILABLE,
        _ => StatusCode::INTERNAL_SERVER_ERROR,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&str, &str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.append(
                HeaderName::from_bytes(k.as_bytes()).unwrap(),
                v.parse().unwrap(),
            );
        }
        h
    }

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn headers_count_only_from_named_proxies() {
        let spoofed = headers(&[("x-forwarded-for", "6.6.6.6")]);
        let rule = ClientIp::behind_proxies([ip("10.0.0.2")]);
        assert_eq!(
            ClientIp::peer().resolve(Some(ip("198.51.100.7")), &spoofed),
            Some(ip("198.51.100.7"))
        );
        assert_eq!(
            rule.resolve(Some(ip("198.51.100.7")), &spoofed),
            Some(ip("198.51.100.7"))
        );
        assert_eq!(
            rule.resolve(Some(ip("10.0.0.2")), &spoofed),
            Some(ip("6.6.6.6"))
        );
        assert_eq!(rule.resolve(None, &spoofed), None);
    }

    #[test]
    fn the_chain_is_read_right_to_left_past_trusted_proxies() {
        let rule = ClientIp::behind_proxies([ip("10.0.0.2"), ip("10.0.0.3")]);
        // The client forged the first entry; the outer proxy appended the real client.
        let h = headers(&[("x-forwarded-for", "1.1.1.1, 203.0.113.9, 10.0.0.3")]);
        assert_eq!(
            rule.resolve(Some(ip("10.0.0.2")), &h),
            Some(ip("203.0.113.9"))
        );
        let h = headers(&[(
            "forwarded",
            r#"for=1.1.1.1, for="[2001:db8::17]:4711";proto=https"#,
        )]);
        let by_forwarded = rule.clone().header(ForwardedHeader::Forwarded);
        assert_eq!(
            by_forwarded.resolve(Some(ip("10.0.0.2")), &h),
            Some(ip("2001:db8::17"))
        );
        // Behind proxies that write X-Forwarded-For, a client's own Forwarded is not read.
        let both = headers(&[
            ("forwarded", "for=6.6.6.6"),
            ("x-forwarded-for", "203.0.113.9"),
        ]);
        assert_eq!(
            rule.resolve(Some(ip("10.0.0.2")), &both),
            Some(ip("203.0.113.9"))
        );
        // A dual-stack listener's mapped form of the proxy is the proxy.
        let h = headers(&[("x-forwarded-for", "203.0.113.9")]);
        assert_eq!(
            rule.resolve(Some(ip("::ffff:10.0.0.2")), &h),
            Some(ip("203.0.113.9"))
        );
        let h = headers(&[("x-forwarded-for", "unknown")]);
        assert_eq!(rule.resolve(Some(ip("10.0.0.2")), &h), Some(ip("10.0.0.2")));
        let h = headers(&[("x-forwarded-for", "198.51.100.1:5000")]);
        assert_eq!(
            rule.resolve(Some(ip("10.0.0.2")), &h),
            Some(ip("198.51.100.1"))
        );
    }

    #[test]
    fn a_line_that_is_not_text_does_not_hide_the_proxy_s_own() {
        let rule = ClientIp::behind_proxies([ip("10.0.0.2")]);
        let mut h = HeaderMap::new();
        h.append(
            "x-forwarded-for",
            http::HeaderValue::from_bytes(b"\xfe1.1.1.1").unwrap(),
        );
        h.append("x-forwarded-for", "203.0.113.9".parse().unwrap());
        assert_eq!(
            rule.resolve(Some(ip("10.0.0.2")), &h),
            Some(ip("203.0.113.9"))
        );
    }

    #[test]
    fn long_headers_are_cut_at_a_character_boundary() {
        let s = "é".repeat(400);
        let t = truncated(&s);
        assert!(t.len() <= MAX_HEADER_BYTES && s.starts_with(&t));
    }
}
