//! Latency samples and their percentiles (exact: every sample is kept and sorted).

use std::time::Duration;

use serde::Serialize;

/// A set of latency samples.
#[derive(Clone, Debug, Default)]
pub struct Latencies {
    samples: Vec<Duration>,
    sorted: bool,
}

/// Percentiles of a set of samples, in microseconds.
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize)]
pub struct Summary {
    /// Number of samples.
    pub count: usize,
    /// Smallest sample.
    pub min_us: u64,
    /// Median (nearest rank).
    pub p50_us: u64,
    /// 90th percentile.
    pub p90_us: u64,
    /// 99th percentile.
    pub p99_us: u64,
    /// Largest sample.
    pub max_us: u64,
    /// Arithmetic mean.
    pub mean_us: u64,
}

impl Latencies {
    /// Room for `n` samples.
    pub fn with_capacity(n: usize) -> Self {
        Self {
            samples: Vec::with_capacity(n),
            sorted: true,
        }
    }

    /// Adds a sample.
    pub fn record(&mut self, d: Duration) {
        self.samples.push(d);
        self.sorted = false;
    }

    /// Adds every sample of `other`.
    pub fn merge(&mut self, other: Latencies) {
        self.samples.extend(other.samples);
        self.sorted = false;
    }

    /// Number of samples.
    pub fn len(&self) -> usize {
        self.samples.len()
    }

    fn sort(&mut self) {
        if !self.sorted {
            self.samples.sort_unstable();
            self.sorted = true;
        }
    }

    /// The `q` quantile (0.0–1.0) by nearest rank; zero when there are no samples.
    pub fn quantile(&mut self, q: f64) -> Duration {
        self.sort();
        let n = self.samples.len();
        if n == 0 {
            return Duration::ZERO;
        }
        let rank = (q.clamp(0.0, 1.0) * n as f64).ceil() as usize;
        self.samples[rank.clamp(1, n) - 1]
    }

    /// Min, p50, p90, p99, max and mean.
    pub fn summary(&mut self) -> Summary {
        let us = |d: Duration| u64::try_from(d.as_micros()).unwrap_or(u64::MAX);
        let n = self.samples.len();
        let total: Duration = self.samples.iter().sum();
        Summary {
            count: n,
            min_us: us(self.quantile(0.0)),
            p50_us: us(self.quantile(0.5)),
            p90_us: us(self.quantile(0.9)),
            p99_us: us(self.quantile(0.99)),
            max_us: us(self.quantile(1.0)),
            mean_us: if n == 0 {
                0
            } else {
                us(total / u32::try_from(n).unwrap_or(u32::MAX))
            },
        }
    }

    /// Counts per power-of-two bucket in microseconds: `(upper_bound_us, count)` for every
    /// bucket from the one holding the smallest sample to the one holding the largest.
    pub fn buckets(&mut self) -> Vec<(u64, usize)> {
        self.sort();
        let mut out: Vec<(u64, usize)> = Vec::new();
        for d in &self.samples {
            let us = u64::try_from(d.as_micros()).unwrap_or(u64::MAX).max(1);
            let upper = us.checked_next_power_of_two().unwrap_or(u64::MAX);
            match out.last_mut() {
                Some((u, c)) if *u == upper => *c += 1,
                _ => {
                    // Fill empty buckets in between so the histogram has no holes.
                    if let Some(&(mut u, _)) = out.last() {
                        while u < upper / 2 {
                            u *= 2;
                            out.push((u, 0));
                        }
                    }
                    out.push((upper, 1));
                }
            }
        }
        out
    }
}

/// A duration in microseconds as text with a fitting unit ("87µs", "1.42ms", "2.10s").
pub fn fmt_us(us: u64) -> String {
    if us < 1_000 {
        format!("{us}µs")
    } else if us < 1_000_000 {
        format!("{:.2}ms", us as f64 / 1e3)
    } else {
        format!("{:.2}s", us as f64 / 1e6)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn us(n: u64) -> Duration {
        Duration::from_micros(n)
    }

    #[test]
    fn nearest_rank_percentiles() {
        let mut l = Latencies::default();
        for i in (1..=100).rev() {
            l.record(us(i));
        }
        let s = l.summary();
        assert_eq!(
            (s.min_us, s.p50_us, s.p90_us, s.p99_us, s.max_us),
            (1, 50, 90, 99, 100)
        );
        assert_eq!(s.count, 100);
        assert_eq!(s.mean_us, 50); // 50.5 truncated
    }

    #[test]
    fn empty_and_single() {
        let mut l = Latencies::default();
        assert_eq!(l.summary(), Summary::default());
        l.record(us(7));
        let s = l.summary();
        assert_eq!((s.p50_us, s.p99_us, s.max_us), (7, 7, 7));
    }

    #[test]
    fn buckets_are_contiguous_powers_of_two() {
        let mut l = Latencies::default();
        for v in [3, 3, 4, 100, 1000] {
            l.record(us(v));
        }
        let b = l.buckets();
        assert_eq!(b.first(), Some(&(4, 3)));
        assert_eq!(b.last(), Some(&(1024, 1)));
        assert!(b.windows(2).all(|w| w[1].0 == w[0].0 * 2));
        assert_eq!(b.iter().map(|(_, c)| c).sum::<usize>(), 5);
    }

    #[test]
    fn merge_and_format() {
        let mut a = Latencies::with_capacity(2);
        a.record(us(10));
        let mut b = Latencies::default();
        b.record(us(20));
        a.merge(b);
        assert_eq!(a.len(), 2);
        assert_eq!(a.quantile(1.0), us(20));
        assert_eq!(fmt_us(87), "87µs");
        assert_eq!(fmt_us(1420), "1.42ms");
        assert_eq!(fmt_us(2_100_000), "2.10s");
    }
}
