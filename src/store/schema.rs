// @generated automatically by Diesel CLI.

diesel::table! {
    deliveries (id) {
        id -> Int8,
        event_id -> Text,
        subscriber -> Text,
        state -> Int2,
        attempts -> Int4,
        lease_epoch -> Int8,
        lease_owner -> Nullable<Text>,
        due_at -> Int8,
        progress -> Text,
        outcome -> Nullable<Text>,
        last_error -> Nullable<Text>,
        updated_at -> Int8,
        deferred_since -> Nullable<Int8>,
        destinations -> Nullable<Text>,
    }
}

diesel::table! {
    deployments (id) {
        id -> Text,
        received_at -> Int8,
        application -> Text,
        cluster -> Text,
        version -> Text,
        image -> Text,
        team -> Text,
        importance -> Text,
        application_url -> Text,
        monitor_url -> Text,
        about_url -> Text,
        friendly_name -> Text,
        body -> Text,
    }
}

diesel::table! {
    events (id) {
        id -> Text,
        kind -> Text,
        received_at -> Int8,
        body -> Text,
        skipped -> Text,
        idempotency_key -> Nullable<Text>,
        body_hash -> Nullable<Text>,
        application -> Nullable<Text>,
        cluster -> Nullable<Text>,
    }
}

diesel::table! {
    failures (id) {
        id -> Text,
        received_at -> Int8,
        application -> Text,
        cluster -> Text,
    }
}

diesel::table! {
    once_per (key) {
        key -> Text,
        event_id -> Text,
        expires_at -> Int8,
    }
}

diesel::table! {
    replicas (id) {
        id -> Text,
        host -> Text,
        started_at -> Int8,
        heartbeat_at -> Int8,
        presence -> Nullable<Int8>,
    }
}

diesel::table! {
    silences (id) {
        id -> Text,
        matchers -> Text,
        starts_at -> Int8,
        ends_at -> Int8,
        comment -> Text,
        created_by -> Text,
        created_at -> Int8,
        expired_by -> Nullable<Text>,
        silenced -> Int8,
    }
}

diesel::table! {
    subscriber_owners (subscriber) {
        subscriber -> Text,
        owner -> Text,
        expires_at -> Int8,
    }
}

diesel::table! {
    subscriber_settings (subscriber) {
        subscriber -> Text,
        enabled -> Int2,
        changed_at -> Int8,
        changed_by -> Text,
    }
}

diesel::joinable!(deliveries -> events (event_id));

diesel::allow_tables_to_appear_in_same_query!(
    deliveries,
    deployments,
    events,
    failures,
    once_per,
    replicas,
    silences,
    subscriber_owners,
    subscriber_settings,
);
