//! Time windows: fixed buckets, and the two-bucket approximation of a
//! sliding window over them.
//!
//! A sliding count over the last `len` seconds is estimated as the current
//! bucket's count plus the previous bucket's, weighted by how much of it is
//! still inside the window. A burst across a bucket boundary (the top of the
//! hour, UTC midnight) therefore meets the same limit as one inside a bucket,
//! instead of getting a fresh allowance at the boundary.

/// A bucket length in seconds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Window(i64);

impl Window {
    pub const MINUTE: Window = Window(60);
    pub const HOUR: Window = Window(3600);
    pub const DAY: Window = Window(86_400);

    /// A window of `secs` seconds (at least 1).
    pub fn seconds(secs: i64) -> Self {
        Window(secs.max(1))
    }

    pub fn seconds_long(self) -> i64 {
        self.0
    }

    /// The bucket `now` falls in.
    pub fn bucket(self, now: i64) -> i64 {
        now.div_euclid(self.0)
    }

    /// When `now`'s bucket ends.
    pub fn end(self, now: i64) -> i64 {
        (self.bucket(now) + 1).saturating_mul(self.0)
    }

    /// Seconds from `now` until its bucket ends (at least 1).
    pub fn secs_left(self, now: i64) -> u64 {
        u64::try_from((self.end(now) - now).max(1)).unwrap_or(1)
    }

    /// The previous bucket's weight in the sliding window ending at `now`,
    /// per mille: 1000 at the start of a bucket, falling to 0 at its end.
    pub fn previous_weight_permille(self, now: i64) -> i64 {
        let into = now.rem_euclid(self.0);
        1000 - into.saturating_mul(1000) / self.0
    }

    /// The sliding count: `current` plus the weighted `previous`.
    pub fn sliding(self, now: i64, previous: i64, current: i64) -> i64 {
        current.saturating_add(weighted(previous, self.previous_weight_permille(now)))
    }

    /// The bound the current bucket's count must stay under for the sliding
    /// count to stay under `limit`.
    pub fn bound(self, now: i64, previous: i64, limit: i64) -> i64 {
        limit.saturating_sub(weighted(previous, self.previous_weight_permille(now)))
    }
}

fn weighted(count: i64, permille: i64) -> i64 {
    // Rounded down: the estimate never overstates the previous bucket.
    count.max(0).saturating_mul(permille) / 1000
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_burst_across_the_boundary_meets_one_limit() {
        let h = Window::HOUR;
        // 10 sends just before the top of the hour...
        let before = 10;
        // ...leave room for no more than limit - 10 just after it.
        assert_eq!(h.bound(3600, before, 12), 2);
        assert_eq!(h.sliding(3600, before, 2), 12);
        // Half an hour later, half of them still count.
        assert_eq!(h.sliding(3600 + 1800, before, 2), 7);
        assert_eq!(h.bound(3600 + 1800, before, 12), 7);
        // At the end of the bucket the previous one no longer counts.
        assert_eq!(h.previous_weight_permille(7199), 1);
        assert_eq!(h.secs_left(7199), 1);
        assert_eq!(h.end(3600), 7200);
        assert_eq!(Window::DAY.bucket(86_399), 0);
        assert_eq!(Window::seconds(0).seconds_long(), 1);
    }
}
