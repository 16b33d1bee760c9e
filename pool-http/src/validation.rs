//! The "hot connect" validation request and the one admit / banned / rejected
//! classification, shared by every dialer's validation and by HTTP health probes.

use std::future::Future;
use std::time::Duration;

use bytes::Bytes;
use http::{HeaderValue, Request};
use http_body_util::{BodyExt, Full};
use pool_core::{DialError, DialErrorKind, ProbeVerdict};

use crate::error::BoxError;
use crate::{HttpConnection, RequestError};

/// The status that blacklists an address unless configured otherwise (the config's
/// `pool.banned_status`).
pub const DEFAULT_BANNED_STATUS: u16 = 403;

/// What an answer to a validation request (or an HTTP probe) means.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Verdict {
    /// 2xx: the connection is admitted (the probe passed).
    Admit,
    /// A banned status: the connection is closed and its IP blacklisted at once.
    Banned,
    /// Anything else: the connection is closed, the IP not penalised.
    Rejected,
}

/// The one classification of a status: a status in `banned` → [`Verdict::Banned`]
/// (checked first, so even a banned 2xx bans), 2xx → [`Verdict::Admit`], anything else
/// → [`Verdict::Rejected`].
pub fn classify(status: u16, banned: &[u16]) -> Verdict {
    if banned.contains(&status) {
        Verdict::Banned
    } else if (200..300).contains(&status) {
        Verdict::Admit
    } else {
        Verdict::Rejected
    }
}

impl Verdict {
    /// The dial's result for this verdict on `status`: admitted, or a `Banned` /
    /// `Rejected` dial failure.
    pub fn into_dial_result(self, status: u16) -> Result<(), DialError> {
        match self {
            Verdict::Admit => Ok(()),
            Verdict::Banned => Err(DialError::new(
                DialErrorKind::Banned,
                format!("validation answered {status} (banned)"),
            )),
            Verdict::Rejected => Err(DialError::new(
                DialErrorKind::Rejected,
                format!("validation answered {status}"),
            )),
        }
    }
}

impl From<Verdict> for ProbeVerdict {
    fn from(verdict: Verdict) -> Self {
        match verdict {
            Verdict::Admit => ProbeVerdict::Healthy,
            Verdict::Banned => ProbeVerdict::Banned,
            Verdict::Rejected => ProbeVerdict::Unhealthy,
        }
    }
}

/// The "hot connect" check: a request sent on every new connection before the pool
/// admits it, classified by [`classify`]: 2xx admits the connection; a status in
/// `banned_statuses` fails the dial as `Banned` (the IP is blacklisted at once); any other
/// status, an error or running out of the dialer's `test_timeout` fails it as `Rejected`
/// (closed, the IP not penalised).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Validation {
    /// The request method. Default: `GET`.
    pub method: http::Method,
    /// The request path (and query). Default: `/`.
    pub path: String,
    /// The request body, if any.
    pub body: Option<Bytes>,
    /// Statuses meaning "this IP is banned". Default: `[DEFAULT_BANNED_STATUS]` (403).
    pub banned_statuses: Vec<u16>,
}

impl Default for Validation {
    fn default() -> Self {
        Self {
            method: http::Method::GET,
            path: "/".to_owned(),
            body: None,
            banned_statuses: vec![DEFAULT_BANNED_STATUS],
        }
    }
}

impl Validation {
    /// A `GET path` validation banning `banned_status`.
    pub fn get(path: &str, banned_status: u16) -> Self {
        Self {
            path: path.to_owned(),
            banned_statuses: vec![banned_status],
            ..Self::default()
        }
    }

    /// What `status` means for this validation (see [`classify`]).
    pub fn classify(&self, status: u16) -> Verdict {
        classify(status, &self.banned_statuses)
    }

    /// The request: method, relative path, body, `user-agent: hotpool`.
    pub fn request(&self) -> Result<Request<Full<Bytes>>, http::Error> {
        Request::builder()
            .method(self.method.clone())
            .uri(self.path.as_str())
            .header(
                http::header::USER_AGENT,
                HeaderValue::from_static("hotpool"),
            )
            .body(Full::new(self.body.clone().unwrap_or_default()))
    }

    /// Runs a validation `exchange` (which sends the request and yields the answer's
    /// status) within `timeout` and turns the outcome into the dial's result: admitted,
    /// `Banned`, or `Rejected` (a bad status, an error, or the time running out). For
    /// transports with their own wire format; [`validate`] is this over an
    /// [`HttpConnection`].
    pub async fn check<F, E>(&self, timeout: Duration, exchange: F) -> Result<(), DialError>
    where
        F: Future<Output = Result<u16, E>>,
        E: Into<BoxError>,
    {
        match tokio::time::timeout(timeout, exchange).await {
            Ok(Ok(status)) => self.classify(status).into_dial_result(status),
            Ok(Err(e)) => Err(DialError::new(DialErrorKind::Rejected, e)),
            Err(_) => Err(DialError::new(
                DialErrorKind::Rejected,
                format!("validation timed out after {timeout:?}"),
            )),
        }
    }
}

