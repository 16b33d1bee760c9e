//! HTTP/3 learned from `Alt-Svc` (RFC 7838): the header's parser and the per-origin
//! cache that decides whether a request of an origin goes over HTTP/3 or TCP.
//!
//! Sans-IO: every decision takes `now`, so the cache is tested with a fake clock. The
//! [`Client`](crate::Client) feeds it each `https://` response's `alt-svc` fields
//! ([`AltSvcCache::learn`]), asks it where a request goes ([`AltSvcCache::route`]),
//! and reports the HTTP/3 start and its transport failures ([`AltSvcCache::started`],
//! [`AltSvcCache::mark_broken`]). A DNS HTTPS record (RFC 9460) of the origin enters the
//! same state ([`AltSvcCache::apply_dns`]), so both sources share one fallback and one
//! broken-h3 backoff. What was chosen and why: `docs/alt-svc.md`.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, PoisonError};
use std::time::{Duration, Instant};

use http::HeaderMap;
use http::header::ALT_SVC;

/// An alternative's lifetime when it gives no `ma` (RFC 7838 §3.1: 24 hours).
pub const DEFAULT_MAX_AGE: Duration = Duration::from_secs(24 * 3600);
/// The longest lifetime kept, whatever `ma` says (7 days).
pub const MAX_AGE_CAP: Duration = Duration::from_secs(7 * 24 * 3600);
/// How long HTTP/3 is first left alone after a transport failure (Chrome: 5 minutes).
pub const BROKEN_FIRST: Duration = Duration::from_secs(5 * 60);
/// The longest it is left alone after failures in a row (doubling from [`BROKEN_FIRST`]).
pub const BROKEN_MAX: Duration = Duration::from_secs(48 * 3600);

/// One alternative of an `Alt-Svc` field value.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Alternative {
    /// The ALPN protocol id, percent-decoded (`h3`).
    pub protocol: String,
    /// The alternative host; `None` (the usual `":443"`) is the origin's own host.
    pub host: Option<String>,
    /// The alternative port.
    pub port: u16,
    /// `ma`: how long it may be used, in seconds (`None`: 24 hours).
    pub max_age: Option<u64>,
}

/// A parsed `Alt-Svc` field value.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum AltSvc {
    /// `clear`: forget every alternative of the origin.
    Clear,
    /// The alternatives, in the server's order of preference.
    Alternatives(Vec<Alternative>),
}

/// Why an `Alt-Svc` value was ignored.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("malformed alt-svc: {0}")]
pub struct Malformed(&'static str);

/// Parses one `Alt-Svc` field value (several fields are joined with `,` first).
///
/// # Errors
/// A value that is not RFC 7838 syntax ([`Malformed`]).
pub fn parse(value: &str) -> Result<AltSvc, Malformed> {
    if value.trim().eq_ignore_ascii_case("clear") {
        return Ok(AltSvc::Clear);
    }
    let mut p = Parser {
        s: value.as_bytes(),
        at: 0,
    };
    let mut out = Vec::new();
    loop {
        p.ows();
        if p.eat(b',') {
            continue; // empty list elements are allowed (RFC 9110 §5.6.1)
        }
        if p.done() {
            break;
        }
        out.push(p.alternative()?);
        p.ows();
        if !p.done() && !p.eat(b',') {
            return Err(Malformed("expected `,` between alternatives"));
        }
    }
    if out.is_empty() {
        return Err(Malformed("no alternative"));
    }
    Ok(AltSvc::Alternatives(out))
}

struct Parser<'a> {
    s: &'a [u8],
    at: usize,
}

