//! The ids the core hands out, in one place: every part of the state refers to the others'
//! entries by these, so none of them has to import another part just to name an entry.

/// Identifies one pooled connection; stale ids (of closed connections) are never confused
/// with a new connection in the same slot.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ConnId {
    index: u32,
    generation: u32,
}

impl ConnId {
    /// The id of the entry in slab slot `index` at `generation`.
    pub(super) fn new(index: u32, generation: u32) -> Self {
        Self { index, generation }
    }

    /// The id as one number (the fast lane's idle hint).
    pub(crate) fn to_bits(self) -> u64 {
        (u64::from(self.index) << 32) | u64::from(self.generation)
    }

    /// The id [`ConnId::to_bits`] made.
    pub(crate) fn from_bits(bits: u64) -> Self {
        Self {
            index: (bits >> 32) as u32,
            generation: bits as u32,
        }
    }

    /// The slab slot it lives in.
    pub(super) fn index(self) -> u32 {
        self.index
    }

    /// The slot's generation when the id was made.
    pub(super) fn generation(self) -> u32 {
        self.generation
    }
}

/// Identifies one host (an index into the hosts table; hosts are never removed).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub(super) struct HostId(pub(super) u32);

/// Identifies one dial in flight.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct DialId(pub(super) u64);

/// Identifies one caller waiting for a connection.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct WaiterId(pub(super) u64);
