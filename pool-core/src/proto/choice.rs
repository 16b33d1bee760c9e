//! Which connection of a host a lease goes to: one set of rules over the connections'
//! gauges, used by the locked checkout (an exact scan) and by the shell's fast lane (O(1)
//! for `spread`: the better of two random connections, as Envoy's and Finagle's
//! balancers do).
//!
//! - `spread`: the least loaded connection with room (locked: the exact minimum, the first
//!   of equals; lane: for up to [`EXACT_UP_TO`] connections the exact minimum too, ties
//!   broken from a random start so every connection is used and stays warm; above, the
//!   less loaded of two random ones — near-least-loaded without a scan);
//! - `fill { streams }`: the first connection, in the host's member order, with fewer than
//!   `streams` leases, so one connection takes `streams` leases before the next is used;
//!   when all hold `streams`, the rest of their capacity is spread.

use super::gauge::Gauge;
use crate::options::Placement;

/// Up to this many connections per host, the lane scans them all (a handful of loads);
/// above, it takes the better of two random ones.
pub(crate) const EXACT_UP_TO: usize = 8;

/// Something that has a gauge (a host member of the core, a lane entry of the shell).
pub(crate) trait HasGauge {
    fn gauge(&self) -> &Gauge;
}

/// The lease limit a `fill` choice is taken under (`u32::MAX`: the capacity).
fn fill_limit(placement: Placement) -> Option<u32> {
    match placement {
        Placement::Spread => None,
        Placement::Fill { streams } => Some(streams.min(u32::MAX as usize) as u32),
    }
}

/// The locked checkout's choice, and the limit to take its lease under.
pub(crate) fn locked<M: HasGauge>(members: &[M], placement: Placement) -> Option<(&M, u32)> {
    fill_limit(placement)
        .and_then(|limit| first_fit(members, limit).map(|m| (m, limit)))
        .or_else(|| least_loaded(members, 0).map(|m| (m, u32::MAX)))
}

/// The lane's candidates, best first, and the limit to take a lease under; `random` is a
/// fresh random number. The lane tries them in order and takes the locked path if both
/// fail.
pub(crate) fn lane<M: HasGauge>(
    members: &[M],
    placement: Placement,
    random: u64,
) -> Option<([Option<&M>; 2], u32)> {
    if let Some(limit) = fill_limit(placement) {
        if let Some(m) = first_fit(members, limit) {
            return Some(([Some(m), None], limit));
        }
    }
    let n = members.len();
    if n <= EXACT_UP_TO {
        // From a random start (multiply-shift, no division): ties go round every member.
        let start = (((random >> 32) * n as u64) >> 32) as usize;
        return least_loaded(members, start).map(|m| ([Some(m), None], u32::MAX));
    }
    two_choices(members, random).map(|pair| (pair, u32::MAX))
}

/// The member with the fewest leases that has room, if any: the first of equals, looking
/// from `start` round to it (an idle one ends the scan).
fn least_loaded<M: HasGauge>(members: &[M], start: usize) -> Option<&M> {
    let (head, tail) = members.split_at(start.min(members.len()));
    let mut best: Option<(&M, u32)> = None;
    for m in tail.iter().chain(head) {
        if let Some(n) = m.gauge().room_below(u32::MAX) {
            if n == 0 {
                return Some(m);
            }
            if best.is_none_or(|(_, b)| n < b) {
                best = Some((m, n));
            }
        }
    }
    best.map(|(m, _)| m)
}

/// The first member with fewer than `limit` leases (and room), if any.
fn first_fit<M: HasGauge>(members: &[M], limit: u32) -> Option<&M> {
    members
        .iter()
        .find(|m| m.gauge().room_below(limit).is_some())
}

