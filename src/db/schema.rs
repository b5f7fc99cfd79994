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
        language -> Nullable<Text>,
        mfa_enabled_at -> Nullable<Timestamp>,
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
        console_secret_hash -> Nullable<Text>,
        last_seen_at -> Nullable<Timestamp>,
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

diesel::table! {
    case_reference_counters (year) {
        year -> Integer,
        last_number -> Integer,
    }
}

diesel::table! {
    cases (id) {
        id -> Text,
        reference -> Text,
        status -> Text,
        severity -> Text,
        country -> Text,
        owner_organization_id -> Text,
        defender_id -> Nullable<Text>,
        consent_scope -> Text,
        summary_ct -> Nullable<Binary>,
        summary_key_version -> Nullable<Integer>,
        created_by -> Text,
        version -> Integer,
        created_at -> Timestamp,
        updated_at -> Timestamp,
        acknowledged_at -> Nullable<Timestamp>,
        activated_at -> Nullable<Timestamp>,
        monitoring_at -> Nullable<Timestamp>,
        closed_at -> Nullable<Timestamp>,
    }
}

diesel::table! {
    case_transitions (id) {
        id -> Text,
        case_id -> Text,
        from_status -> Text,
        to_status -> Text,
        reason_ct -> Nullable<Binary>,
        reason_key_version -> Nullable<Integer>,
        actor_id -> Text,
        created_at -> Timestamp,
    }
}

diesel::table! {
    case_assignees (case_id, user_id) {
        case_id -> Text,
        user_id -> Text,
        assigned_by -> Text,
        assigned_at -> Timestamp,
    }
}

diesel::table! {
    case_shares (case_id, organization_id) {
        case_id -> Text,
        organization_id -> Text,
        granted_by -> Text,
        consent_reference -> Text,
        override_reason_ct -> Nullable<Binary>,
        override_key_version -> Nullable<Integer>,
        expires_at -> Timestamp,
        created_at -> Timestamp,
        revoked_at -> Nullable<Timestamp>,
        includes_profile -> Bool,
    }
}

diesel::table! {
    case_notes (id) {
        id -> Text,
        case_id -> Text,
        author_id -> Text,
        kind -> Text,
        body_ct -> Binary,
        key_version -> Integer,
        created_at -> Timestamp,
    }
}

diesel::table! {
    idempotency_keys (user_id, idem_key) {
        user_id -> Text,
        idem_key -> Text,
        route -> Text,
        request_hash -> Text,
        resource_id -> Text,
        created_at -> Timestamp,
    }
}

diesel::table! {
    defenders (id) {
        id -> Text,
        pseudonym -> Text,
        country -> Text,
        networks -> Text,
        owner_organization_id -> Text,
        profile_ct -> Binary,
        profile_key_version -> Integer,
        created_by -> Text,
        version -> Integer,
        created_at -> Timestamp,
        updated_at -> Timestamp,
    }
}

diesel::table! {
    alerts (id) {
        id -> Text,
        kind -> Text,
        urgency -> Text,
        country -> Text,
        /// Plaintext from before 2026-12-04-000014, emptied at start once sealed into
        /// `region_ct`; only `domain::legacy` reads it.
        region -> Nullable<Text>,
        narrative_ct -> Binary,
        safe_contact_ct -> Nullable<Binary>,
        key_version -> Integer,
        consent_scope -> Text,
        status -> Text,
        dismiss_reason_ct -> Nullable<Binary>,
        owner_organization_id -> Text,
        defender_id -> Nullable<Text>,
        case_id -> Nullable<Text>,
        source -> Text,
        created_by -> Nullable<Text>,
        version -> Integer,
        received_at -> Timestamp,
        triaged_at -> Nullable<Timestamp>,
        updated_at -> Timestamp,
        occurred_on_ct -> Nullable<Binary>,
        reporter_name_ct -> Nullable<Binary>,
        region_ct -> Nullable<Binary>,
        duress_at -> Nullable<Timestamp>,
    }
}

diesel::joinable!(cases -> organizations (owner_organization_id));
diesel::joinable!(case_transitions -> cases (case_id));
diesel::joinable!(case_notes -> cases (case_id));
diesel::joinable!(case_shares -> cases (case_id));

