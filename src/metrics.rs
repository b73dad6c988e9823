//! Counters behind `Database::metrics`: lock-free power-of-two histograms.

use std::sync::atomic::{AtomicU64, Ordering};

/// Buckets of a histogram: bucket i counts values in [2^(i-1), 2^i), bucket
/// 0 counts zeros; the last bucket takes everything larger.
pub const HISTOGRAM_BUCKETS: usize = 40;

/// A histogram of u64 values with power-of-two buckets.
#[derive(Debug)]
pub struct Histogram {
    buckets: [AtomicU64; HISTOGRAM_BUCKETS],
    sum: AtomicU64,
}

impl Default for Histogram {
    fn default() -> Self {
        Histogram {
            buckets: std::array::from_fn(|_| AtomicU64::new(0)),
            sum: AtomicU64::new(0),
        }
    }
}

impl Histogram {
    pub fn record(&self, value: u64) {
        let i = (u64::BITS - value.leading_zeros()) as usize;
        self.buckets[i.min(HISTOGRAM_BUCKETS - 1)].fetch_add(1, Ordering::Relaxed);
        self.sum.fetch_add(value, Ordering::Relaxed);
    }

    pub fn snapshot(&self) -> HistogramSnapshot {
        HistogramSnapshot {
            buckets: std::array::from_fn(|i| self.buckets[i].load(Ordering::Relaxed)),
            sum: self.sum.load(Ordering::Relaxed),
        }
    }
}

/// A copy of a histogram at one moment.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct HistogramSnapshot {
    /// `buckets[i]` counts values v with `2^(i-1) <= v < 2^i` (`buckets[0]`:
    /// v == 0); the last bucket also holds everything larger.
    pub buckets: [u64; HISTOGRAM_BUCKETS],
    /// The sum of every recorded value (so `sum / count` is the mean).
    pub sum: u64,
}

impl HistogramSnapshot {
    /// How many values were recorded.
    pub fn count(&self) -> u64 {
        self.buckets.iter().sum()
    }

    /// Upper bound of the bucket holding quantile `q` (0.0..=1.0); 0 when
    /// empty.
    pub fn quantile_upper_bound(&self, q: f64) -> u64 {
        let n = self.count();
        if n == 0 {
            return 0;
        }
        // Non-negative by the clamp and the max, and at most n.
        #[allow(clippy::cast_sign_loss)]
        let want = ((n as f64) * q.clamp(0.0, 1.0)).ceil().max(1.0) as u64;
        let mut seen = 0;
        for (i, &c) in self.buckets.iter().enumerate() {
            seen += c;
            if seen >= want {
                return if i == 0 { 0 } else { 1u64 << i.min(63) };
            }
        }
        u64::MAX
    }
}

/// Engine-wide metrics.
#[derive(Debug, Default)]
pub struct Metrics {
    /// Commit latency, microseconds, from entering the engine to return.
    pub commit_us: Histogram,
    /// Commits made durable per group flush.
    pub group_size: Histogram,
    /// Duration of each group flush's sync, microseconds.
    pub flush_us: Histogram,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buckets_and_quantiles() {
        let h = Histogram::default();
        for v in [0, 1, 2, 3, 100, 1000] {
            h.record(v);
        }
        let s = h.snapshot();
        assert_eq!(s.count(), 6);
        assert_eq!(s.sum, 1106);
        assert_eq!(s.buckets[0], 1);
        assert_eq!(s.buckets[2], 2, "2 and 3");
        assert_eq!(s.quantile_upper_bound(0.5), 4);
        assert_eq!(s.quantile_upper_bound(1.0), 1024);
    }
}