impl Parser<'_> {
    fn done(&self) -> bool {
        self.at >= self.s.len()
    }

    fn peek(&self) -> Option<u8> {
        self.s.get(self.at).copied()
    }

    fn eat(&mut self, b: u8) -> bool {
        let hit = self.peek() == Some(b);
        self.at += usize::from(hit);
        hit
    }

    fn ows(&mut self) {
        while matches!(self.peek(), Some(b' ' | b'\t')) {
            self.at += 1;
        }
    }

    /// An RFC 9110 token.
    fn token(&mut self) -> Result<&str, Malformed> {
        let start = self.at;
        while self
            .peek()
            .is_some_and(|b| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b))
        {
            self.at += 1;
        }
        if start == self.at {
            return Err(Malformed("expected a token"));
        }
        std::str::from_utf8(&self.s[start..self.at]).map_err(|_| Malformed("not UTF-8"))
    }

    /// A quoted string, escapes removed.
    fn quoted(&mut self) -> Result<String, Malformed> {
        if !self.eat(b'"') {
            return Err(Malformed("expected a quoted string"));
        }
        let mut out = Vec::new();
        loop {
            match self.peek() {
                None => return Err(Malformed("unterminated quoted string")),
                Some(b'"') => {
                    self.at += 1;
                    break;
                }
                Some(b'\\') => {
                    self.at += 1;
                    out.push(self.peek().ok_or(Malformed("dangling escape"))?);
                    self.at += 1;
                }
                Some(b) => {
                    out.push(b);
                    self.at += 1;
                }
            }
        }
        String::from_utf8(out).map_err(|_| Malformed("not UTF-8"))
    }

    /// `protocol-id "=" alt-authority *( OWS ";" OWS parameter )`.
    fn alternative(&mut self) -> Result<Alternative, Malformed> {
        let protocol = percent_decode(self.token()?).ok_or(Malformed("bad protocol id"))?;
        if !self.eat(b'=') {
            return Err(Malformed("expected `=` after the protocol id"));
        }
        let authority = self.quoted()?;
        let (host, port) = authority
            .rsplit_once(':')
            .ok_or(Malformed("authority without a port"))?;
        let port: u16 = port.parse().map_err(|_| Malformed("bad port"))?;
        if port == 0 {
            return Err(Malformed("port 0"));
        }
        let host = host.trim_start_matches('[').trim_end_matches(']');
        let mut alt = Alternative {
            protocol,
            host: (!host.is_empty()).then(|| host.to_ascii_lowercase()),
            port,
            max_age: None,
        };
        loop {
            self.ows();
            if !self.eat(b';') {
                return Ok(alt);
            }
            self.ows();
            let name = self.token()?.to_ascii_lowercase();
            if !self.eat(b'=') {
                return Err(Malformed("parameter without a value"));
            }
            let value = if self.peek() == Some(b'"') {
                self.quoted()?
            } else {
                self.token()?.to_owned()
            };
            if name == "ma" {
                let seconds = value.parse().map_err(|_| Malformed("bad ma"))?;
                alt.max_age = Some(seconds);
            }
        }
    }
}

fn percent_decode(s: &str) -> Option<String> {
    let mut out = Vec::with_capacity(s.len());
    let mut bytes = s.bytes();
    while let Some(b) = bytes.next() {
        if b == b'%' {
            let hex = [bytes.next()?, bytes.next()?];
            out.push(u8::from_str_radix(std::str::from_utf8(&hex).ok()?, 16).ok()?);
        } else {
            out.push(b);
        }
    }
    String::from_utf8(out).ok()
}

/// An origin: an `https://` host and port.
pub(crate) type Origin = (String, u16);

/// Where a request of an origin goes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Route {
    /// Over TCP; `start`: the caller starts HTTP/3 on that port in the background, then
    /// reports with [`AltSvcCache::started`].
    Tcp { start: Option<u16> },
    /// Over HTTP/3 on this port (its stack started and warm).
    H3 { port: u16 },
}

/// Where the origin's HTTP/3 stack is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum H3State {
    /// Not started (or forgotten).
    Idle,
    /// Being started on this port.
    Starting(u16),
    /// Started and warm on this port.
    Ready(u16),
}

#[derive(Clone, Copy, Debug)]
struct Broken {
    until: Instant,
    backoff: Duration,
}

