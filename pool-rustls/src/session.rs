//! TLS session resumption on rustls: the [`ClientSessionStore`] every config of this crate
//! uses ([`SessionStore`]), its TLS 1.3 tickets in `pool-dial`'s bounded single-use
//! [`TicketStore`] (rustls' default, `Resumption::in_memory_sessions(256)`, keeps 8
//! tickets for one name: a re-warm of 1,600 addresses would do 1,592 full handshakes).
//! See `docs/tls-resumption.md`.

use rustls::NamedGroup;
use rustls::client::{
    ClientSessionMemoryCache, ClientSessionStore, Tls12ClientSessionValue, Tls13ClientSessionValue,
};
use rustls_pki_types::ServerName;

pub use pool_dial::{MAX_TICKETS, TICKETS_PER_NAME, TicketStore};

/// The rustls session store of every config [`client_config`](crate::client_config)
/// builds (one per config, so a session is only offered under the config — profile,
/// trust, ALPN — it came from, and only for the server name it came from): TLS 1.3
/// tickets in a [`TicketStore`] (used once, [`TICKETS_PER_NAME`] per name,
/// [`MAX_TICKETS`] in all); key-exchange hints and the one TLS 1.2 session per name in
/// rustls' own [`ClientSessionMemoryCache`] (256 names).
#[derive(Debug)]
pub struct SessionStore {
    tls13: TicketStore<ServerName<'static>, Tls13ClientSessionValue>,
    rest: ClientSessionMemoryCache,
}

impl SessionStore {
    /// A store with the default limits.
    pub fn new() -> Self {
        Self::with_limits(TICKETS_PER_NAME, MAX_TICKETS)
    }

    /// A store of at most `per_name` TLS 1.3 tickets per server name, `total` in all.
    pub fn with_limits(per_name: usize, total: usize) -> Self {
        Self {
            tls13: TicketStore::new(per_name, total),
            // rustls counts 8 entries per name: 256 names.
            rest: ClientSessionMemoryCache::new(256 * 8),
        }
    }

    /// TLS 1.3 tickets stored for `name`.
    pub fn tickets_for(&self, name: &ServerName<'static>) -> usize {
        self.tls13.len_for(name)
    }
}

impl Default for SessionStore {
    fn default() -> Self {
        Self::new()
    }
}

impl ClientSessionStore for SessionStore {
    fn set_kx_hint(&self, server_name: ServerName<'static>, group: NamedGroup) {
        self.rest.set_kx_hint(server_name, group);
    }

    fn kx_hint(&self, server_name: &ServerName<'_>) -> Option<NamedGroup> {
        self.rest.kx_hint(server_name)
    }

    fn set_tls12_session(&self, server_name: ServerName<'static>, value: Tls12ClientSessionValue) {
        self.rest.set_tls12_session(server_name, value);
    }

    fn tls12_session(&self, server_name: &ServerName<'_>) -> Option<Tls12ClientSessionValue> {
        self.rest.tls12_session(server_name)
    }

    fn remove_tls12_session(&self, server_name: &ServerName<'static>) {
        self.rest.remove_tls12_session(server_name);
    }

    fn insert_tls13_ticket(
        &self,
        server_name: ServerName<'static>,
        value: Tls13ClientSessionValue,
    ) {
        self.tls13.insert(server_name, value);
    }

    fn take_tls13_ticket(
        &self,
        server_name: &ServerName<'static>,
    ) -> Option<Tls13ClientSessionValue> {
        self.tls13.take(server_name)
    }
}
