//! The client's one error type.

use pool_config::ConfigError;
use pool_http::RequestError;

/// What a URL without a scheme is told.
pub(crate) const NOT_ABSOLUTE: &str = "not an absolute URL (https://host/path or http://…)";

/// What can go wrong between a URL and its response. Every variant names the URL or host
/// it concerns; none holds a credential.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The URL cannot be requested: relative, no scheme, a scheme other than `http` or
    /// `https`, no host, a bad port.
    #[error("{url}: {reason}")]
    Url {
        /// The URL as given.
        url: String,
        /// Why it cannot be requested.
        reason: String,
    },
    /// The configuration (a file, or one changed in code) is refused.
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// A host's pool could not be set up (TLS or QUIC setup, pool options, fleet).
    #[error("{host}: {reason}")]
    Setup {
        /// The host.
        host: String,
        /// What failed.
        reason: String,
    },
    /// The host name does not resolve (or the resolver did not answer in time).
    #[error("cannot resolve {host}: {reason}")]
    Resolve {
        /// The host.
        host: String,
        /// The resolver's answer.
        reason: String,
    },
    /// The request named an egress its host does not have ([`RequestBuilder::egress`]
    /// (crate::RequestBuilder::egress)).
    #[error("{url}: no egress {egress:?} for this host")]
    Egress {
        /// The URL requested.
        url: String,
        /// The egress asked for.
        egress: String,
    },
    /// Reading a response body failed (the stream broke or stalled, a bound was passed,
    /// decoding failed): the request layer's error, so `?` works on
    /// [`Body`](crate::Body)'s methods.
    #[error("reading the response body: {0}")]
    Body(#[from] RequestError),
    /// The request failed (connect, timeout, protocol, refused): the request layer's
    /// typed error.
    #[error("{url}: {source}")]
    Request {
        /// The URL requested.
        url: String,
        /// The request layer's error.
        #[source]
        source: RequestError,
    },
}

impl Error {
    pub(crate) fn url(url: &str, reason: impl Into<String>) -> Self {
        Error::Url {
            url: url.to_owned(),
            reason: reason.into(),
        }
    }

    pub(crate) fn setup(host: &str, reason: impl std::fmt::Display) -> Self {
        Error::Setup {
            host: host.to_owned(),
            reason: reason.to_string(),
        }
    }

    /// The request layer's error, when the request itself failed.
    #[must_use]
    pub fn request_error(&self) -> Option<&RequestError> {
        match self {
            Error::Request { source, .. } | Error::Body(source) => Some(source),
            _ => None,
        }
    }
}
