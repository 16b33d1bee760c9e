//! Live progress of a warm-up: an indicatif bar on a terminal, and always a plain summary
//! line (indicatif draws nothing when stderr is not a terminal).

use std::time::Duration;

use indicatif::{ProgressBar, ProgressStyle};
use pool_core::{WarmOutcome, WarmProgress, WarmReport};

/// The bar shown while a host is warmed.
pub struct WarmBar {
    bar: ProgressBar,
    failures: Vec<String>,
}

impl WarmBar {
    /// A bar for warming `host` (on stderr; hidden when stderr is not a terminal).
    pub fn new(host: &str) -> Self {
        let bar = ProgressBar::new(0);
        let style = ProgressStyle::with_template(
            "{spinner:.green} warming {prefix} [{bar:32.cyan/blue}] {pos}/{len} {msg} ({elapsed})",
        )
        .unwrap_or_else(|_| ProgressStyle::default_bar())
        .progress_chars("=> ");
        bar.set_style(style);
        bar.set_prefix(host.to_owned());
        bar.enable_steady_tick(Duration::from_millis(80));
        Self {
            bar,
            failures: Vec::new(),
        }
    }

    /// Called by `warm_with_progress` after every dial.
    pub fn update(&mut self, p: &WarmProgress) {
        self.bar.set_length(p.total as u64);
        self.bar.set_position(p.done as u64);
        let addr = p.addr.map_or_else(|| "?".to_owned(), |a| a.to_string());
        match &p.outcome {
            WarmOutcome::Connected => self.bar.set_message(format!("{addr} ok")),
            WarmOutcome::Failed(e) => {
                let line = format!("{addr}: {e}");
                self.bar.println(format!("  failed {line}"));
                self.failures.push(line);
            }
            WarmOutcome::Panicked(e) => {
                let line = format!("{addr}: dial task panicked: {e}");
                self.bar.println(format!("  failed {line}"));
                self.failures.push(line);
            }
            _ => {}
        }
    }

    /// Clears the bar and prints the plain summary line on stderr. Returns the failures.
    pub fn finish(self, report: &WarmReport) -> Vec<String> {
        self.bar.finish_and_clear();
        eprintln!("{}", summary_line(report));
        self.failures
    }
}

/// `warmed HOST: 8/8 connected, 0 failed, 0 blacklisted in 12.3ms`, followed by
/// ` (10 of 40 addresses: max_conns_per_host = 10)` when a limit capped the warm-up.
pub fn summary_line(r: &WarmReport) -> String {
    format!(
        "warmed {}: {}/{} connected, {} failed, {} blacklisted in {:.1?}{}",
        r.host,
        r.ok,
        r.planned,
        r.failed,
        r.blacklisted,
        r.elapsed,
        cap_note(r)
    )
}

/// ` (10 of 40 addresses: max_conns_per_host = 10)` when a limit capped the warm-up, else
/// nothing.
pub fn cap_note(r: &WarmReport) -> String {
    match r.capped_by {
        Some(limit) => format!(" ({} of {} addresses: {limit})", r.planned, r.addresses),
        None => String::new(),
    }
}