impl Validation {
    /// Sends this request on `conn` and yields the answer's status, the response body read
    /// to its end and discarded, so that an HTTP/1.1 connection is left ready for the
    /// next request. No deadline of its own: [`validate`] and the health checker bound it.
    pub async fn exchange<C: HttpConnection>(&self, conn: &C) -> Result<u16, RequestError> {
        let response = conn.send(self.request()?).await?;
        let status = response.status().as_u16();
        let mut body = response.into_body();
        while let Some(frame) = body.frame().await {
            frame?;
        }
        Ok(status)
    }
}

/// Sends `validation`'s request on `conn` within `timeout` and classifies the answer
/// (see [`Validation::check`], [`Validation::exchange`]). The dialers run it before
/// handing a connection to the pool.
pub async fn validate<C: HttpConnection>(
    conn: &C,
    validation: &Validation,
    timeout: Duration,
) -> Result<(), DialError> {
    validation.check(timeout, validation.exchange(conn)).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classification() {
        let v = Validation::default();
        assert_eq!(v.classify(200), Verdict::Admit);
        assert_eq!(v.classify(204), Verdict::Admit);
        assert_eq!(v.classify(403), Verdict::Banned);
        assert_eq!(v.classify(301), Verdict::Rejected);
        assert_eq!(v.classify(404), Verdict::Rejected);
        assert_eq!(v.classify(503), Verdict::Rejected);
        let custom = Validation::get("/", 451);
        assert_eq!(custom.classify(451), Verdict::Banned);
        assert_eq!(custom.classify(403), Verdict::Rejected);
        // A banned status wins even when it is a success.
        assert_eq!(classify(204, &[204, 403]), Verdict::Banned);
        assert_eq!(classify(299, &[]), Verdict::Admit);
        assert_eq!(classify(300, &[]), Verdict::Rejected);
    }

    #[test]
    fn verdicts_become_dial_results_and_probe_verdicts() {
        assert!(Verdict::Admit.into_dial_result(200).is_ok());
        let banned = Verdict::Banned.into_dial_result(403).unwrap_err();
        assert_eq!(banned.kind(), DialErrorKind::Banned);
        assert!(banned.to_string().contains("403"), "{banned}");
        let rejected = Verdict::Rejected.into_dial_result(500).unwrap_err();
        assert_eq!(rejected.kind(), DialErrorKind::Rejected);
        assert_eq!(ProbeVerdict::from(Verdict::Admit), ProbeVerdict::Healthy);
        assert_eq!(ProbeVerdict::from(Verdict::Banned), ProbeVerdict::Banned);
        assert_eq!(
            ProbeVerdict::from(Verdict::Rejected),
            ProbeVerdict::Unhealthy
        );
    }

    #[tokio::test]
    async fn the_request_carries_method_path_body_and_agent() {
        let v = Validation {
            method: http::Method::POST,
            path: "/check?x=1".into(),
            body: Some(Bytes::from_static(b"hot?")),
            ..Validation::default()
        };
        let r = v.request().unwrap();
        assert_eq!(r.method(), http::Method::POST);
        assert_eq!(r.uri(), "/check?x=1");
        assert_eq!(
            r.body().clone().collect().await.unwrap().to_bytes(),
            &b"hot?"[..]
        );
        assert_eq!(r.headers()[http::header::USER_AGENT], "hotpool");
        assert_eq!(v.banned_statuses, [DEFAULT_BANNED_STATUS]);
    }

    #[tokio::test(start_paused = true)]
    async fn check_maps_errors_and_time_to_rejected() {
        let v = Validation::default();
        let ok = v.check(Duration::from_secs(1), async { Ok::<_, BoxError>(200) });
        assert!(ok.await.is_ok());
        let banned = v.check(Duration::from_secs(1), async { Ok::<_, BoxError>(403) });
        assert_eq!(banned.await.unwrap_err().kind(), DialErrorKind::Banned);
        let failed = v.check(Duration::from_secs(1), async {
            Err::<u16, BoxError>("reset".into())
        });
        assert_eq!(failed.await.unwrap_err().kind(), DialErrorKind::Rejected);
        let slow = v.check(
            Duration::from_secs(1),
            std::future::pending::<Result<u16, BoxError>>(),
        );
        let e = slow.await.unwrap_err();
        assert_eq!(e.kind(), DialErrorKind::Rejected);
        assert!(e.to_string().contains("timed out"), "{e}");
    }
}
