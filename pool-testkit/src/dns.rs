//! An authoritative DNS server (hickory-server) whose records and failure mode a test
//! changes at run time.

use std::io;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::Arc;
use std::sync::atomic::{AtomicU8, AtomicU32, AtomicU64, Ordering};
use std::time::Duration;

use hickory_server::Server;
use hickory_server::net::runtime::{Time, TokioRuntimeProvider};
use hickory_server::proto::op::{Header, HeaderCounts, Metadata, ResponseCode};
use hickory_server::proto::rr::rdata::{A, AAAA, NS, SOA};
use hickory_server::proto::rr::{LowerName, Name, RData, Record, RecordSet, RecordType, RrKey};
use hickory_server::server::{Request, RequestHandler, ResponseHandler, ResponseInfo};
use hickory_server::store::in_memory::InMemoryZoneHandler;
use hickory_server::zone_handler::{
    AxfrPolicy, Catalog, MessageResponseBuilder, ZoneHandler, ZoneType,
};
use tokio::net::{TcpListener, UdpSocket};
use tokio::sync::Notify;

use crate::dns_tls::{self, DnsTlsOptions, TlsListeners};
use crate::wait::until;

/// Idle timeout of a TCP DNS connection on the server side.
const TCP_TIMEOUT: Duration = Duration::from_secs(5);
/// Outgoing response buffer per TCP connection.
const TCP_RESPONSE_BUFFER: usize = 32;
/// How many times UDP and TCP are re-bound when the UDP port is taken for TCP.
const BIND_ATTEMPTS: usize = 16;
/// SOA minimum (negative-caching TTL) of the zones, kept short for tests.
const NEGATIVE_TTL: u32 = 1;

/// How the server answers (every query, or one address family's queries, see
/// [`DnsServer::set_family_mode`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum DnsMode {
    /// Answers from the zones.
    #[default]
    Normal,
    /// Answers with SERVFAIL.
    ServFail,
    /// Receives queries (they are counted) and never answers: resolvers time out.
    Silent,
    /// Answers with REFUSED (what a forwarder without upstream says about names it has no
    /// data for).
    Refused,
    /// Answers NXDOMAIN (the name does not exist), whatever the zone holds.
    NxDomain,
    /// Answers NOERROR without records (NODATA), whatever the zone holds.
    NoData,
}

impl DnsMode {
    const ALL: [DnsMode; 6] = [
        DnsMode::Normal,
        DnsMode::ServFail,
        DnsMode::Silent,
        DnsMode::Refused,
        DnsMode::NxDomain,
        DnsMode::NoData,
    ];

    fn from_u8(v: u8) -> Self {
        Self::ALL.get(usize::from(v)).copied().unwrap_or_default()
    }

    fn as_u8(self) -> u8 {
        Self::ALL.iter().position(|m| *m == self).unwrap_or(0) as u8
    }

    /// The response code of an error answer, `None` for answering normally or not at all.
    fn error_code(self) -> Option<ResponseCode> {
        match self {
            DnsMode::Normal | DnsMode::Silent => None,
            DnsMode::ServFail => Some(ResponseCode::ServFail),
            DnsMode::Refused => Some(ResponseCode::Refused),
            DnsMode::NxDomain => Some(ResponseCode::NXDomain),
            DnsMode::NoData => Some(ResponseCode::NoError),
        }
    }
}

/// An address family's queries: A (IPv4) or AAAA (IPv6).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DnsFamily {
    /// A queries (and every query of another type than AAAA and HTTPS: HTTPS queries
    /// have their own mode, [`DnsServer::set_https_mode`]).
    V4,
    /// AAAA queries.
    V6,
}