#[derive(Clone, Debug)]
struct OriginState {
    /// The HTTP/3 alternative: port and expiry.
    alternative: Option<(u16, Instant)>,
    /// The alternative's host when it names another than the origin's (its addresses are
    /// dialed, the origin's name verified: `docs/alt-svc.md`).
    alt_host: Option<String>,
    h3: H3State,
    broken: Option<Broken>,
}

/// What an origin's HTTP/3 looks like now ([`Client::alt_svc`](crate::Client::alt_svc)).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AltSvcStatus {
    /// The HTTP/3 alternative's port, while its `ma` lasts.
    pub port: Option<u16>,
    /// The alternative's host when it names another than the origin's (`None`: the
    /// origin's own).
    pub host: Option<String>,
    /// How long the alternative is still valid.
    pub expires_in: Option<Duration>,
    /// Whether new requests of the origin go over HTTP/3.
    pub in_use: bool,
    /// How long HTTP/3 is still left alone after a transport failure.
    pub broken_for: Option<Duration>,
}

/// Counters of what the Alt-Svc step did ([`Client::alt_svc_stats`](crate::Client::alt_svc_stats)).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct AltSvcStats {
    /// `alt-svc` values that gave an HTTP/3 alternative.
    pub learned: u64,
    /// `clear` values (or a list without HTTP/3) that removed one.
    pub cleared: u64,
    /// Malformed values, ignored.
    pub malformed: u64,
    /// HTTP/3 alternatives naming another host, used with the origin's identity (its
    /// addresses dialed, the origin's name verified: `docs/alt-svc.md`).
    pub other_host: u64,
    /// Times HTTP/3 was marked broken (its start or a request failed as a transport).
    pub broken: u64,
    /// Times a DNS HTTPS record moved an origin to HTTP/3 from its first request
    /// (`docs/alt-svc.md`).
    pub from_dns: u64,
}

/// The Alt-Svc state of every origin of a client.
#[derive(Debug, Default)]
pub(crate) struct AltSvcCache {
    origins: Mutex<HashMap<Origin, OriginState>>,
    learned: AtomicU64,
    cleared: AtomicU64,
    malformed: AtomicU64,
    other_host: AtomicU64,
    broken: AtomicU64,
    from_dns: AtomicU64,
}

