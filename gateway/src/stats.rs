//! Response statistics over a sliding window of seconds (`pa.statistics.window.seconds`), for
//! the detailed heartbeat: response-time and concurrency count, mean, min, max and percentiles.
//!
//! One slot per second, updated with atomics; a slot is reset when its second comes round
//! again. Percentiles come from log-scale buckets (about 19 % wide), which is what a health
//! page needs.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

const BUCKETS: usize = 96;

#[derive(Debug)]
struct Series {
    count: AtomicU64,
    sum: AtomicU64,
    min: AtomicU64,
    max: AtomicU64,
    buckets: [AtomicU64; BUCKETS],
}

impl Default for Series {
    fn default() -> Self {
        Self {
            count: AtomicU64::new(0),
            sum: AtomicU64::new(0),
            min: AtomicU64::new(u64::MAX),
            max: AtomicU64::new(0),
            buckets: std::array::from_fn(|_| AtomicU64::new(0)),
        }
    }
}

/// Bucket of a value: exact below 8, then 4 buckets per doubling.
fn bucket_of(v: u64) -> usize {
    if v < 8 {
        return v as usize;
    }
    let log2 = 63 - v.leading_zeros() as usize;
    let quarter = ((v >> (log2 - 2)) & 3) as usize;
    (8 + (log2 - 3) * 4 + quarter).min(BUCKETS - 1)
}

/// Largest value of a bucket.
fn bucket_top(i: usize) -> u64 {
    if i < 8 {
        return i as u64;
    }
    let log2 = (i - 8) / 4 + 3;
    let quarter = ((i - 8) % 4) as u64;
    (1u64 << log2) + ((quarter + 1) << (log2 - 2)) - 1
}

impl Series {
    fn reset(&self) {
        self.count.store(0, Ordering::Relaxed);
        self.sum.store(0, Ordering::Relaxed);
        self.min.store(u64::MAX, Ordering::Relaxed);
        self.max.store(0, Ordering::Relaxed);
        for b in &self.buckets {
            b.store(0, Ordering::Relaxed);
        }
    }

    fn record(&self, v: u64) {
        self.count.fetch_add(1, Ordering::Relaxed);
        self.sum.fetch_add(v, Ordering::Relaxed);
        self.min.fetch_min(v, Ordering::Relaxed);
        self.max.fetch_max(v, Ordering::Relaxed);
        self.buckets[bucket_of(v)].fetch_add(1, Ordering::Relaxed);
    }
}

#[derive(Debug, Default)]
struct Slot {
    second: AtomicU64,
    time: Series,
    concurrency: Series,
}

/// Summary of one series over the window.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Summary {
    /// Samples.
    pub count: u64,
    /// Mean.
    pub mean: f64,
    /// Smallest.
    pub min: u64,
    /// Largest.
    pub max: u64,
    /// 90th percentile (bucket upper bound, capped at `max`).
    pub p90: u64,
}

/// The sliding window.
#[derive(Debug)]
pub struct StatsWindow {
    seconds: u64,
    slots: Vec<Slot>,
    in_flight: AtomicU64,
}

fn now_sec() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

// === impl StatsWindow ===

impl StatsWindow {
    /// A window of `seconds` (at least 1).
    pub fn new(seconds: u64) -> Self {
        let seconds = seconds.max(1);
        let slots = (0..=seconds).map(|_| Slot::default()).collect();
        Self {
            seconds,
            slots,
            in_flight: AtomicU64::new(0),
        }
    }

    /// Window length.
    pub fn seconds(&self) -> u64 {
        self.seconds
    }

    fn slot(&self, sec: u64) -> &Slot {
        let len = self.slots.len() as u64;
        let slot = &self.slots[usize::try_from(sec % len).unwrap_or(0)];
        let seen = slot.second.load(Ordering::Relaxed);
        if seen != sec
            && slot
                .second
                .compare_exchange(seen, sec, Ordering::Relaxed, Ordering::Relaxed)
                .is_ok()
        {
            slot.time.reset();
            slot.concurrency.reset();
        }
        slot
    }

    /// A request starts; records the concurrency it sees.
    pub fn begin(&self) {
        let n = self.in_flight.fetch_add(1, Ordering::Relaxed) + 1;
        self.slot(now_sec()).concurrency.record(n);
    }

    /// A request ends after `elapsed`.
    pub fn end(&self, elapsed: Duration) {
        self.in_flight.fetch_sub(1, Ordering::Relaxed);
        let ms = u64::try_from(elapsed.as_millis()).unwrap_or(u64::MAX);
        self.slot(now_sec()).time.record(ms);
    }

    /// Response-time (ms) and concurrency summaries over the window.
    pub fn summarize(&self) -> (Summary, Summary) {
        let now = now_sec();
        let live: Vec<&Slot> = self
            .slots
            .iter()
            .filter(|s| {
                let sec = s.second.load(Ordering::Relaxed);
                sec + self.seconds > now && sec <= now
            })
            .collect();
        (
            summarize(live.iter().map(|s| &s.time)),
            summarize(live.iter().map(|s| &s.concurrency)),
        )
    }
}

fn summarize<'a>(series: impl Iterator<Item = &'a Series> + Clone) -> Summary {
    let count: u64 = series
        .clone()
        .map(|s| s.count.load(Ordering::Relaxed))
        .sum();
    if count == 0 {
        return Summary::default();
    }
    let sum: u64 = series.clone().map(|s| s.sum.load(Ordering::Relaxed)).sum();
    let min = series
        .clone()
        .map(|s| s.min.load(Ordering::Relaxed))
        .min()
        .unwrap_or(0);
    let max = series
        .clone()
        .map(|s| s.max.load(Ordering::Relaxed))
        .max()
        .unwrap_or(0);
    let mut merged = [0u64; BUCKETS];
    for s in series {
        for (m, b) in merged.iter_mut().zip(&s.buckets) {
            *m += b.load(Ordering::Relaxed);
        }
    }
    let target = (count * 9).div_ceil(10);
    let mut seen = 0;
    let mut p90 = max;
    for (i, c) in merged.iter().enumerate() {
        seen += c;
        if seen >= target {
            p90 = bucket_top(i).min(max).max(min);
            break;
        }
    }
    Summary {
        count,
        mean: sum as f64 / count as f64,
        min,
        max,
        p90,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn window_summarizes_recent_requests() {
        let w = StatsWindow::new(5);
        for ms in [10u64, 20, 30, 40, 1000] {
            w.begin();
            w.end(Duration::from_millis(ms));
        }
        let (time, conc) = w.summarize();
        assert_eq!(time.count, 5);
        assert_eq!(time.min, 10);
        assert_eq!(time.max, 1000);
        assert!((time.mean - 220.0).abs() < 0.01);
        assert!(time.p90 >= 40 && time.p90 <= 1000);
        assert_eq!(conc.max, 1);
    }

    #[test]
    fn buckets_are_monotonic() {
        let mut last = 0;
        for v in [1u64, 2, 3, 5, 8, 13, 100, 1000, 10_000] {
            let b = bucket_of(v);
            assert!(b >= last);
            assert!(
                bucket_top(b) >= v,
                "{v} in bucket {b} top {}",
                bucket_top(b)
            );
            last = b;
        }
    }
}
