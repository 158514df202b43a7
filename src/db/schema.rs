// Portable schema shared by both backends: only Text, Integer, BigInt, Bool, Timestamp, Date and
// Binary.
// Kept by hand in step with migrations/{sqlite,postgres}; the migration test checks both apply.

diesel::table! {
    users (id) {
        id -> Text,
        email -> Text,
        password_hash -> Text,
        name -> Text,
        phone -> Nullable<Text>,
        role -> Text,
        created_at -> Timestamp,
        updated_at -> Timestamp,
        email_notifications -> Bool,
    }
}

diesel::table! {
    refresh_tokens (id) {
        id -> Text,
        user_id -> Text,
        family_id -> Text,
        token_hash -> Text,
        expires_at -> Timestamp,
        created_at -> Timestamp,
        rotated_at -> Nullable<Timestamp>,
        revoked_at -> Nullable<Timestamp>,
    }
}

diesel::table! {
    locations (id) {
        id -> Text,
        name -> Text,
        address -> Text,
        timezone -> Text,
        created_at -> Timestamp,
        updated_at -> Timestamp,
    }
}

diesel::table! {
    rooms (id) {
        id -> Text,
        location_id -> Text,
        name -> Text,
        active -> Bool,
        created_at -> Timestamp,
    }
}

diesel::table! {
    massage_types (id) {
        id -> Text,
        slug -> Text,
        name -> Text,
        description -> Text,
        buffer_minutes -> Integer,
        active -> Bool,
        created_at -> Timestamp,
        updated_at -> Timestamp,
    }
}

diesel::table! {
    massage_type_options (massage_type_id, duration_minutes) {
        massage_type_id -> Text,
        duration_minutes -> Integer,
        price_cents -> BigInt,
        currency -> Text,
    }
}

diesel::table! {
    therapists (id) {
        id -> Text,
        name -> Text,
        bio -> Text,
        active -> Bool,
        user_id -> Nullable<Text>,
        created_at -> Timestamp,
        updated_at -> Timestamp,
    }
}

diesel::table! {
    therapist_massage_types (therapist_id, massage_type_id) {
        therapist_id -> Text,
        massage_type_id -> Text,
    }
}

diesel::table! {
    schedule_rules (id) {
        id -> Text,
        therapist_id -> Text,
        weekday -> Integer,
        start_minute -> Integer,
        end_minute -> Integer,
        location_id -> Text,
    }
}

diesel::table! {
    time_off (id) {
        id -> Text,
        therapist_id -> Text,
        starts_at -> Timestamp,
        ends_at -> Timestamp,
        reason -> Text,
        created_at -> Timestamp,
    }
}

diesel::table! {
    schedule_overrides (id) {
        id -> Text,
        therapist_id -> Text,
        date -> Date,
        created_at -> Timestamp,
    }
}

diesel::table! {
    schedule_override_rules (id) {
        id -> Text,
        override_id -> Text,
        start_minute -> Integer,
        end_minute -> Integer,
        location_id -> Text,
    }
}

diesel::table! {
    location_closures (id) {
        id -> Text,
        location_id -> Text,
        starts_at -> Timestamp,
        ends_at -> Timestamp,
        reason -> Text,
        created_at -> Timestamp,
    }
}

diesel::joinable!(refresh_tokens -> users (user_id));
diesel::joinable!(rooms -> locations (location_id));
diesel::joinable!(massage_type_options -> massage_types (massage_type_id));
diesel::joinable!(therapist_massage_types -> therapists (therapist_id));
diesel::joinable!(therapist_massage_types -> massage_types (massage_type_id));
diesel::joinable!(schedule_rules -> therapists (therapist_id));
diesel::joinable!(schedule_rules -> locations (location_id));
diesel::joinable!(time_off -> therapists (therapist_id));
diesel::joinable!(schedule_overrides -> therapists (therapist_id));
diesel::joinable!(schedule_override_rules -> schedule_overrides (override_id));
diesel::joinable!(schedule_override_rules -> locations (location_id));
diesel::joinable!(location_closures -> locations (location_id));

diesel::table! {
    availability_versions (scope) {
        scope -> Text,
        version -> BigInt,
    }
}

diesel::allow_tables_to_appear_in_same_query!(
    users,
    refresh_tokens,
    locations,
    rooms,
    massage_types,
    massage_type_options,
    therapists,
    therapist_massage_types,
    schedule_rules,
    time_off,
    schedule_overrides,
    schedule_override_rules,
    location_closures,
    bookings,
    booking_series,
    idempotency_keys,
    api_tokens,
    calendar_tokens,
    webhooks,
    webhook_deliveries,
    webhook_attempts,
    notifications,
    password_resets,
    holds,
    intake_versions,
    treatment_notes,
    audit_events,
    waitlist_entries,
    waitlist_passed,
);

diesel::table! {
    bookings (id) {
        id -> Text,
        client_id -> Text,
        therapist_id -> Text,
        massage_type_id -> Text,
        location_id -> Text,
        room_id -> Nullable<Text>,
        start_at -> Timestamp,
        end_at -> Timestamp,
        blocked_until -> Timestamp,
        duration_minutes -> Integer,
        price_cents -> BigInt,
        currency -> Text,
        status -> Text,
        notes -> Text,
        sequence -> Integer,
        created_at -> Timestamp,
        updated_at -> Timestamp,
        cancelled_at -> Nullable<Timestamp>,
        cancel_reason -> Nullable<Text>,
        series_id -> Nullable<Text>,
    }
}

