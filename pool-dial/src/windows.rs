//! An HTTP/2 connection's receive windows: what this side configures ([`H2Windows`]) and
//! what is in force ([`ReceiveWindow`]); the adaptive mode that grows them is `crate::bdp`.

/// An HTTP/2 connection's receive flow-control windows: credit this side gives the peer,
/// not buffers. A stream whose body is not read holds at most `stream` bytes in h2; all
/// the streams of a connection together at most `connection` (`docs/h2-windows.md`).
///
/// The defaults are hyper's (2 MiB per stream, 5 MiB per connection): a connection
/// moves up to 5 MiB per round trip (≈ 800 Mbit/s at 50 ms) instead of the protocol's
/// 64 KiB (≈ 10 Mbit/s), and the adaptive mode grows both from a measured
/// bandwidth-delay product when a path needs more.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct H2Windows {
    /// `SETTINGS_INITIAL_WINDOW_SIZE`: what one stream may receive before its body is
    /// read. Within [`H2Windows::MIN`]`..=`[`H2Windows::MAX`]. Default: 2 MiB.
    pub stream: u32,
    /// The connection's window (the first WINDOW_UPDATE raises it from 65,535): what all
    /// its streams together may receive before their bodies are read. Within
    /// [`H2Windows::MIN`]`..=`[`H2Windows::MAX`]. Default: 5 MiB.
    pub connection: u32,
    /// Grow both windows from a bandwidth-delay product measured with PINGs while
    /// response data flows, doubling up to [`H2Windows::ADAPTIVE_CAP`] (never below the
    /// configured values). Default: true.
    pub adaptive: bool,
}

impl H2Windows {
    /// The smallest window HTTP/2 has (its initial value, RFC 9113 §6.9.2).
    pub const MIN: u32 = 65_535;
    /// The largest window HTTP/2 allows (2^31 - 1, RFC 9113 §6.9.1).
    pub const MAX: u32 = (1 << 31) - 1;
    /// Where the adaptive mode stops growing (hyper's limit: beyond it TCP's own window
    /// is the bound on most paths). A configured window above it is kept as configured.
    pub const ADAPTIVE_CAP: u32 = 16 << 20;

    /// What is wrong with these values (a window outside [`MIN`](Self::MIN)`..=`
    /// [`MAX`](Self::MAX)), one line each; empty when they are fine.
    #[must_use]
    pub fn problems(&self) -> Vec<String> {
        [("stream", self.stream), ("connection", self.connection)]
            .into_iter()
            .filter(|(_, v)| !(Self::MIN..=Self::MAX).contains(v))
            .map(|(name, v)| {
                format!(
                    "the {name} window must be within {}..={} (HTTP/2's limits), got {v}",
                    Self::MIN,
                    Self::MAX
                )
            })
            .collect()
    }

    /// The values clamped into HTTP/2's limits (h2 panics past [`MAX`](Self::MAX)).
    #[must_use]
    pub fn clamped(self) -> Self {
        Self {
            stream: self.stream.clamp(Self::MIN, Self::MAX),
            connection: self.connection.clamp(Self::MIN, Self::MAX),
            adaptive: self.adaptive,
        }
    }
}

impl Default for H2Windows {
    fn default() -> Self {
        Self {
            stream: 2 << 20,
            connection: 5 << 20,
            adaptive: true,
        }
    }
}

/// An HTTP/2 connection's receive windows: what it advertised at its handshake, or what
/// the adaptive mode grew them to (read with
/// [`H2Session::receive_window`](crate::H2Session::receive_window)). A grown stream window is
/// sent as a SETTINGS frame and applies to the peer's sending once the peer ACKs it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ReceiveWindow {
    /// `SETTINGS_INITIAL_WINDOW_SIZE`: each stream's window.
    pub stream: u32,
    /// The connection's window target.
    pub connection: u32,
}
