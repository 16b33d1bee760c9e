//! A request's deadlines and limits: the sender's defaults and the per-request overrides.

use std::time::Duration;

/// The deadlines and limits requests are sent under, held by whoever sends
/// ([`HttpLeaseExt::request_with`](crate::HttpLeaseExt::request_with),
/// [`send_with`](crate::send_with), [`PoolService::with_options`](crate::PoolService::with_options));
/// a request overrides them with the [`Timeout`] and [`BodyIdleTimeout`] extensions.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct RequestOptions {
    /// How long the response headers may take, from the moment the request is handed to
    /// the connection (waiting for a stream included). On expiry the request is abandoned
    /// (h2/h3: its stream reset; HTTP/1.1: the connection closed), the connection's error
    /// counted, and the caller gets [`RequestError::Timeout`](crate::RequestError::Timeout).
    /// Default: [`DEFAULT_REQUEST_TIMEOUT`] (the config's `pool.request_timeout`).
    pub timeout: Duration,
    /// How long the response body may go without a frame before it ends with
    /// [`RequestError::Timeout`](crate::RequestError::Timeout). Default: none (the config's
    /// `pool.body_idle_timeout`).
    pub body_idle_timeout: Option<Duration>,
    /// The most response body bytes read through [`Body`](crate::Body); more ends the body
    /// with [`RequestError::BodyTooLarge`](crate::RequestError::BodyTooLarge). Default: none
    /// (a streamed body is unbounded; [`Body::collect`](crate::Body::collect) takes its own
    /// limit).
    pub max_response_body: Option<usize>,
    /// While the host is down (a host outage in the pool, `docs/stay-hot.md`) and no
    /// connection to it is open: wait for it to come back, within the request's deadline,
    /// instead of failing at once with `pool_core::Error::HostDown`. Default: false.
    pub wait_for_host: bool,
}

/// The default of [`RequestOptions::timeout`]: 30 s.
pub const DEFAULT_REQUEST_TIMEOUT: Duration = Duration::from_secs(30);

impl Default for RequestOptions {
    fn default() -> Self {
        Self {
            timeout: DEFAULT_REQUEST_TIMEOUT,
            body_idle_timeout: None,
            max_response_body: None,
            wait_for_host: false,
        }
    }
}

impl RequestOptions {
    /// These options with a different [`timeout`](Self::timeout).
    pub fn with_timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// These options with a [`body_idle_timeout`](Self::body_idle_timeout).
    pub fn with_body_idle_timeout(mut self, idle: Option<Duration>) -> Self {
        self.body_idle_timeout = idle;
        self
    }

    /// These options with a [`max_response_body`](Self::max_response_body).
    pub fn with_max_response_body(mut self, limit: Option<usize>) -> Self {
        self.max_response_body = limit;
        self
    }

    /// These options with [`wait_for_host`](Self::wait_for_host).
    pub fn with_wait_for_host(mut self, wait: bool) -> Self {
        self.wait_for_host = wait;
        self
    }

    /// The options one request is sent under: these, overridden by the request's
    /// [`Timeout`] and [`BodyIdleTimeout`] extensions.
    pub(crate) fn for_request(&self, extensions: &http::Extensions) -> RequestOptions {
        let mut options = self.clone();
        if let Some(Timeout(timeout)) = extensions.get() {
            options.timeout = *timeout;
        }
        if let Some(BodyIdleTimeout(idle)) = extensions.get() {
            options.body_idle_timeout = Some(*idle);
        }
        options
    }
}

/// A request extension overriding [`RequestOptions::timeout`] for that request:
/// `request.extensions_mut().insert(pool_http::Timeout(Duration::from_secs(2)))`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Timeout(pub Duration);

/// A request extension overriding [`RequestOptions::body_idle_timeout`] for that request.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BodyIdleTimeout(pub Duration);