/// Two distinct random members (one if there is one), the less loaded first; `None` for
/// one that has no room.
fn two_choices<M: HasGauge>(members: &[M], random: u64) -> Option<[Option<&M>; 2]> {
    let n = members.len();
    if n == 0 {
        return None;
    }
    let i = (random % n as u64) as usize;
    let with_room = |m: &M| m.gauge().room_below(u32::MAX);
    if n == 1 {
        let a = &members[i];
        return Some([with_room(a).map(|_| a), None]);
    }
    let mut j = ((random >> 32) % (n as u64 - 1)) as usize;
    if j >= i {
        j += 1;
    }
    let (a, b) = (&members[i], &members[j]);
    let pair = match (with_room(a), with_room(b)) {
        (Some(x), Some(y)) if y < x => [Some(b), Some(a)],
        (Some(_), Some(_)) => [Some(a), Some(b)],
        (Some(_), None) => [Some(a), None],
        (None, Some(_)) => [Some(b), None],
        (None, None) => [None, None],
    };
    Some(pair)
}

#[cfg(all(test, not(hotpool_shuttle)))]
mod tests {

    use super::*;

    struct M(Gauge);

    impl HasGauge for M {
        fn gauge(&self) -> &Gauge {
            &self.0
        }
    }

    fn members(loads: &[u32], capacity: u32) -> Vec<M> {
        loads
            .iter()
            .map(|load| {
                let g = Gauge::new(
                    capacity,
                    0,
                    std::sync::Arc::new(crate::proto::gauge::HostAtomics::new()),
                );
                for _ in 0..*load {
                    assert!(g.try_acquire(u32::MAX));
                }
                M(g)
            })
            .collect()
    }

    fn pos(ms: &[M], m: &M) -> usize {
        ms.iter().position(|x| std::ptr::eq(x, m)).unwrap()
    }

    #[test]
    fn spread_takes_the_least_loaded_with_room() {
        let ms = members(&[3, 1, 4, 1], 4);
        let (m, limit) = locked(&ms, Placement::Spread).unwrap();
        assert_eq!((pos(&ms, m), limit), (1, u32::MAX));
        let full = members(&[4, 4], 4);
        assert!(locked(&full, Placement::Spread).is_none());
    }

    #[test]
    fn fill_takes_the_first_below_streams_then_spreads() {
        let ms = members(&[2, 1, 0], 4);
        let fill = Placement::Fill { streams: 2 };
        let (m, limit) = locked(&ms, fill).unwrap();
        assert_eq!((pos(&ms, m), limit), (1, 2));
        let all_at_streams = members(&[2, 2, 3], 4);
        let (m, limit) = locked(&all_at_streams, fill).unwrap();
        assert_eq!((pos(&all_at_streams, m), limit), (0, u32::MAX));
        let ([first, second], limit) = lane(&ms, fill, 7).unwrap();
        assert_eq!(
            (first.map(|m| pos(&ms, m)), second.is_none(), limit),
            (Some(1), true, 2)
        );
    }

    #[test]
    fn few_connections_are_scanned_from_a_random_start() {
        let ms = members(&[1, 0, 1, 0], 2);
        let mut seen = [0; 4];
        for random in 0..16u64 {
            let random = random.wrapping_mul(0x9E37_79B9_7F4A_7C15);
            let ([a, b], _) = lane(&ms, Placement::Spread, random).unwrap();
            assert!(b.is_none());
            seen[pos(&ms, a.unwrap())] += 1;
        }
        assert_eq!(seen[0] + seen[2], 0, "always a least loaded one");
        assert!(
            seen[1] > 0 && seen[3] > 0,
            "ties are broken from a random start"
        );
    }

    #[test]
    fn two_choices_are_distinct_and_ordered_by_load() {
        let mut loads = vec![4; EXACT_UP_TO + 1];
        loads[0] = 3;
        loads[1] = 0;
        let ms = members(&loads, 4);
        for random in 0..64u64 {
            let random = random.wrapping_mul(0x9E37_79B9_7F4A_7C15);
            let ([a, b], _) = lane(&ms, Placement::Spread, random).unwrap();
            let (a, b) = (a.map(|m| pos(&ms, m)), b.map(|m| pos(&ms, m)));
            assert!(a.is_none_or(|a| a < 2), "a full one is never first");
            assert!(b.is_none_or(|b| b < 2), "nor second");
            if let (Some(a), Some(b)) = (a, b) {
                assert_eq!((a, b), (1, 0), "the less loaded first");
            }
        }
        let one = members(&[1], 1);
        let nothing = lane(&one, Placement::Spread, 5);
        assert!(nothing.is_none_or(|([a, b], _)| a.is_none() && b.is_none()));
    }
}