impl AltSvcCache {
    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<Origin, OriginState>> {
        self.origins.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Reads the `alt-svc` fields of a response of `origin`. A response without any
    /// changes nothing; a malformed value is counted and ignored. Returns the port to
    /// start HTTP/3 on, when a new alternative needs a start.
    pub(crate) fn learn(&self, origin: &Origin, headers: &HeaderMap, now: Instant) -> Option<u16> {
        let mut fields = headers.get_all(ALT_SVC).iter().peekable();
        fields.peek()?;
        let joined: Result<Vec<&str>, _> = fields.map(|v| v.to_str()).collect();
        let parsed = joined
            .map_err(|_| Malformed("not visible ASCII"))
            .and_then(|values| parse(&values.join(",")));
        self.apply(origin, parsed, now)
    }

    /// Applies a parsed `Alt-Svc` value of `origin` (or the alternative of a DNS HTTPS
    /// record: [`apply_dns`](Self::apply_dns)). Returns the port to start HTTP/3 on, as
    /// [`learn`](Self::learn).
    pub(crate) fn apply(
        &self,
        origin: &Origin,
        parsed: Result<AltSvc, Malformed>,
        now: Instant,
    ) -> Option<u16> {
        let alternatives = match parsed {
            Err(e) => {
                self.malformed.fetch_add(1, Ordering::Relaxed);
                tracing::debug!(host = %origin.0, port = origin.1, error = %e, "alt-svc ignored");
                return None;
            }
            Ok(AltSvc::Clear) => Vec::new(),
            Ok(AltSvc::Alternatives(alternatives)) => alternatives,
        };
        // The first HTTP/3 alternative, in the server's order of preference; naming the
        // origin's own host is the same as naming none.
        let chosen = alternatives.iter().find(|a| a.protocol == "h3");
        let alt_host = chosen
            .and_then(|a| a.host.clone())
            .filter(|h| *h != origin.0);
        if alt_host.is_some() {
            self.other_host.fetch_add(1, Ordering::Relaxed);
        }
        let mut origins = self.lock();
        let Some(alt) = chosen else {
            if let Some(state) = origins.get_mut(origin) {
                if state.alternative.take().is_some() {
                    self.cleared.fetch_add(1, Ordering::Relaxed);
                }
            }
            return None;
        };
        let max_age = alt
            .max_age
            .map_or(DEFAULT_MAX_AGE, Duration::from_secs)
            .min(MAX_AGE_CAP);
        if max_age.is_zero() {
            if let Some(state) = origins.get_mut(origin) {
                state.alternative = None;
            }
            return None;
        }
        let state = origins.entry(origin.clone()).or_insert(OriginState {
            alternative: None,
            alt_host: None,
            h3: H3State::Idle,
            broken: None,
        });
        if state.alternative.is_none_or(|(port, _)| port != alt.port) || state.alt_host != alt_host
        {
            self.learned.fetch_add(1, Ordering::Relaxed);
        }
        state.alternative = Some((alt.port, now + max_age));
        state.alt_host = alt_host;
        Self::start_if_due(state, now)
    }

    /// Applies the DNS HTTPS records of `origin`, read when its host started: when their
    /// preferred service offering `h3` (on the origin's host, or on its TargetName: another
    /// host, dialed with the origin's identity as an `Alt-Svc` one), that alternative (the
    /// record's `port`, else the origin's; `ma` = the records' TTL) enters the cache as an
    /// `Alt-Svc` value would, and new requests go over HTTP/3 **at once** (the first one
    /// starts the HTTP/3 stack; a failure before anything was sent goes over TCP and marks
    /// HTTP/3 broken, as for an alternative learned from `Alt-Svc`). Records without `h3`
    /// change nothing. Returns the port HTTP/3 is used on, `None` when nothing changed
    /// (no `h3`, a TTL of 0, or HTTP/3 marked broken).
    #[cfg(feature = "dns")]
    pub(crate) fn apply_dns(
        &self,
        origin: &Origin,
        records: &pool_dns::HttpsRecords,
        now: Instant,
    ) -> Option<u16> {
        let service = records.services.iter().find(|s| s.offers("h3"))?;
        let port = service.port.unwrap_or(origin.1);
        if port == 0 {
            return None;
        }
        let alternative = Alternative {
            protocol: "h3".to_owned(),
            host: service.target.clone(),
            port,
            max_age: Some(records.ttl.as_secs()),
        };
        // The one path every alternative takes (max age, counters); a start it would ask
        // for is not needed: the alternative is used directly.
        let _ = self.apply(origin, Ok(AltSvc::Alternatives(vec![alternative])), now);
        let mut origins = self.lock();
        let state = origins.get_mut(origin)?;
        if state.alternative.is_none_or(|(p, _)| p != port)
            || state.broken.is_some_and(|b| b.until > now)
        {
            state.h3 = H3State::Idle;
            return None;
        }
        state.h3 = H3State::Ready(port);
        self.from_dns.fetch_add(1, Ordering::Relaxed);
        Some(port)
    }

    /// The port to start HTTP/3 on, if the alternative is valid, not broken and not
    /// started on that port (the state moves to `Starting`).
    fn start_if_due(state: &mut OriginState, now: Instant) -> Option<u16> {
        let (port, expires) = state.alternative?;
        if expires <= now || state.broken.is_some_and(|b| b.until > now) {
            return None;
        }
        match state.h3 {
            H3State::Starting(p) | H3State::Ready(p) if p == port => None,
            _ => {
                state.h3 = H3State::Starting(port);
                Some(port)
            }
        }
    }

    /// Where a new request of `origin` goes.
    pub(crate) fn route(&self, origin: &Origin, now: Instant) -> Route {
        let mut origins = self.lock();
        let Some(state) = origins.get_mut(origin) else {
            return Route::Tcp { start: None };
        };
        if state.alternative.is_some_and(|(_, expires)| expires <= now) {
            state.alternative = None;
        }
        let Some((port, _)) = state.alternative else {
            if state.broken.is_none() {
                origins.remove(origin);
            }
            return Route::Tcp { start: None };
        };
        if state.broken.is_some_and(|b| b.until > now) {
            return Route::Tcp { start: None };
        }
        match state.h3 {
            H3State::Ready(p) if p == port => Route::H3 { port },
            _ => Route::Tcp {
                start: Self::start_if_due(state, now),
            },
        }
    }

    /// The HTTP/3 start on `port` ended: warm (`ok`), or failed as a transport
    /// (then HTTP/3 is marked broken).
    pub(crate) fn started(&self, origin: &Origin, port: u16, ok: bool, now: Instant) {
        if !ok {
            self.mark_broken(origin, now);
            return;
        }
        if let Some(state) = self.lock().get_mut(origin) {
            if state.h3 == H3State::Starting(port) {
                state.h3 = H3State::Ready(port);
                state.broken = None;
            }
        }
    }

    /// HTTP/3 of `origin` failed as a transport: new requests go over TCP for
    /// [`BROKEN_FIRST`], doubling with each failure in a row up to [`BROKEN_MAX`].
    /// Requests that failed together (one outage) count once: a mark still running is
    /// kept as it is.
    pub(crate) fn mark_broken(&self, origin: &Origin, now: Instant) {
        let mut origins = self.lock();
        let state = origins.entry(origin.clone()).or_insert(OriginState {
            alternative: None,
            alt_host: None,
            h3: H3State::Idle,
            broken: None,
        });
        state.h3 = H3State::Idle;
        if state.broken.is_some_and(|b| b.until > now) {
            return;
        }
        self.broken.fetch_add(1, Ordering::Relaxed);
        let backoff = state
            .broken
            .map_or(BROKEN_FIRST, |b| (b.backoff * 2).min(BROKEN_MAX));
        tracing::info!(host = %origin.0, port = origin.1, ?backoff, "HTTP/3 broken: requests go over TCP");
        state.broken = Some(Broken {
            until: now + backoff,
            backoff,
        });
    }

    /// The host of `origin`'s alternative when it names another than the origin's: the
    /// name whose addresses its HTTP/3 stack dials (`None`: the origin's own).
    #[cfg(any(feature = "h3", test))]
    #[cfg_attr(not(feature = "h3"), allow(dead_code))]
    pub(crate) fn alternative_host(&self, origin: &Origin) -> Option<String> {
        self.lock().get(origin)?.alt_host.clone()
    }

    /// The origin's HTTP/3 stack was stopped (idle): the next request starts it again.
    pub(crate) fn forget_h3(&self, origin: &Origin) {
        if let Some(state) = self.lock().get_mut(origin) {
            state.h3 = H3State::Idle;
        }
    }

    /// What `origin`'s HTTP/3 looks like now (`None`: nothing known).
    pub(crate) fn status(&self, origin: &Origin, now: Instant) -> Option<AltSvcStatus> {
        let origins = self.lock();
        let state = origins.get(origin)?;
        let alternative = state.alternative.filter(|(_, e)| *e > now);
        let broken_for = state
            .broken
            .filter(|b| b.until > now)
            .map(|b| b.until - now);
        Some(AltSvcStatus {
            port: alternative.map(|(p, _)| p),
            host: alternative.and(state.alt_host.clone()),
            expires_in: alternative.map(|(_, e)| e - now),
            in_use: broken_for.is_none()
                && alternative.is_some_and(|(p, _)| state.h3 == H3State::Ready(p)),
            broken_for,
        })
    }

    /// The counters.
    pub(crate) fn stats(&self) -> AltSvcStats {
        let get = |c: &AtomicU64| c.load(Ordering::Relaxed);
        AltSvcStats {
            learned: get(&self.learned),
            cleared: get(&self.cleared),
            malformed: get(&self.malformed),
            other_host: get(&self.other_host),
            broken: get(&self.broken),
            from_dns: get(&self.from_dns),
        }
    }
}

#[cfg(all(test, feature = "dns"))]
mod tests;
