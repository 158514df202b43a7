//! Weekly schedule rules and their validation.

use chrono::{NaiveTime, Weekday};
use uuid::Uuid;

/// A weekly schedule rule in the location's wall-clock time: the therapist
/// works at `location_id` every `weekday` from `start` to `end` (half-open,
/// same calendar day; `end` must be after `start`, there is no 24:00).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct WeeklyRule {
    pub weekday: Weekday,
    pub start: NaiveTime,
    pub end: NaiveTime,
    pub location_id: Uuid,
}

impl WeeklyRule {
    /// The hours this rule gives on a date of its weekday.
    pub fn hours(&self) -> DayRule {
        DayRule {
            start: self.start,
            end: self.end,
            location_id: self.location_id,
        }
    }
}

/// Hours on one local date, in the location's wall-clock time: a weekly rule on a date of its
/// weekday, or one rule of a date override. Half-open, same calendar day, `start < end`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct DayRule {
    pub start: NaiveTime,
    pub end: NaiveTime,
    pub location_id: Uuid,
}

/// Validates one therapist's weekly rules.
///
/// * every rule needs `start < end` on the same day (`end` cannot be 24:00;
///   `00:00` as an end is rejected because it is not after any start);
/// * no two rules on the same weekday may overlap (half-open on wall-clock
///   times, whatever their locations: back-to-back is allowed, even across
///   locations).
///
/// On failure returns one `(rule index, message)` per problem, sorted by
/// index; a rule overlapping another appears once for each rule it overlaps
/// (and so does the other rule, naming this one).
pub fn validate_rules(rules: &[WeeklyRule]) -> Result<(), Vec<(usize, String)>> {
    let mut errors: Vec<(usize, String)> = Vec::new();
    for (i, r) in rules.iter().enumerate() {
        if r.start >= r.end {
            errors.push((
                i,
                format!(
                    "rule {i} ({}): start {} must be before end {} on the same day",
                    r.weekday,
                    r.start.format("%H:%M"),
                    r.end.format("%H:%M")
                ),
            ));
        }
    }
    for (i, a) in rules.iter().enumerate() {
        if a.start >= a.end {
            continue;
        }
        for (j, b) in rules.iter().enumerate().skip(i + 1) {
            if b.start >= b.end || a.weekday != b.weekday {
                continue;
            }
            if a.start < b.end && b.start < a.end {
                let span = |r: &WeeklyRule| {
                    format!("{}-{}", r.start.format("%H:%M"), r.end.format("%H:%M"))
                };
                errors.push((
                    i,
                    format!(
                        "rule {i} ({} {}) overlaps rule {j} ({})",
                        a.weekday,
                        span(a),
                        span(b)
                    ),
                ));
                errors.push((
                    j,
                    format!(
                        "rule {j} ({} {}) overlaps rule {i} ({})",
                        b.weekday,
                        span(b),
                        span(a)
                    ),
                ));
            }
        }
    }
    if errors.is_empty() {
        Ok(())
    } else {
        errors.sort_by_key(|(i, _)| *i);
        Err(errors)
    }
}
