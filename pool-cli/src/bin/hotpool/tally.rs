//! What the request layer counted of pacing and throttling, by label: a `metrics`
//! recorder keeping the polite metrics of `pool_http::polite` (throttles by status,
//! status retries by reason, each rate wait's duration), for `bench`'s report. Every other
//! metric goes to the Prometheus exporter only (when one runs); the tally ignores it.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock, PoisonError};
use std::time::Duration;

use metrics::{
    Counter, Gauge, Histogram, HistogramFn, Key, KeyName, Metadata, Recorder, SharedString, Unit,
};
use pool_http::polite;

/// The counters kept, each with the label it is split by (`None`: not split).
const COUNTERS: [(&str, Option<&str>); 5] = [
    (polite::RATE_WAITS_TOTAL, None),
    (polite::RATE_LIMITED_TOTAL, None),
    (polite::THROTTLED_TOTAL, Some("status")),
    (polite::STATUS_RETRIES_TOTAL, Some("reason")),
    (polite::RETRY_BUDGET_EXHAUSTED_TOTAL, None),
];

/// Each kept counter by (metric, label value or "").
type Counts = BTreeMap<(&'static str, String), Arc<AtomicU64>>;

/// The process's tally, once [`install`](crate::metrics::install) set it up.
static TALLY: OnceLock<Tally> = OnceLock::new();

/// The process's tally (none before the recorders are installed).
pub fn get() -> Option<&'static Tally> {
    TALLY.get()
}

/// The polite metrics, summed over every label but the one each is split by.
#[derive(Clone, Debug, Default)]
pub struct Tally {
    /// (metric, label value or "") → count.
    counters: Arc<Mutex<Counts>>,
    /// Each rate wait, in seconds.
    waits: Arc<Waits>,
}

#[derive(Debug, Default)]
struct Waits(Mutex<Vec<f64>>);

impl HistogramFn for Waits {
    fn record(&self, value: f64) {
        self.0
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push(value);
    }
}

impl Tally {
    /// A new tally, made the process's ([`get`]); `None` if one was made already.
    pub fn new_global() -> Option<Tally> {
        let tally = Tally::default();
        TALLY.set(tally.clone()).ok()?;
        Some(tally)
    }

    /// `metric`'s counts by the value of its label (`""` for one not split).
    pub fn by_label(&self, metric: &str) -> BTreeMap<String, u64> {
        let counters = self.counters.lock().unwrap_or_else(PoisonError::into_inner);
        let mut out = BTreeMap::new();
        for ((name, label), count) in counters.iter() {
            if *name == metric {
                *out.entry(label.clone()).or_default() += count.load(Ordering::Relaxed);
            }
        }
        out
    }

    /// The `q` quantile (nearest rank) of the rate waits, if any was recorded.
    pub fn wait_quantile(&self, q: f64) -> Option<Duration> {
        let mut waits = self
            .waits
            .0
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone();
        if waits.is_empty() {
            return None;
        }
        waits.sort_by(f64::total_cmp);
        let rank = (q.clamp(0.0, 1.0) * waits.len() as f64).ceil() as usize;
        let secs = waits[rank.clamp(1, waits.len()) - 1];
        Some(Duration::from_secs_f64(secs.max(0.0)))
    }
}

impl Recorder for Tally {
    fn describe_counter(&self, _: KeyName, _: Option<Unit>, _: SharedString) {}
    fn describe_gauge(&self, _: KeyName, _: Option<Unit>, _: SharedString) {}
    fn describe_histogram(&self, _: KeyName, _: Option<Unit>, _: SharedString) {}

    fn register_counter(&self, key: &Key, _: &Metadata<'_>) -> Counter {
        let Some((name, split)) = COUNTERS.iter().find(|(n, _)| *n == key.name()) else {
            return Counter::noop();
        };
        let label = split
            .and_then(|l| key.labels().find(|label| label.key() == l))
            .map(|label| label.value().to_owned())
            .unwrap_or_default();
        let mut counters = self.counters.lock().unwrap_or_else(PoisonError::into_inner);
        Counter::from_arc(counters.entry((name, label)).or_default().clone())
    }

    fn register_gauge(&self, _: &Key, _: &Metadata<'_>) -> Gauge {
        Gauge::noop()
    }

    fn register_histogram(&self, key: &Key, _: &Metadata<'_>) -> Histogram {
        if key.name() == polite::RATE_WAIT_SECONDS {
            Histogram::from_arc(self.waits.clone())
        } else {
            Histogram::noop()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_by_label_and_wait_quantiles() {
        let tally = Tally::default();
        metrics::with_local_recorder(&tally, || {
            metrics::counter!(polite::THROTTLED_TOTAL, "status" => "429", "host" => "a")
                .increment(2);
            metrics::counter!(polite::THROTTLED_TOTAL, "status" => "429", "host" => "b")
                .increment(1);
            metrics::counter!(polite::THROTTLED_TOTAL, "status" => "503").increment(1);
            metrics::counter!(polite::RATE_WAITS_TOTAL).increment(3);
            metrics::counter!("hotpool_other_total").increment(7);
            for ms in 1..=100 {
                metrics::histogram!(polite::RATE_WAIT_SECONDS).record(f64::from(ms) / 1e3);
            }
        });
        let throttled = tally.by_label(polite::THROTTLED_TOTAL);
        assert_eq!(throttled.get("429"), Some(&3));
        assert_eq!(throttled.get("503"), Some(&1));
        assert_eq!(tally.by_label(polite::RATE_WAITS_TOTAL).get(""), Some(&3));
        assert!(tally.by_label("hotpool_other_total").is_empty());
        assert_eq!(tally.wait_quantile(0.99), Some(Duration::from_millis(99)));
        assert_eq!(Tally::default().wait_quantile(0.99), None);
    }
}
