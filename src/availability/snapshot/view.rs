//! A snapshot as the slot search reads it: the catalog questions a search asks first, and the
//! [`Source`] the engine's loader takes, answered from memory.

use super::*;

/// A current snapshot, as a [`Source`] for [`super::load`] and for the catalog questions a
/// search asks first.
pub struct View {
    pub(super) snapshot: Arc<Snapshot>,
    /// The labels of the parts a search reads, in the order of `Snapshot::scopes` (catalog
    /// first; one label names one content); empty for a view that is not a search's.
    pub(super) labels: Vec<i64>,
    /// The earliest expiry of the holds counted as claims so far.
    pub(super) next_expiry: Option<NaiveDateTime>,
}

impl View {
    pub(super) fn new(snapshot: Arc<Snapshot>, scopes: &[Scope]) -> Self {
        let labels = scopes
            .iter()
            .map(|s| snapshot.version(s).unwrap_or(i64::MIN))
            .collect();
        Self {
            snapshot,
            labels,
            next_expiry: None,
        }
    }

    /// Until when the claims read so far stay as counted: the first expiry of a counted hold.
    pub fn claims_change_at(&self) -> Option<NaiveDateTime> {
        self.next_expiry
    }

    fn catalog(&self) -> Result<&Catalog, ApiError> {
        self.snapshot
            .catalog
            .as_deref()
            .ok_or_else(|| ApiError::internal("slot snapshot without its catalog"))
    }

    /// The massage type (if it exists) and its options.
    pub fn massage_type(
        &self,
        id: &str,
    ) -> Result<Option<(&MassageType, &[MassageOption])>, ApiError> {
        let catalog = self.catalog()?;
        Ok(catalog.massage_types.get(id).map(|t| {
            (
                t,
                catalog
                    .options
                    .get(id)
                    .map(Vec::as_slice)
                    .unwrap_or_default(),
            )
        }))
    }

    /// Whether the therapist is active, and whether they offer the type (while active).
    pub fn therapist_offers(
        &self,
        therapist_id: &str,
        massage_type_id: &str,
    ) -> Result<(bool, bool), ApiError> {
        let catalog = self.catalog()?;
        let offers = catalog
            .offering
            .get(massage_type_id)
            .is_some_and(|ts| ts.iter().any(|t| t == therapist_id));
        Ok((catalog.active_therapists.contains(therapist_id), offers))
    }

    /// Active therapists offering the type (only `wanted.therapist_id` if set), in id order.
    pub fn therapists(&self, wanted: &Wanted) -> Result<Vec<String>, ApiError> {
        Ok(self.catalog()?.therapists_for(wanted).cloned().collect())
    }

    fn hours(&self, therapist_id: &str) -> Result<&Hours, ApiError> {
        self.snapshot
            .hours
            .get(therapist_id)
            .map(Arc::as_ref)
            .ok_or_else(|| ApiError::internal("slot snapshot without a therapist's hours"))
    }

    pub(super) fn claims(
        map: &HashMap<(String, Month), Arc<Claims>>,
        ids: &[String],
        window: &Window,
        out: &mut Busy,
        next_expiry: &mut Option<NaiveDateTime>,
    ) -> Result<(), ApiError> {
        for id in ids {
            let mut found = Vec::new();
            for month in months(window.from, window.to) {
                let claims = map
                    .get(&(id.clone(), month))
                    .ok_or_else(|| ApiError::internal("slot snapshot without a month's claims"))?;
                found.extend(
                    claims
                        .items
                        .iter()
                        .filter(|c| {
                            c.start < window.to
                                && c.blocked_until > window.from
                                && match &c.kind {
                                    ClaimKind::Booking(b) => {
                                        Some(b.as_ref()) != window.exclude_booking
                                    }
                                    ClaimKind::Hold { expires_at } => {
                                        let live = *expires_at > window.now;
                                        if live && next_expiry.is_none_or(|e| *expires_at < e) {
                                            *next_expiry = Some(*expires_at);
                                        }
                                        live
                                    }
                                }
                        })
                        .map(|c| interval(c.start, c.blocked_until)),
                );
            }
            if !found.is_empty() {
                out.entry(id.clone()).or_default().extend(found);
            }
        }
        Ok(())
    }
}

/// Adds to `out[id]` those of `spans` that meet the window (no entry when none does, as the
/// database path leaves none).
fn gather(out: &mut Busy, id: &str, spans: &[Interval], window: &Window) {
    let (from, to) = (window.from.and_utc(), window.to.and_utc());
    let mut found = spans
        .iter()
        .filter(|s| s.start < to && s.end > from)
        .copied()
        .peekable();
    if found.peek().is_some() {
        out.entry(id.to_owned()).or_default().extend(found);
    }
}

impl Source for View {
    fn rules(&mut self, therapist_ids: &[String]) -> Result<Vec<ScheduleRule>, ApiError> {
        let mut rules = Vec::new();
        for t in therapist_ids {
            rules.extend(self.hours(t)?.rules.iter().cloned());
        }
        Ok(rules)
    }

    fn overrides(
        &mut self,
        therapist_ids: &[String],
        from: NaiveDate,
        to: NaiveDate,
    ) -> Result<Vec<WithRules>, ApiError> {
        let mut found = Vec::new();
        for t in therapist_ids {
            found.extend(
                self.hours(t)?
                    .overrides
                    .iter()
                    .filter(|o| (from..=to).contains(&o.date_override.date))
                    .cloned(),
            );
        }
        Ok(found)
    }

    fn active_rooms(&mut self, location_ids: &[String]) -> Result<Vec<Room>, ApiError> {
        let wanted: HashSet<&String> = location_ids.iter().collect();
        Ok(self
            .catalog()?
            .rooms
            .iter()
            .filter(|r| wanted.contains(&r.location_id))
            .cloned()
            .collect())
    }

    fn locations(&mut self, location_ids: &[String]) -> Result<Vec<Location>, ApiError> {
        let catalog = self.catalog()?;
        Ok(location_ids
            .iter()
            .filter_map(|id| catalog.locations.get(id).cloned())
            .collect())
    }

    fn closures(
        &mut self,
        location_ids: &[String],
        window: &Window,
        out: &mut Busy,
    ) -> Result<(), ApiError> {
        let catalog = self.catalog()?;
        for id in location_ids {
            if let Some(spans) = catalog.closures.get(id) {
                gather(out, id, spans, window);
            }
        }
        Ok(())
    }

    fn time_off(
        &mut self,
        therapist_ids: &[String],
        window: &Window,
        out: &mut Busy,
    ) -> Result<(), ApiError> {
        for id in therapist_ids {
            gather(out, id, &self.hours(id)?.time_off, window);
        }
        Ok(())
    }

    fn room_claims(
        &mut self,
        room_ids: &[String],
        window: &Window,
        out: &mut Busy,
    ) -> Result<(), ApiError> {
        Self::claims(
            &self.snapshot.room_claims,
            room_ids,
            window,
            out,
            &mut self.next_expiry,
        )
    }

    fn therapist_claims(
        &mut self,
        therapist_ids: &[String],
        window: &Window,
        out: &mut Busy,
    ) -> Result<(), ApiError> {
        Self::claims(
            &self.snapshot.therapist_claims,
            therapist_ids,
            window,
            out,
            &mut self.next_expiry,
        )
    }
}
