//! Half-open UTC intervals and a sorted, merged interval set with
//! logarithmic overlap queries.

use chrono::{DateTime, Utc};

/// Half-open UTC interval `[start, end)`.
///
/// An interval with `end <= start` is empty: it contains no instant and
/// overlaps nothing.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Interval {
    pub start: DateTime<Utc>,
    pub end: DateTime<Utc>,
}

impl Interval {
    /// Builds `[start, end)`. No normalisation is done: `end <= start`
    /// gives an empty interval.
    pub fn new(start: DateTime<Utc>, end: DateTime<Utc>) -> Self {
        Self { start, end }
    }

    /// `true` when the interval contains no instant (`end <= start`).
    pub fn is_empty(&self) -> bool {
        self.end <= self.start
    }

    /// Half-open overlap: the two intervals share at least one instant.
    /// Back-to-back intervals (`a.end == b.start`) do NOT overlap, and an
    /// empty interval overlaps nothing.
    pub fn overlaps(&self, other: &Interval) -> bool {
        self.start.max(other.start) < self.end.min(other.end)
    }

    /// `true` when `t` lies in `[start, end)`.
    pub fn contains(&self, t: DateTime<Utc>) -> bool {
        self.start <= t && t < self.end
    }
}

/// A set of instants stored as sorted, disjoint, non-adjacent, non-empty
/// intervals. Building it sorts once (`O(n log n)`); overlap queries are a
/// binary search (`O(log n)`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct IntervalSet {
    spans: Vec<Interval>,
}

impl IntervalSet {
    /// Builds the set from intervals in any order; overlapping or touching
    /// intervals are merged and empty ones dropped.
    pub fn from_unsorted<I: IntoIterator<Item = Interval>>(intervals: I) -> Self {
        let mut v: Vec<Interval> = intervals.into_iter().filter(|i| !i.is_empty()).collect();
        v.sort_unstable_by_key(|i| i.start);
        let mut spans: Vec<Interval> = Vec::with_capacity(v.len());
        for iv in v {
            match spans.last_mut() {
                Some(last) if iv.start <= last.end => {
                    if iv.end > last.end {
                        last.end = iv.end;
                    }
                }
                _ => spans.push(iv),
            }
        }
        Self { spans }
    }

    /// Like [`IntervalSet::from_unsorted`] but keeps only the intervals that
    /// overlap `window`, so the sort cost depends on the intervals near the
    /// window only (the filter itself is a linear pass).
    pub fn from_unsorted_within<'a, I>(intervals: I, window: &Interval) -> Self
    where
        I: IntoIterator<Item = &'a Interval>,
    {
        Self::from_unsorted(
            intervals
                .into_iter()
                .filter(|i| i.overlaps(window))
                .copied(),
        )
    }

    /// The merged spans, sorted by start.
    pub fn spans(&self) -> &[Interval] {
        &self.spans
    }

    pub fn is_empty(&self) -> bool {
        self.spans.is_empty()
    }

    pub fn len(&self) -> usize {
        self.spans.len()
    }

    /// The merged span overlapping `q`, if any (half-open semantics).
    pub fn first_overlap(&self, q: &Interval) -> Option<&Interval> {
        if q.is_empty() {
            return None;
        }
        // Spans are disjoint and sorted, so their ends are sorted too.
        let idx = self.spans.partition_point(|s| s.end <= q.start);
        self.spans.get(idx).filter(|s| s.start < q.end)
    }

    /// `true` when some instant of `q` is in the set.
    pub fn overlaps(&self, q: &Interval) -> bool {
        self.first_overlap(q).is_some()
    }
}

/// Overlap queries against an [`IntervalSet`] for queries whose starts are
/// non-decreasing: one binary search to position, then O(1) amortised per
/// query (a merged sweep). A query that starts earlier than the previous one
/// falls back to a binary search, so answers are always exact.
#[derive(Debug, Clone)]
pub struct SweepCursor<'a> {
    spans: &'a [Interval],
    idx: usize,
    last_start: Option<DateTime<Utc>>,
}

impl IntervalSet {
    /// A cursor for queries in non-decreasing start order.
    pub fn cursor(&self) -> SweepCursor<'_> {
        SweepCursor {
            spans: &self.spans,
            idx: 0,
            last_start: None,
        }
    }
}

impl SweepCursor<'_> {
    /// Same answer as [`IntervalSet::overlaps`].
    pub fn overlaps(&mut self, q: &Interval) -> bool {
        if q.is_empty() {
            return false;
        }
        match self.last_start {
            Some(prev) if q.start >= prev => {
                // Skip spans ending before the query; cheap steps first,
                // then a binary search for long jumps.
                let mut steps = 0;
                while self.spans.get(self.idx).is_some_and(|s| s.end <= q.start) {
                    self.idx += 1;
                    steps += 1;
                    if steps == 8 {
                        self.idx += self.spans[self.idx..].partition_point(|s| s.end <= q.start);
                        break;
                    }
                }
            }
            _ => self.idx = self.spans.partition_point(|s| s.end <= q.start),
        }
        self.last_start = Some(q.start);
        self.spans.get(self.idx).is_some_and(|s| s.start < q.end)
    }
}