diesel::allow_tables_to_appear_in_same_query!(
    service_settings,
    organizations,
    users,
    sessions,
    refresh_tokens,
    audit_events,
    service_keys,
    case_keys,
    case_key_grants,
    case_reference_counters,
    cases,
    case_transitions,
    case_assignees,
    case_shares,
    case_notes,
    idempotency_keys,
    defenders,
    alerts,
    risk_assessments,
    security_plans,
    plan_measures,
    grants,
    disbursements,
    relocations,
    visas,
    psychosocial_care,
    escalations,
    outbox,
    checkins,
    receipts,
    form_submissions,
    messages,
    user_totp,
    recovery_codes,
    throttles
);

diesel::table! {
    risk_assessments (id) {
        id -> Text,
        case_id -> Text,
        version -> Integer,
        assessor_id -> Text,
        content_ct -> Binary,
        key_version -> Integer,
        threat_count -> Integer,
        score_centi -> Integer,
        level -> Text,
        policy_hash -> Text,
        reassess_by -> Timestamp,
        created_at -> Timestamp,
    }
}

diesel::table! {
    security_plans (id) {
        id -> Text,
        case_id -> Text,
        status -> Text,
        summary_ct -> Nullable<Binary>,
        key_version -> Integer,
        author_id -> Text,
        approved_by -> Nullable<Text>,
        approved_at -> Nullable<Timestamp>,
        review_by -> Timestamp,
        version -> Integer,
        created_at -> Timestamp,
        updated_at -> Timestamp,
    }
}

diesel::table! {
    plan_measures (id) {
        id -> Text,
        plan_id -> Text,
        case_id -> Text,
        category -> Text,
        kind -> Text,
        description_ct -> Binary,
        key_version -> Integer,
        owner_kind -> Text,
        owner_user_id -> Nullable<Text>,
        due_at -> Nullable<Timestamp>,
        status -> Text,
        dropped_reason_ct -> Nullable<Binary>,
        assessment_id -> Nullable<Text>,
        threat_index -> Nullable<Integer>,
        version -> Integer,
        created_at -> Timestamp,
        updated_at -> Timestamp,
    }
}

diesel::table! {
    grants (id) {
        id -> Text,
        case_id -> Text,
        relocation_id -> Nullable<Text>,
        category -> Text,
        currency -> Text,
        amount_requested -> BigInt,
        amount_approved -> Nullable<BigInt>,
        amount_disbursed -> BigInt,
        status -> Text,
        details_ct -> Binary,
        decision_reason_ct -> Nullable<Binary>,
        key_version -> Integer,
        requested_by -> Text,
        decided_by -> Nullable<Text>,
        decided_at -> Nullable<Timestamp>,
        version -> Integer,
        created_at -> Timestamp,
        updated_at -> Timestamp,
    }
}

diesel::table! {
    disbursements (id) {
        id -> Text,
        grant_id -> Text,
        amount -> BigInt,
        paid_on -> Timestamp,
        method -> Text,
        recorded_by -> Text,
        created_at -> Timestamp,
    }
}

diesel::table! {
    relocations (id) {
        id -> Text,
        case_id -> Text,
        kind -> Text,
        details_ct -> Binary,
        key_version -> Integer,
        starts_on -> Timestamp,
        ends_on -> Timestamp,
        status -> Text,
        cancel_reason_ct -> Nullable<Binary>,
        plan_id -> Nullable<Text>,
        requested_by -> Text,
        approved_by -> Nullable<Text>,
        version -> Integer,
        created_at -> Timestamp,
        updated_at -> Timestamp,
    }
}

diesel::table! {
    visas (id) {
        id -> Text,
        relocation_id -> Text,
        case_id -> Text,
        /// Plaintext from before 2026-12-04-000014, emptied at start once sealed into
        /// `country_ct` and `visa_type_ct`; only `domain::legacy` reads them.
        country -> Nullable<Text>,
        visa_type -> Nullable<Text>,
        details_ct -> Binary,
        key_version -> Integer,
        status -> Text,
        submitted_on -> Nullable<Timestamp>,
        decided_on -> Nullable<Timestamp>,
        issued_on -> Nullable<Timestamp>,
        expires_on -> Nullable<Timestamp>,
        version -> Integer,
        created_at -> Timestamp,
        updated_at -> Timestamp,
        country_ct -> Nullable<Binary>,
        visa_type_ct -> Nullable<Binary>,
    }
}

