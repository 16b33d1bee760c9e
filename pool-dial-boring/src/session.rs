//! The BoringSSL dialer's session cache, browser-like: every session the server issues
//! (each TLS 1.3 ticket is one) is stored under the host name, in a cache of its profile's
//! own (one per `SslContext`), and a later dial to the same host offers the newest one,
//! once (a TLS 1.2 session may be offered again, as Chrome does). A resumed ClientHello
//! then carries `pre_shared_key` (last) and `psk_key_exchange_modes`, as Chrome's does.
//!
//! The one `unsafe` call of the crate lives here: `SslRef::set_session` requires the
//! session to come from the same `SslContext` as the `Ssl` (see `docs/boring.md`).
#![allow(unsafe_code)]

use std::sync::{Arc, OnceLock};

use btls::error::ErrorStack;
use btls::ex_data::Index;
use btls::ssl::{
    Ssl, SslConnectorBuilder, SslContextRef, SslRef, SslSession, SslSessionCacheMode, SslVersion,
};
use pool_dial::{MAX_TICKETS, TICKETS_PER_NAME, TicketStore};

/// The `Ssl` extra-data slot holding the host name a connection was made for (what its
/// sessions are stored under).
fn host_index() -> Result<Index<Ssl, Arc<str>>, ErrorStack> {
    static INDEX: OnceLock<Index<Ssl, Arc<str>>> = OnceLock::new();
    if let Some(index) = INDEX.get() {
        return Ok(*index);
    }
    let index = Ssl::new_ex_index::<Arc<str>>()?;
    Ok(*INDEX.get_or_init(|| index))
}

/// One profile's session cache, tied to the `SslContext` it was installed on: the rustls
/// dialer's limits ([`TICKETS_PER_NAME`] per host, [`MAX_TICKETS`] in all).
pub(crate) struct SessionCache {
    sessions: TicketStore<Arc<str>, SslSession>,
    /// The context whose connections fill this cache (its address, for the check in
    /// [`resume`](Self::resume); never dereferenced).
    context: OnceLock<usize>,
}

impl SessionCache {
    /// Turns on client session caching on `builder` and stores every new session of its
    /// connections in the returned cache.
    pub(crate) fn install(builder: &mut SslConnectorBuilder) -> Arc<Self> {
        let cache = Arc::new(Self {
            sessions: TicketStore::new(TICKETS_PER_NAME, MAX_TICKETS),
            context: OnceLock::new(),
        });
        builder.set_session_cache_mode(SslSessionCacheMode::CLIENT);
        let store = Arc::clone(&cache);
        builder.set_new_session_callback(move |ssl, session| {
            let host = host_index()
                .ok()
                .and_then(|index| ssl.ex_data(index).cloned());
            if let Some(host) = host {
                store.sessions.insert(host, session);
            }
        });
        cache
    }

    /// Records the context built from the builder [`install`](Self::install) was called
    /// on (`SslConnectorBuilder::build`).
    pub(crate) fn bind(&self, context: &SslContextRef) {
        let _ = self.context.set(context_id(context));
    }

    /// Marks `ssl` as a connection to `host` (its new sessions go under that name) and
    /// offers the newest stored session for `host`, if any. `ssl` must come from the
    /// context this cache was installed on; a session is offered only then.
    pub(crate) fn resume(&self, ssl: &mut SslRef, host: &Arc<str>) -> Result<(), ErrorStack> {
        ssl.set_ex_data(host_index()?, Arc::clone(host));
        if self.context.get() != Some(&context_id(ssl.ssl_context())) {
            return Ok(());
        }
        let Some(session) = self.sessions.take(host) else {
            return Ok(());
        };
        // SAFETY: `set_session` requires the session to belong to the same `SslContext` as
        // `ssl`. This cache is filled only by the new-session callback installed on one
        // context's builder (each profile has its own builder, context and cache), so every
        // session in it came from a connection of that context; and `ssl` was checked
        // just above to be of that same context.
        unsafe { ssl.set_session(&session) }?;
        // A TLS 1.3 ticket is used once; a TLS 1.2 session may be resumed again.
        if session.protocol_version() != SslVersion::TLS1_3 {
            self.sessions.insert(Arc::clone(host), session);
        }
        Ok(())
    }

    /// Sessions stored for `host`.
    #[cfg(test)]
    pub(crate) fn stored(&self, host: &str) -> usize {
        self.sessions.len_for(host)
    }
}

fn context_id(context: &SslContextRef) -> usize {
    std::ptr::from_ref(context) as usize
}

#[cfg(test)]
mod tests {
    use super::*;
    use btls::ssl::{SslConnector, SslMethod};

    fn builder() -> SslConnectorBuilder {
        SslConnector::builder(SslMethod::tls()).unwrap()
    }

    #[test]
    fn a_session_is_offered_only_on_its_own_context_and_marks_the_host() {
        let mut b = builder();
        let cache = SessionCache::install(&mut b);
        let connector = b.build();
        cache.bind(connector.context());
        let host: Arc<str> = Arc::from("a.test");

        // Another context (another profile) never gets this cache's sessions.
        let other = builder().build();
        let mut ssl = other.configure().unwrap().into_ssl("a.test").unwrap();
        cache.resume(&mut ssl, &host).unwrap();
        assert_eq!(
            ssl.ex_data(host_index().unwrap()).map(|h| &**h),
            Some("a.test")
        );
        assert!(ssl.session().is_none());

        // Its own context with an empty cache: nothing offered.
        let mut ssl = connector.configure().unwrap().into_ssl("a.test").unwrap();
        cache.resume(&mut ssl, &host).unwrap();
        assert!(ssl.session().is_none());
        assert_eq!(cache.stored("a.test"), 0);
    }
}
