//! Answers of searches, kept while a search asked again would compute the same.
//!
//! A search's answer depends on the parts of the snapshot it read, its question and its `now`.
//! Each part's label names one content (a part is only ever loaded again under a higher label),
//! so the labels a view holds for the question's scopes say whether the data changed. Time alone
//! changes an answer in three ways, which the search states as the instant the answer holds
//! until ([`SlotCache::remember`]): the earliest offered start falls inside the minimum notice,
//! a hold it counted expires, or the horizon reaches further into the window (searches the
//! horizon cuts are not kept). An answer is given again only for a `now` in
//! `[computed at, holds until)` and a view with the same labels: exactly what would be computed.

use std::sync::OnceLock;

use bytes::Bytes;

use super::*;
use crate::scheduling::Slot;

/// Slots held by all kept answers together (an answer without slots counts one): at about
/// 220 bytes a slot with its rendering, some 20 MiB. Reaching it forgets every answer.
const MAX_HELD: usize = 100_000;

/// A search's answer, with its rendering once one is made.
pub struct Offered {
    pub slots: Vec<Slot>,
    labels: Vec<i64>,
    computed_at: NaiveDateTime,
    /// Exclusive.
    holds_until: NaiveDateTime,
    rendered: OnceLock<Bytes>,
}

impl Offered {
    /// An answer that is not kept.
    pub fn once(slots: Vec<Slot>) -> Self {
        Self {
            slots,
            labels: Vec::new(),
            computed_at: NaiveDateTime::MAX,
            holds_until: NaiveDateTime::MIN,
            rendered: OnceLock::new(),
        }
    }

    /// The answer as `render` writes it, made once per kept answer.
    pub fn rendered<E>(
        &self,
        render: impl FnOnce(&[Slot]) -> Result<Bytes, E>,
    ) -> Result<Bytes, E> {
        if let Some(done) = self.rendered.get() {
            return Ok(done.clone());
        }
        let done = render(&self.slots)?;
        // Two searches may render at once; both renderings are the same.
        let _ = self.rendered.set(done.clone());
        Ok(done)
    }

    fn answers(&self, view: &View, now: NaiveDateTime) -> bool {
        self.computed_at <= now && now < self.holds_until && self.labels == view.labels
    }

    fn weight(&self) -> usize {
        self.slots.len().max(1)
    }
}

#[derive(Default)]
pub(super) struct Answers {
    kept: HashMap<String, Arc<Offered>>,
    held: usize,
}

impl SlotCache {
    /// The kept answer to `question` if it is what a search with `view` at `now` computes.
    pub fn recall(&self, question: &str, view: &View, now: NaiveDateTime) -> Option<Arc<Offered>> {
        let answers = self.answers.lock().unwrap_or_else(PoisonError::into_inner);
        answers
            .kept
            .get(question)
            .filter(|a| a.answers(view, now))
            .cloned()
    }

    /// Keeps `slots`, computed from `view` at `now`, as the answer to `question` for searches
    /// before `holds_until` that see the same labels.
    pub fn remember(
        &self,
        question: String,
        view: &View,
        now: NaiveDateTime,
        holds_until: NaiveDateTime,
        slots: Vec<Slot>,
    ) -> Arc<Offered> {
        let offered = Arc::new(Offered {
            slots,
            labels: view.labels.clone(),
            computed_at: now,
            holds_until,
            rendered: OnceLock::new(),
        });
        if view.labels.is_empty() || holds_until <= now {
            return offered;
        }
        let mut answers = self.answers.lock().unwrap_or_else(PoisonError::into_inner);
        if answers.held + offered.weight() > MAX_HELD {
            answers.kept.clear();
            answers.held = 0;
        }
        answers.held += offered.weight();
        if let Some(before) = answers.kept.insert(question, offered.clone()) {
            answers.held -= before.weight();
        }
        offered
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(minute: u32) -> NaiveDateTime {
        NaiveDate::from_ymd_opt(2027, 3, 10)
            .and_then(|d| d.and_hms_opt(9, minute, 0))
            .expect("a time")
    }

    fn view(labels: Vec<i64>) -> View {
        View {
            snapshot: Arc::default(),
            labels,
            next_expiry: None,
        }
    }

    #[test]
    fn an_answer_is_given_again_only_for_the_same_labels_inside_its_time() {
        let cache = SlotCache::new();
        let seen = view(vec![3, 7, 1]);
        cache.remember("q".into(), &seen, at(10), at(20), Vec::new());
        assert!(cache.recall("q", &seen, at(10)).is_some());
        assert!(cache.recall("q", &seen, at(19)).is_some());
        assert!(
            cache.recall("q", &seen, at(20)).is_none(),
            "its time is over"
        );
        assert!(
            cache.recall("q", &seen, at(9)).is_none(),
            "before it was computed"
        );
        assert!(
            cache.recall("q", &view(vec![3, 8, 1]), at(11)).is_none(),
            "a part moved"
        );
        assert!(cache.recall("other", &seen, at(11)).is_none());
    }

    #[test]
    fn views_without_labels_and_answers_out_of_time_are_not_kept() {
        let cache = SlotCache::new();
        cache.remember("q".into(), &view(Vec::new()), at(10), at(20), Vec::new());
        assert!(cache.recall("q", &view(Vec::new()), at(11)).is_none());
        cache.remember("q".into(), &view(vec![1]), at(10), at(10), Vec::new());
        assert!(cache.recall("q", &view(vec![1]), at(10)).is_none());
    }

    #[test]
    fn what_is_held_stays_bounded() {
        let cache = SlotCache::new();
        let seen = view(vec![1]);
        for i in 0..=MAX_HELD {
            cache.remember(format!("q{i}"), &seen, at(10), at(20), Vec::new());
        }
        let answers = cache.answers.lock().expect("not poisoned");
        assert!(answers.held <= MAX_HELD);
        assert_eq!(answers.held, answers.kept.len());
    }
}