/// Options of a [`DnsServer`].
#[derive(Debug, Clone)]
pub struct DnsServerOptions {
    /// The zones served authoritatively (e.g. `"test"`, `"hotpool.test."`). Each gets an
    /// SOA (negative TTL 1 s) and an NS record. Default: `["test."]`.
    pub zones: Vec<String>,
    /// The address to listen on (UDP and TCP, one random port). Default: `127.0.0.1`.
    pub bind: IpAddr,
    /// The UDP and TCP port; 0 (the default) picks a free one. A fixed port is for
    /// resolvers that cannot be told one (a resolv.conf always means port 53): use it on
    /// an address of 127/8 no one else uses.
    pub port: u16,
    /// Also serve DNS-over-TLS and DNS-over-HTTPS (each on its own random port of `bind`)
    /// with a certificate of this CA. Default: `None`.
    pub tls: Option<DnsTlsOptions>,
}

impl Default for DnsServerOptions {
    fn default() -> Self {
        Self {
            zones: vec!["test.".to_owned()],
            bind: IpAddr::V4(Ipv4Addr::LOCALHOST),
            port: 0,
            tls: None,
        }
    }
}

struct Shared {
    /// The mode of A (and other) queries, then of AAAA queries, then of HTTPS (type 65)
    /// queries.
    modes: [AtomicU8; 3],
    queries: AtomicU64,
    notify: Notify,
}

/// Wraps the catalog to count queries and inject failures.
struct Handler {
    catalog: Catalog,
    shared: Arc<Shared>,
}

fn unanswered(request: &Request) -> ResponseInfo {
    let mut metadata = Metadata::response_from_request(&request.metadata);
    metadata.response_code = ResponseCode::ServFail;
    ResponseInfo::from(Header {
        metadata,
        counts: HeaderCounts::default(),
    })
}

#[async_trait::async_trait]
impl RequestHandler for Handler {
    async fn handle_request<R: ResponseHandler, T: Time>(
        &self,
        request: &Request,
        mut response_handle: R,
    ) -> ResponseInfo {
        self.shared.queries.fetch_add(1, Ordering::SeqCst);
        self.shared.notify.notify_waiters();
        let mode = match request.queries.queries().first().map(|q| q.query_type()) {
            Some(RecordType::AAAA) => self.shared.mode(DnsFamily::V6),
            Some(RecordType::HTTPS) => self.shared.https_mode(),
            _ => self.shared.mode(DnsFamily::V4),
        };
        if mode == DnsMode::Silent {
            return unanswered(request);
        }
        let Some(code) = mode.error_code() else {
            return self
                .catalog
                .handle_request::<R, T>(request, response_handle)
                .await;
        };
        let response =
            MessageResponseBuilder::new(&request.queries, None).error_msg(&request.metadata, code);
        match response_handle.send_response(response).await {
            Ok(info) => info,
            Err(e) => {
                tracing::debug!(error = %e, ?code, "sending an error answer failed");
                unanswered(request)
            }
        }
    }
}

impl Shared {
    fn mode(&self, family: DnsFamily) -> DnsMode {
        DnsMode::from_u8(self.modes[family as usize].load(Ordering::SeqCst))
    }

    fn https_mode(&self) -> DnsMode {
        DnsMode::from_u8(self.modes[HTTPS_MODE].load(Ordering::SeqCst))
    }
}

/// The index of HTTPS queries' mode in [`Shared::modes`] (after A and AAAA).
const HTTPS_MODE: usize = 2;

type Zone = InMemoryZoneHandler<TokioRuntimeProvider>;

/// A local authoritative DNS server (UDP and TCP on one random port; DNS-over-TLS and
/// DNS-over-HTTPS too with [`DnsServerOptions::tls`]).
///
/// Records are set per name with [`set_addrs`](Self::set_addrs) (A and AAAA) and take
/// effect for the next query. A name without records (never set, [`remove`d](Self::remove),
/// or set to an empty list) is answered with **NXDOMAIN**; a name that has only A records
/// answers an AAAA query with NOERROR and no answer (NODATA), and vice versa. HTTPS
/// records (RFC 9460) are set with [`set_https`](Self::set_https).
pub struct DnsServer {
    shared: Arc<Shared>,
    zones: Vec<(Name, Arc<Zone>)>,
    addr: SocketAddr,
    tls: Option<TlsListeners>,
    serial: AtomicU32,
    server: tokio::sync::Mutex<Option<Server<Handler>>>,
}

