//! A bounded store of single-use TLS session tickets keyed by server name
//! ([`TicketStore`]), the session cache of both TLS engines (rustls' `SessionStore` in
//! `pool-rustls`, BoringSSL's in `pool-dial-boring`). See `docs/tls-resumption.md`.
//!
//! A TLS library's default cache is sized for a browser: rustls' keeps 32 server names with
//! at most 8 TLS 1.3 tickets each, so a re-warm of 1,600 addresses of one host finds 8
//! tickets and does 1,592 full handshakes. This store keeps up to [`TICKETS_PER_NAME`]
//! tickets for one name and [`MAX_TICKETS`] in all, each handed out once (TLS 1.3 tickets
//! must not be reused: RFC 8446 §C.4).

use std::collections::{HashMap, VecDeque};
use std::hash::Hash;
use std::sync::{Mutex, MutexGuard};

/// Tickets kept for one server name: enough for a re-warm of a host with ~1,600
/// addresses (each full handshake brings 2 tickets from most servers).
pub const TICKETS_PER_NAME: usize = 2048;

/// Tickets kept in all, per store (one store per built config or profile): bounds memory.
/// A rustls ticket holds the ticket (100 bytes to ~2 KB, the server's choice) and a copy of the
/// server's certificate chain (typically 2–5 KB): a full store is ~5–15 MB.
pub const MAX_TICKETS: usize = 2048;

/// A bounded store of single-use tickets keyed by `K`: [`take`](Self::take) hands a
/// ticket out once (the newest of its key first); at most `per_key` tickets per key (the
/// key's oldest goes first) and `total` in all (the oldest ticket of the store goes
/// first). Shared by the rustls and BoringSSL dialers.
pub struct TicketStore<K, T> {
    per_key: usize,
    total: usize,
    inner: Mutex<Inner<K, T>>,
}

struct Inner<K, T> {
    /// Per key, `(sequence, ticket)`, oldest first; a key without tickets is removed.
    keys: HashMap<K, VecDeque<(u64, T)>>,
    len: usize,
    next_seq: u64,
}

impl<K: Eq + Hash + Clone, T> TicketStore<K, T> {
    /// A store of at most `per_key` tickets per key and `total` in all (`0`: keeps
    /// nothing).
    pub fn new(per_key: usize, total: usize) -> Self {
        Self {
            per_key,
            total,
            inner: Mutex::new(Inner {
                keys: HashMap::new(),
                len: 0,
                next_seq: 0,
            }),
        }
    }

    fn lock(&self) -> MutexGuard<'_, Inner<K, T>> {
        // A panic while holding the lock leaves consistent data (every edit is one step).
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Stores `ticket` for `key`, evicting the key's oldest ticket when the key is full,
    /// else the store's oldest when the store is full.
    pub fn insert(&self, key: K, ticket: T) {
        if self.per_key == 0 || self.total == 0 {
            return;
        }
        let mut inner = self.lock();
        let inner = &mut *inner;
        let full_key = inner
            .keys
            .get(&key)
            .is_some_and(|q| q.len() >= self.per_key);
        if full_key {
            if let Some(q) = inner.keys.get_mut(&key) {
                q.pop_front();
                inner.len -= 1;
            }
        } else if inner.len >= self.total {
            // The store's oldest ticket is the oldest front of some key: a scan over the
            // keys, only when the store is full.
            let oldest = inner
                .keys
                .iter()
                .filter_map(|(k, q)| q.front().map(|(seq, _)| (*seq, k.clone())))
                .min_by_key(|(seq, _)| *seq);
            if let Some((_, k)) = oldest {
                remove_front(&mut inner.keys, &k);
                inner.len -= 1;
            }
        }
        let seq = inner.next_seq;
        inner.next_seq += 1;
        inner.keys.entry(key).or_default().push_back((seq, ticket));
        inner.len += 1;
    }

    /// The newest ticket of `key`, removed from the store (a ticket is used once).
    pub fn take<Q>(&self, key: &Q) -> Option<T>
    where
        K: std::borrow::Borrow<Q>,
        Q: Eq + Hash + ?Sized,
    {
        let mut inner = self.lock();
        let q = inner.keys.get_mut(key)?;
        let (_, ticket) = q.pop_back()?;
        if q.is_empty() {
            inner.keys.remove(key);
        }
        inner.len -= 1;
        Some(ticket)
    }

    /// Tickets stored in all.
    pub fn len(&self) -> usize {
        self.lock().len
    }

    /// Whether no ticket is stored.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Tickets stored for `key`.
    pub fn len_for<Q>(&self, key: &Q) -> usize
    where
        K: std::borrow::Borrow<Q>,
        Q: Eq + Hash + ?Sized,
    {
        self.lock().keys.get(key).map_or(0, VecDeque::len)
    }
}

fn remove_front<K: Eq + Hash, T>(keys: &mut HashMap<K, VecDeque<(u64, T)>>, k: &K) {
    if let Some(q) = keys.get_mut(k) {
        q.pop_front();
        if q.is_empty() {
            keys.remove(k);
        }
    }
}

impl<K, T> std::fmt::Debug for TicketStore<K, T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The tickets are secrets: only the limits.
        f.debug_struct("TicketStore")
            .field("per_key", &self.per_key)
            .field("total", &self.total)
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_ticket_is_taken_once_newest_first_and_only_for_its_key() {
        let store = TicketStore::new(8, 100);
        store.insert("a.test", 1);
        store.insert("a.test", 2);
        store.insert("b.test", 10);
        assert_eq!(store.take("c.test"), None, "keyed by name");
        assert_eq!(store.take("a.test"), Some(2), "newest first");
        assert_eq!(store.take("a.test"), Some(1));
        assert_eq!(store.take("a.test"), None, "each ticket once");
        assert_eq!(store.len(), 1);
        assert_eq!(store.take("b.test"), Some(10));
        assert!(store.is_empty());
    }

    #[test]
    fn bounded_per_key_and_in_all() {
        let store = TicketStore::new(3, 5);
        for i in 0..10 {
            store.insert("a", i);
        }
        assert_eq!(store.len_for("a"), 3, "per key: the oldest go");
        assert_eq!(store.take("a"), Some(9));
        store.insert("a", 10);
        for i in 100..103 {
            store.insert("b", i);
        }
        // 3 + 3 > 5: the store's oldest ticket ("a" 7) went.
        assert_eq!(store.len(), 5);
        assert_eq!(store.len_for("a"), 2);
        assert_eq!(store.take("a"), Some(10));
        assert_eq!(store.take("a"), Some(8));
        assert_eq!(store.take("a"), None);
        assert_eq!(store.len_for("b"), 3);
    }

    #[test]
    fn a_store_for_one_host_of_1600_addresses_keeps_its_tickets() {
        // A warm-up of 1,600 connections, 2 tickets each, to one name.
        let store = TicketStore::new(TICKETS_PER_NAME, MAX_TICKETS);
        for i in 0..3200 {
            store.insert("one.test", i);
        }
        assert_eq!(store.len_for("one.test"), TICKETS_PER_NAME);
        let mut taken = 0;
        while store.take("one.test").is_some() {
            taken += 1;
        }
        assert!(taken >= 1600, "a re-warm of 1,600 finds {taken} tickets");
    }

    #[test]
    fn zero_limits_keep_nothing() {
        let store = TicketStore::new(0, 10);
        store.insert("a", 1);
        assert_eq!(store.take("a"), None);
        let store = TicketStore::new(10, 0);
        store.insert("a", 1);
        assert!(store.is_empty());
    }
}
