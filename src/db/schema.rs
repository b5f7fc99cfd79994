//! The one portable schema, written by hand to match both `migrations/sqlite` and
//! `migrations/postgres`: only types both backends share (Text, BigInt, Bool, Timestamp, Binary).

diesel::table! {
    organizations (id) {
        id -> Text,
        name -> Text,
        kind -> Text,
        country -> Text,
        created_at -> Timestamp,
    }
}

diesel::table! {
    users (id) {
        id -> Text,
        organization_id -> Text,
        email -> Text,
        email_normalized -> Text,
        name -> Text,
        role -> Text,
        password_hash -> Text,
        active -> Bool,
        must_change_password -> Bool,
        created_at -> Timestamp,
        updated_at -> Timestamp,
    }
}

diesel::table! {
    sessions (id) {
        id -> Text,
        user_id -> Text,
        created_at -> Timestamp,
        expires_at -> Timestamp,
        revoked_at -> Nullable<Timestamp>,
        revoked_reason -> Nullable<Text>,
    }
}

diesel::table! {
    refresh_tokens (token_hash) {
        token_hash -> Text,
        session_id -> Text,
        issued_at -> Timestamp,
        used_at -> Nullable<Timestamp>,
    }
}

diesel::table! {
    audit_events (seq) {
        seq -> BigInt,
        id -> Text,
        occurred_at -> Timestamp,
        actor_id -> Nullable<Text>,
        action -> Text,
        subject_type -> Text,
        subject_id -> Nullable<Text>,
        outcome -> Text,
        detail -> Nullable<Text>,
        prev_hash -> Text,
        hash -> Text,
    }
}

diesel::joinable!(users -> organizations (organization_id));
diesel::joinable!(sessions -> users (user_id));
diesel::joinable!(refresh_tokens -> sessions (session_id));

diesel::allow_tables_to_appear_in_same_query!(organizations, users, sessions, refresh_tokens, audit_events);

diesel::table! {
    service_keys (key_id) {
        key_id -> Text,
        recipient -> Text,
        created_at -> Timestamp,
        is_current -> Bool,
        retired_at -> Nullable<Timestamp>,
    }
}

diesel::table! {
    case_keys (case_id, key_version) {
        case_id -> Text,
        key_version -> Integer,
        recipient -> Text,
        created_at -> Timestamp,
        shredded_at -> Nullable<Timestamp>,
    }
}

diesel::table! {
    case_key_grants (case_id, key_version, grantee_kind, grantee_id) {
        case_id -> Text,
        key_version -> Integer,
        grantee_kind -> Text,
        grantee_id -> Text,
        key_id -> Text,
        wrapped -> Binary,
        created_at -> Timestamp,
    }
}