impl std::fmt::Debug for DnsServer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DnsServer")
            .field("addr", &self.addr)
            .field(
                "zones",
                &self
                    .zones
                    .iter()
                    .map(|z| z.0.to_string())
                    .collect::<Vec<_>>(),
            )
            .finish_non_exhaustive()
    }
}

fn parse_name(name: &str) -> io::Result<Name> {
    let mut n = Name::from_ascii(name).map_err(|e| {
        io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("bad DNS name {name:?}: {e}"),
        )
    })?;
    n.set_fqdn(true);
    Ok(n)
}

fn make_zone(origin: &Name, serial: u32) -> io::Result<Zone> {
    let ns_name = parse_name("ns").and_then(|n| {
        n.append_domain(origin)
            .map_err(|e| io::Error::other(e.to_string()))
    })?;
    let hostmaster = parse_name("hostmaster").and_then(|n| {
        n.append_domain(origin)
            .map_err(|e| io::Error::other(e.to_string()))
    })?;
    let mut zone = Zone::empty(origin.clone(), ZoneType::Primary, AxfrPolicy::Deny);
    let soa = Record::from_rdata(
        origin.clone(),
        3600,
        RData::SOA(SOA::new(
            ns_name.clone(),
            hostmaster,
            serial,
            3600,
            600,
            86400,
            NEGATIVE_TTL,
        )),
    );
    let ns = Record::from_rdata(origin.clone(), 3600, RData::NS(NS(ns_name)));
    if !zone.upsert_mut(soa, serial) || !zone.upsert_mut(ns, serial) {
        return Err(io::Error::other(format!("cannot build zone {origin}")));
    }
    Ok(zone)
}

fn bind_udp_tcp(ip: IpAddr, port: u16) -> io::Result<(std::net::UdpSocket, std::net::TcpListener)> {
    if port != 0 {
        let addr = SocketAddr::new(ip, port);
        return Ok((
            std::net::UdpSocket::bind(addr)?,
            std::net::TcpListener::bind(addr)?,
        ));
    }
    let mut last = None;
    for _ in 0..BIND_ATTEMPTS {
        let udp = std::net::UdpSocket::bind(SocketAddr::new(ip, 0))?;
        let port = udp.local_addr()?.port();
        match std::net::TcpListener::bind(SocketAddr::new(ip, port)) {
            Ok(tcp) => return Ok((udp, tcp)),
            Err(e) if e.kind() == io::ErrorKind::AddrInUse => last = Some(e),
            Err(e) => return Err(e),
        }
    }
    Err(last.unwrap_or_else(|| io::Error::from(io::ErrorKind::AddrInUse)))
}

impl DnsServer {
    /// Starts the server with the given zones (no records besides SOA and NS yet).
    pub async fn start(options: DnsServerOptions) -> io::Result<DnsServer> {
        let serial = 1;
        let mut catalog = Catalog::new();
        let mut zones = Vec::new();
        for z in &options.zones {
            let origin = parse_name(z)?;
            let zone = Arc::new(make_zone(&origin, serial)?);
            catalog.upsert(
                LowerName::new(&origin),
                vec![Arc::clone(&zone) as Arc<dyn ZoneHandler>],
            );
            zones.push((origin, zone));
        }
        let shared = Arc::new(Shared {
            modes: [AtomicU8::new(0), AtomicU8::new(0), AtomicU8::new(0)],
            queries: AtomicU64::new(0),
            notify: Notify::new(),
        });
        let (udp, tcp) = bind_udp_tcp(options.bind, options.port)?;
        let addr = udp.local_addr()?;
        udp.set_nonblocking(true)?;
        tcp.set_nonblocking(true)?;
        let mut server = Server::new(Handler {
            catalog,
            shared: Arc::clone(&shared),
        });
        server.register_socket(UdpSocket::from_std(udp)?);
        server.register_listener(
            TcpListener::from_std(tcp)?,
            TCP_TIMEOUT,
            TCP_RESPONSE_BUFFER,
        );
        let tls = match &options.tls {
            Some(tls) => Some(dns_tls::register(&mut server, options.bind, tls)?),
            None => None,
        };
        tracing::debug!(%addr, zones = ?options.zones, "DNS server listening");
        Ok(DnsServer {
            shared,
            zones,
            addr,
            tls,
            serial: AtomicU32::new(serial),
            server: tokio::sync::Mutex::new(Some(server)),
        })
    }