diesel::table! {
    psychosocial_care (id) {
        id -> Text,
        case_id -> Text,
        details_ct -> Binary,
        key_version -> Integer,
        modality -> Text,
        sessions_planned -> Integer,
        sessions_held -> Integer,
        referral_status -> Text,
        consent_recorded -> Bool,
        version -> Integer,
        created_at -> Timestamp,
        updated_at -> Timestamp,
    }
}

diesel::table! {
    escalations (id) {
        id -> Text,
        policy_id -> Text,
        policy_hash -> Text,
        event -> Text,
        subject_kind -> Text,
        subject_id -> Text,
        case_id -> Nullable<Text>,
        organization_id -> Text,
        reference -> Text,
        status -> Text,
        anchor_at -> Timestamp,
        step -> Integer,
        loop_no -> Integer,
        next_due_at -> Nullable<Timestamp>,
        last_fired_at -> Nullable<Timestamp>,
        acknowledged_by -> Nullable<Text>,
        acknowledged_at -> Nullable<Timestamp>,
        ended_reason -> Nullable<Text>,
        created_at -> Timestamp,
        updated_at -> Timestamp,
    }
}

diesel::table! {
    outbox (id) {
        id -> Text,
        escalation_id -> Text,
        step -> Integer,
        loop_no -> Integer,
        target -> Text,
        recipient -> Text,
        user_id -> Nullable<Text>,
        subject -> Text,
        body -> Text,
        status -> Text,
        attempts -> Integer,
        next_attempt_at -> Timestamp,
        deadline_at -> Timestamp,
        last_error -> Nullable<Text>,
        sent_at -> Nullable<Timestamp>,
        acked_at -> Nullable<Timestamp>,
        created_at -> Timestamp,
    }
}

diesel::joinable!(outbox -> escalations (escalation_id));

diesel::table! {
    checkins (id) {
        id -> Text,
        case_id -> Text,
        due_at -> Timestamp,
        status -> Text,
        created_by -> Nullable<Text>,
        closed_by -> Nullable<Text>,
        closed_at -> Nullable<Timestamp>,
        created_at -> Timestamp,
        source -> Text,
        missed_at -> Nullable<Timestamp>,
        alert_id -> Nullable<Text>,
        coerced_at -> Nullable<Timestamp>,
    }
}

diesel::table! {
    receipts (lookup) {
        lookup -> Text,
        alert_id -> Text,
        created_at -> Timestamp,
        last_used_at -> Timestamp,
        safe_pin_hash -> Nullable<Text>,
        duress_pin_hash -> Nullable<Text>,
        decoy_safe_pin_hash -> Nullable<Text>,
        decoy_duress_pin_hash -> Nullable<Text>,
    }
}

diesel::table! {
    form_submissions (token_digest) {
        token_digest -> Text,
        alert_id -> Text,
        created_at -> Timestamp,
    }
}

diesel::table! {
    messages (id) {
        id -> Text,
        alert_id -> Text,
        direction -> Text,
        key_owner -> Text,
        body_ct -> Binary,
        key_version -> Integer,
        author_id -> Nullable<Text>,
        created_at -> Timestamp,
    }
}

diesel::table! {
    service_settings (key) {
        key -> Text,
        value -> Text,
        updated_by -> Nullable<Text>,
        updated_at -> Timestamp,
    }
}

diesel::joinable!(receipts -> alerts (alert_id));
diesel::joinable!(messages -> alerts (alert_id));

diesel::table! {
    user_totp (user_id) {
        user_id -> Text,
        secret_ct -> Binary,
        key_version -> Integer,
        created_at -> Timestamp,
        confirmed_at -> Nullable<Timestamp>,
        last_step -> Nullable<BigInt>,
    }
}

diesel::table! {
    recovery_codes (user_id, selector) {
        user_id -> Text,
        selector -> Text,
        code_hash -> Text,
        created_at -> Timestamp,
        used_at -> Nullable<Timestamp>,
    }
}

diesel::table! {
    throttles (slot) {
        slot -> Text,
        failures -> Integer,
        window_started_at -> Timestamp,
        last_at -> Timestamp,
        prev_last_at -> Nullable<Timestamp>,
        expires_at -> Timestamp,
    }
}

diesel::joinable!(user_totp -> users (user_id));
diesel::joinable!(recovery_codes -> users (user_id));