diesel::table! {
    booking_series (id) {
        id -> Text,
        client_id -> Text,
        therapist_id -> Text,
        massage_type_id -> Text,
        duration_minutes -> Integer,
        every_weeks -> Integer,
        count -> Integer,
        created_by -> Nullable<Text>,
        created_at -> Timestamp,
    }
}

diesel::table! {
    idempotency_keys (user_id, key) {
        user_id -> Text,
        key -> Text,
        request_hash -> Text,
        response_status -> Nullable<Integer>,
        response_body -> Nullable<Text>,
        created_at -> Timestamp,
    }
}

diesel::table! {
    api_tokens (id) {
        id -> Text,
        user_id -> Text,
        name -> Text,
        token_hash -> Text,
        created_at -> Timestamp,
        expires_at -> Nullable<Timestamp>,
        revoked_at -> Nullable<Timestamp>,
        last_used_at -> Nullable<Timestamp>,
    }
}

diesel::table! {
    calendar_tokens (subject) {
        subject -> Text,
        token_hash -> Text,
        created_at -> Timestamp,
    }
}

diesel::table! {
    webhooks (id) {
        id -> Text,
        url -> Text,
        events -> Text,
        secret -> Text,
        created_at -> Timestamp,
    }
}

diesel::table! {
    webhook_deliveries (id) {
        id -> Text,
        webhook_id -> Text,
        event_type -> Text,
        payload -> Text,
        status -> Text,
        attempts -> Integer,
        next_attempt_at -> Timestamp,
        locked_until -> Nullable<Timestamp>,
        last_status_code -> Nullable<Integer>,
        last_error -> Nullable<Text>,
        created_at -> Timestamp,
        updated_at -> Timestamp,
    }
}

diesel::table! {
    webhook_attempts (id) {
        id -> Text,
        delivery_id -> Text,
        attempted_at -> Timestamp,
        status_code -> Nullable<Integer>,
        error -> Nullable<Text>,
        duration_ms -> Integer,
    }
}

diesel::table! {
    notifications (id) {
        id -> Text,
        user_id -> Text,
        booking_id -> Nullable<Text>,
        kind -> Text,
        to_address -> Text,
        subject -> Text,
        body_text -> Text,
        body_html -> Text,
        calendar -> Nullable<Text>,
        status -> Text,
        attempts -> Integer,
        next_attempt_at -> Timestamp,
        locked_until -> Nullable<Timestamp>,
        last_error -> Nullable<Text>,
        created_at -> Timestamp,
        updated_at -> Timestamp,
        sent_at -> Nullable<Timestamp>,
        context -> Nullable<Text>,
    }
}

diesel::joinable!(notifications -> users (user_id));

diesel::table! {
    password_resets (id) {
        id -> Text,
        user_id -> Text,
        token_hash -> Text,
        created_at -> Timestamp,
        expires_at -> Timestamp,
        used_at -> Nullable<Timestamp>,
    }
}

diesel::joinable!(password_resets -> users (user_id));

diesel::table! {
    holds (id) {
        id -> Text,
        client_id -> Text,
        therapist_id -> Text,
        massage_type_id -> Text,
        location_id -> Text,
        room_id -> Nullable<Text>,
        start_at -> Timestamp,
        end_at -> Timestamp,
        blocked_until -> Timestamp,
        duration_minutes -> Integer,
        purpose -> Text,
        status -> Text,
        expires_at -> Timestamp,
        created_at -> Timestamp,
        ended_at -> Nullable<Timestamp>,
        booking_id -> Nullable<Text>,
    }
}

diesel::joinable!(holds -> users (client_id));
diesel::joinable!(holds -> bookings (booking_id));

diesel::table! {
    intake_versions (id) {
        id -> Text,
        client_id -> Text,
        version -> Integer,
        form_version -> Text,
        consent_treatment -> Bool,
        privacy_policy_version -> Text,
        submitted_at -> Timestamp,
        key_id -> Text,
        nonce -> Binary,
        ciphertext -> Binary,
    }
}

diesel::joinable!(intake_versions -> users (client_id));

diesel::table! {
    treatment_notes (id) {
        id -> Text,
        booking_id -> Text,
        client_id -> Text,
        therapist_id -> Text,
        author_id -> Text,
        created_at -> Timestamp,
        updated_at -> Timestamp,
        key_id -> Text,
        nonce -> Binary,
        ciphertext -> Binary,
    }
}

diesel::joinable!(treatment_notes -> bookings (booking_id));

diesel::table! {
    audit_events (id) {
        id -> Text,
        at -> Timestamp,
        actor_id -> Nullable<Text>,
        actor_role -> Text,
        action -> Text,
        subject_type -> Text,
        subject_id -> Nullable<Text>,
        ip -> Nullable<Text>,
        request_id -> Nullable<Text>,
    }
}

diesel::table! {
    waitlist_entries (id) {
        id -> Text,
        client_id -> Text,
        massage_type_id -> Text,
        duration_minutes -> Integer,
        from_date -> Date,
        to_date -> Date,
        therapist_id -> Nullable<Text>,
        location_id -> Nullable<Text>,
        status -> Text,
        hold_id -> Nullable<Text>,
        created_at -> Timestamp,
        updated_at -> Timestamp,
    }
}

diesel::table! {
    waitlist_passed (entry_id, therapist_id, start_at) {
        entry_id -> Text,
        therapist_id -> Text,
        start_at -> Timestamp,
    }
}

diesel::joinable!(waitlist_entries -> users (client_id));
diesel::joinable!(waitlist_passed -> waitlist_entries (entry_id));