    /// Starts a server for one zone with default options.
    pub async fn start_zone(zone: &str) -> io::Result<DnsServer> {
        Self::start(DnsServerOptions {
            zones: vec![zone.to_owned()],
            ..DnsServerOptions::default()
        })
        .await
    }

    /// The address (UDP and TCP) the server answers on.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The DNS-over-TLS address (`None` without [`DnsServerOptions::tls`]).
    pub fn tls_addr(&self) -> Option<SocketAddr> {
        self.tls.as_ref().map(|t| t.tls)
    }

    /// The DNS-over-HTTPS address (`None` without [`DnsServerOptions::tls`]); the path is
    /// [`DOH_PATH`](crate::DOH_PATH).
    pub fn https_addr(&self) -> Option<SocketAddr> {
        self.tls.as_ref().map(|t| t.https)
    }

    /// From the next DoT or DoH handshake on, presents a certificate for `names` instead
    /// (issued by the same CA): a client expecting another name then fails its handshake.
    /// Connections already open keep their certificate.
    ///
    /// # Errors
    /// `InvalidInput` without [`DnsServerOptions::tls`]; certificate generation errors.
    pub fn set_tls_names(&self, names: &[&str]) -> io::Result<()> {
        let Some(tls) = &self.tls else {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "the server has no TLS listeners",
            ));
        };
        tls.certs
            .set_names(&names.iter().map(|n| (*n).to_owned()).collect::<Vec<_>>())
    }

    fn zone_for(&self, name: &Name) -> io::Result<&Arc<Zone>> {
        self.zones
            .iter()
            .filter(|(origin, _)| origin.zone_of(name))
            .max_by_key(|(origin, _)| origin.num_labels())
            .map(|(_, z)| z)
            .ok_or_else(|| {
                io::Error::new(
                    io::ErrorKind::InvalidInput,
                    format!("{name} is in none of the served zones"),
                )
            })
    }

    /// Replaces the A and AAAA records of `name` with `addrs` (IPv4 ones become A,
    /// IPv6 ones AAAA), with the given TTL. An empty list removes them.
    pub async fn set_addrs(&self, name: &str, addrs: &[IpAddr], ttl_secs: u32) -> io::Result<()> {
        let name = parse_name(name)?;
        let zone = self.zone_for(&name)?;
        let serial = self.serial.fetch_add(1, Ordering::SeqCst) + 1;
        let lower = LowerName::new(&name);
        let mut v4 = RecordSet::new(name.clone(), RecordType::A, serial);
        let mut v6 = RecordSet::new(name.clone(), RecordType::AAAA, serial);
        for ip in addrs {
            let (set, rdata) = match ip {
                IpAddr::V4(a) => (&mut v4, RData::A(A(*a))),
                IpAddr::V6(a) => (&mut v6, RData::AAAA(AAAA(*a))),
            };
            set.insert(Record::from_rdata(name.clone(), ttl_secs, rdata), serial);
        }
        let mut records = zone.records_mut().await;
        for set in [v4, v6] {
            let key = RrKey::new(lower.clone(), set.record_type());
            if set.is_empty() {
                records.remove(&key);
            } else {
                records.insert(key, Arc::new(set));
            }
        }
        Ok(())
    }

    /// Replaces the HTTPS records (RFC 9460, type 65) of `name` with `records`, each in
    /// the zone-file presentation form `SvcPriority TargetName SvcParams`, e.g.
    /// `"1 . alpn=h3,h2 port=8443 ipv4hint=127.0.0.2"` (ServiceMode, `.`: the owner name)
    /// or `"0 other.example.test."` (AliasMode), with the given TTL. An empty list removes
    /// them. For an origin on a port other than 443 the owner name is
    /// `_PORT._https.HOST` (RFC 9460 §9.1).
    ///
    /// # Errors
    /// `InvalidInput` for a record that does not parse, or a name outside the zones.
    pub async fn set_https(&self, name: &str, records: &[&str], ttl_secs: u32) -> io::Result<()> {
        let name = parse_name(name)?;
        let zone = self.zone_for(&name)?;
        let serial = self.serial.fetch_add(1, Ordering::SeqCst) + 1;
        let mut set = RecordSet::new(name.clone(), RecordType::HTTPS, serial);
        for text in records {
            let rdata = RData::try_from_str(RecordType::HTTPS, text).map_err(|e| {
                io::Error::new(
                    io::ErrorKind::InvalidInput,
                    format!("bad HTTPS record {text:?}: {e}"),
                )
            })?;
            set.insert(Record::from_rdata(name.clone(), ttl_secs, rdata), serial);
        }
        let key = RrKey::new(LowerName::new(&name), RecordType::HTTPS);
        let mut zone_records = zone.records_mut().await;
        if set.is_empty() {
            zone_records.remove(&key);
        } else {
            zone_records.insert(key, Arc::new(set));
        }
        Ok(())
    }

    /// Removes every record of `name`: queries for it then get NXDOMAIN.
    pub async fn remove(&self, name: &str) -> io::Result<()> {
        let name = parse_name(name)?;
        let zone = self.zone_for(&name)?;
        let lower = LowerName::new(&name);
        zone.records_mut().await.retain(|k, _| k.name != lower);
        Ok(())
    }

    /// Switches how the server answers every query, from the next query on.
    pub fn set_mode(&self, mode: DnsMode) {
        self.set_family_mode(DnsFamily::V4, mode);
        self.set_family_mode(DnsFamily::V6, mode);
        self.set_https_mode(mode);
    }

    /// Switches how the server answers one family's queries (A or AAAA), from the next
    /// query on; the other family's mode (and HTTPS queries') is unchanged.
    pub fn set_family_mode(&self, family: DnsFamily, mode: DnsMode) {
        self.shared.modes[family as usize].store(mode.as_u8(), Ordering::SeqCst);
    }

    /// Switches how the server answers HTTPS (type 65) queries, from the next query on;
    /// A and AAAA queries are unchanged (by default HTTPS queries follow
    /// [`DnsMode::Normal`] whatever the families' modes).
    pub fn set_https_mode(&self, mode: DnsMode) {
        self.shared.modes[HTTPS_MODE].store(mode.as_u8(), Ordering::SeqCst);
    }

    /// The current mode of HTTPS queries.
    pub fn https_mode(&self) -> DnsMode {
        self.shared.https_mode()
    }

    /// The current mode of A queries (see [`family_mode`](Self::family_mode)).
    pub fn mode(&self) -> DnsMode {
        self.shared.mode(DnsFamily::V4)
    }

    /// The current mode of one family's queries.
    pub fn family_mode(&self, family: DnsFamily) -> DnsMode {
        self.shared.mode(family)
    }

    /// Queries received so far (in every mode; every transport).
    pub fn queries(&self) -> u64 {
        self.shared.queries.load(Ordering::SeqCst)
    }

    /// Waits (at most `timeout`) until `cond(self)` holds; re-checked whenever a query
    /// arrives. Returns whether it held.
    pub async fn wait_until(&self, timeout: Duration, mut cond: impl FnMut(&Self) -> bool) -> bool {
        until(Some(&self.shared.notify), timeout, || cond(self)).await
    }

    /// Stops the server and waits until its sockets are closed and its tasks ended.
    /// Calling it again is a no-op.
    pub async fn shutdown(&self) {
        let server = self.server.lock().await.take();
        if let Some(mut server) = server
            && let Err(e) = server.shutdown_gracefully().await
        {
            tracing::debug!(error = %e, "DNS server shut down with an error");
        }
    }
}
