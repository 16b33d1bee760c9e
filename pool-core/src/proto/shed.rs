//! Memory-pressure shedding, sans-IO: readings of the process's resident memory come in
//! with `now` ([`PoolState::handle_memory_reading`]); above `memory_limit` an *episode*
//! starts and each reading closes `shed_fraction` of the idle connections (least recently
//! used first, [`PoolState::shed`]); the episode goes on — one share per reading — until a
//! reading is below the low-water mark. The shell reads the memory on a timer
//! (`memory_check_interval`) through a [`MemorySource`](crate::memory::MemorySource).
//!
//! One warning per episode when it starts and one line when it ends; the counts are in
//! [`Stats::memory_shed_total`](crate::Stats::memory_shed_total) and
//! [`Stats::shed_episodes`](crate::Stats::shed_episodes).

use std::time::{Duration, Instant};

use super::PoolState;
use crate::options::PoolOptions;

/// What one memory reading led to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Pressure {
    /// Shedding is off, or the reading is below the limit and no episode is under way (or
    /// between the low-water mark and the limit with none under way).
    Calm,
    /// Above the limit (or still above the low-water mark during an episode): idle
    /// connections were closed.
    Shedding {
        /// Connections closed by this reading.
        closed: usize,
        /// Whether this reading started the episode.
        started: bool,
    },
    /// The reading is below the low-water mark: the episode ended.
    Relieved {
        /// Connections closed over the whole episode.
        closed: u64,
        /// From the reading that started it to this one.
        lasted: Duration,
    },
}

/// An episode under way.
#[derive(Clone, Copy, Debug)]
struct Episode {
    started: Instant,
    closed: u64,
}

/// The shedding policy and its episode. Exists only while `memory_limit` is set.
#[derive(Debug)]
pub(super) struct Shedder {
    limit: u64,
    low_water: u64,
    fraction: f64,
    episode: Option<Episode>,
}

impl Shedder {
    /// The policy of `opts`; `None` when `memory_limit` is not set.
    pub(super) fn new(opts: &PoolOptions) -> Option<Self> {
        Some(Self {
            limit: opts.memory_limit?,
            low_water: opts.memory_low_water_or_default()?,
            fraction: opts.shed_fraction,
            episode: None,
        })
    }

    /// The share to shed for a reading of `resident` bytes, if any, and whether it starts
    /// an episode; `Err` with the ended episode when the reading ends one.
    fn decide(&mut self, resident: u64, now: Instant) -> Result<Option<(f64, bool)>, Episode> {
        match self.episode {
            None if resident > self.limit => {
                self.episode = Some(Episode {
                    started: now,
                    closed: 0,
                });
                Ok(Some((self.fraction, true)))
            }
            None => Ok(None),
            Some(_) if resident >= self.low_water => Ok(Some((self.fraction, false))),
            Some(ended) => {
                self.episode = None;
                Err(ended)
            }
        }
    }

    fn count(&mut self, closed: usize) {
        if let Some(e) = &mut self.episode {
            e.closed += closed as u64;
        }
    }
}

impl<T> PoolState<T> {
    /// Reports a reading of the process's resident memory, in bytes, taken at `now`. Sheds
    /// idle connections while under pressure (see the module docs); a no-op when
    /// `memory_limit` is not set.
    pub fn handle_memory_reading(&mut self, resident: u64, now: Instant) -> Pressure {
        let Some(shedder) = &mut self.shedder else {
            return Pressure::Calm;
        };
        let (limit, low_water) = (shedder.limit, shedder.low_water);
        match shedder.decide(resident, now) {
            Ok(None) => Pressure::Calm,
            Ok(Some((fraction, started))) => {
                let idle = self.conns.idle_count();
                let closed = self.shed(fraction);
                if let Some(shedder) = &mut self.shedder {
                    shedder.count(closed);
                }
                self.counters.memory_shed += closed as u64;
                if started {
                    self.counters.shed_episodes += 1;
                    tracing::warn!(
                        resident,
                        limit,
                        low_water,
                        idle,
                        closed,
                        "resident memory above memory_limit: shedding idle connections \
                         until it is below the low-water mark"
                    );
                }
                Pressure::Shedding { closed, started }
            }
            Err(ended) => {
                let lasted = now.saturating_duration_since(ended.started);
                tracing::info!(
                    resident,
                    low_water,
                    closed = ended.closed,
                    lasted_ms = lasted.as_millis() as u64,
                    "resident memory below the low-water mark: shedding stopped"
                );
                Pressure::Relieved {
                    closed: ended.closed,
                    lasted,
                }
            }
        }
    }

    /// Whether a memory-pressure episode is under way.
    pub fn is_shedding(&self) -> bool {
        self.shedder.as_ref().is_some_and(|s| s.episode.is_some())
    }
}
