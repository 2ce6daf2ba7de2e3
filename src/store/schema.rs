//! The diesel schema shared by both backends (written by hand: one schema over SQLite and
//! PostgreSQL, UUIDs and JSON as `Text`).

diesel::table! {
    users (id) {
        id -> Text,
        email -> Text,
        password_hash -> Text,
        is_operator -> Bool,
        created_at -> Timestamp,
        disabled_at -> Nullable<Timestamp>,
        email_verified_at -> Nullable<Timestamp>,
        notifications -> Bool,
    }
}

diesel::table! {
    sessions (id_hash) {
        id_hash -> Text,
        user_id -> Text,
        created_at -> Timestamp,
        expires_at -> Timestamp,
        awaiting_second_factor -> Bool,
        second_factor_at -> Nullable<Timestamp>,
    }
}

diesel::table! {
    totp_factors (id) {
        id -> Text,
        user_id -> Text,
        name -> Text,
        sealed_secret -> Binary,
        last_step -> BigInt,
        created_at -> Timestamp,
        confirmed_at -> Nullable<Timestamp>,
    }
}

diesel::table! {
    passkeys (id) {
        id -> Text,
        user_id -> Text,
        name -> Text,
        credential_id -> Text,
        credential -> Text,
        created_at -> Timestamp,
        last_used_at -> Nullable<Timestamp>,
    }
}

diesel::table! {
    webauthn_ceremonies (id) {
        id -> Text,
        user_id -> Text,
        purpose -> Text,
        name -> Nullable<Text>,
        state -> Text,
        expires_at -> Timestamp,
    }
}

diesel::table! {
    mail_outbox (id) {
        id -> Text,
        kind -> Text,
        recipient -> Text,
        user_id -> Nullable<Text>,
        message -> Binary,
        status -> Text,
        attempts -> Integer,
        last_error -> Nullable<Text>,
        created_at -> Timestamp,
        next_attempt_at -> Timestamp,
        lease_owner -> Nullable<Text>,
        lease_until -> Nullable<Timestamp>,
        sent_at -> Nullable<Timestamp>,
    }
}

diesel::table! {
    email_tokens (token_hash) {
        token_hash -> Text,
        user_id -> Text,
        purpose -> Text,
        created_at -> Timestamp,
        expires_at -> Timestamp,
        used_at -> Nullable<Timestamp>,
        address -> Nullable<Text>,
    }
}

diesel::table! {
    recovery_codes (user_id, code_hash) {
        user_id -> Text,
        code_hash -> Text,
        created_at -> Timestamp,
        used_at -> Nullable<Timestamp>,
    }
}

diesel::table! {
    invitations (organisation_id, user_id) {
        organisation_id -> Text,
        user_id -> Text,
        role -> Text,
        invited_by -> Text,
        created_at -> Timestamp,
        expires_at -> Timestamp,
    }
}

diesel::table! {
    api_tokens (id) {
        id -> Text,
        user_id -> Text,
        name -> Text,
        token_hash -> Text,
        created_at -> Timestamp,
        last_used_at -> Nullable<Timestamp>,
        revoked_at -> Nullable<Timestamp>,
        expires_at -> Nullable<Timestamp>,
    }
}

diesel::table! {
    client_tokens (token_hash) {
        token_hash -> Text,
        software_id -> Nullable<Text>,
        organisation_id -> Text,
        scope -> Text,
        jkt -> Nullable<Text>,
        x5t_s256 -> Nullable<Text>,
        created_at -> Timestamp,
        expires_at -> Timestamp,
    }
}

diesel::table! {
    client_assertions (client_id, jti) {
        client_id -> Text,
        jti -> Text,
        expires_at -> Timestamp,
    }
}

diesel::table! {
    dpop_proofs (jkt, jti) {
        jkt -> Text,
        jti -> Text,
        expires_at -> Timestamp,
    }
}

diesel::table! {
    issuer_claims (organisation_id, issuer) {
        organisation_id -> Text,
        issuer -> Text,
        token -> Text,
        created_at -> Timestamp,
        verified_at -> Nullable<Timestamp>,
    }
}

diesel::table! {
    login_failures (id) {
        id -> BigInt,
        throttle_key -> Text,
        failed_at -> Timestamp,
    }
}

diesel::table! {
    organisations (id) {
        id -> Text,
        legal_name -> Text,
        registration_number -> Text,
        country -> Text,
        competent_authority -> Text,
        authority_registration_id -> Text,
        roles -> Text,
        business_contact -> Text,
        technical_contact -> Text,
        authorization_servers -> Text,
        status -> Text,
        status_reason -> Nullable<Text>,
        created_at -> Timestamp,
        updated_at -> Timestamp,
        require_second_factor -> Bool,
        notify_contacts -> Bool,
    }
}

diesel::table! {
    memberships (organisation_id, user_id) {
        organisation_id -> Text,
        user_id -> Text,
        role -> Text,
        created_at -> Timestamp,
    }
}

diesel::table! {
    software (id) {
        id -> Text,
        organisation_id -> Text,
        client_id -> Text,
        client_name -> Text,
        description -> Text,
        version -> Text,
        client_uri -> Nullable<Text>,
        logo_uri -> Nullable<Text>,
        tos_uri -> Nullable<Text>,
        policy_uri -> Nullable<Text>,
        redirect_uris -> Text,
        roles -> Text,
        environment -> Text,
        status -> Text,
        status_reason -> Nullable<Text>,
        created_at -> Timestamp,
        updated_at -> Timestamp,
        pending_change -> Nullable<Text>,
    }
}

diesel::table! {
    participant_keys (id) {
        id -> Text,
        organisation_id -> Text,
        software_id -> Nullable<Text>,
        kid -> Text,
        jwk -> Text,
        certificate_serial -> Nullable<Text>,
        created_at -> Timestamp,
        revoked_at -> Nullable<Timestamp>,
        thumbprint -> Nullable<Text>,
        slot -> Nullable<Integer>,
    }
}

diesel::table! {
    signing_keys (kid) {
        kid -> Text,
        alg -> Text,
        public_jwk -> Text,
        state -> Text,
        created_at -> Timestamp,
        activated_at -> Nullable<Timestamp>,
        retired_at -> Nullable<Timestamp>,
        removed_at -> Nullable<Timestamp>,
        purpose -> Text,
        reference -> Nullable<Text>,
        evidence -> Nullable<Text>,
    }
}

diesel::table! {
    certificates (serial) {
        serial -> Text,
        organisation_id -> Text,
        software_id -> Text,
        cert_type -> Text,
        subject -> Text,
        not_before -> Timestamp,
        not_after -> Timestamp,
        pem -> Text,
        status -> Text,
        revocation_reason -> Nullable<Text>,
        revoked_at -> Nullable<Timestamp>,
        created_at -> Timestamp,
        issuer -> Nullable<Text>,
        sha256 -> Nullable<Text>,
    }
}

diesel::table! {
    certificate_reminders (serial, threshold_days) {
        serial -> Text,
        threshold_days -> Integer,
        sent_at -> Timestamp,
    }
}

diesel::table! {
    digests (name) {
        name -> Text,
        last_sent_at -> Timestamp,
    }
}

diesel::table! {
    address_invitations (organisation_id, email) {
        organisation_id -> Text,
        email -> Text,
        role -> Text,
        invited_by -> Text,
        created_at -> Timestamp,
        expires_at -> Timestamp,
    }
}

diesel::table! {
    issued_ssas (jti) {
        jti -> Text,
        software_id -> Text,
        kid -> Text,
        issued_by -> Text,
        issued_at -> Timestamp,
        expires_at -> Timestamp,
        revoked_at -> Nullable<Timestamp>,
        revoked_reason -> Nullable<Text>,
        environment -> Text,
    }
}

diesel::table! {
    audit_events (id) {
        id -> BigInt,
        occurred_at -> Timestamp,
        actor -> Text,
        action -> Text,
        subject_type -> Text,
        subject_id -> Text,
        organisation_id -> Nullable<Text>,
        old_status -> Nullable<Text>,
        new_status -> Nullable<Text>,
        reason -> Nullable<Text>,
        details -> Nullable<Text>,
    }
}

diesel::table! {
    events (id) {
        id -> BigInt,
        txn -> Text,
        jti -> Text,
        occurred_at -> Timestamp,
        kind -> Text,
        subject_type -> Text,
        subject_id -> Text,
        organisation_id -> Nullable<Text>,
        payload -> Text,
        token -> Nullable<Text>,
        kid -> Nullable<Text>,
    }
}

diesel::table! {
    event_counter (id) {
        id -> Integer,
        last_id -> BigInt,
        horizon -> BigInt,
    }
}

diesel::table! {
    event_subscriptions (id) {
        id -> Text,
        organisation_id -> Text,
        delivery -> Text,
        endpoint -> Nullable<Text>,
        kinds -> Text,
        state -> Text,
        cursor -> BigInt,
        delivered -> BigInt,
        attempts -> Integer,
        next_attempt_at -> Timestamp,
        failing_since -> Nullable<Timestamp>,
        last_success_at -> Nullable<Timestamp>,
        last_error -> Nullable<Text>,
        last_error_at -> Nullable<Timestamp>,
        lease_owner -> Nullable<Text>,
        lease_until -> Nullable<Timestamp>,
        created_at -> Timestamp,
        created_by -> Nullable<Text>,
    }
}

diesel::joinable!(api_tokens -> users (user_id));
diesel::joinable!(sessions -> users (user_id));
diesel::joinable!(totp_factors -> users (user_id));
diesel::joinable!(recovery_codes -> users (user_id));
diesel::joinable!(passkeys -> users (user_id));
diesel::joinable!(email_tokens -> users (user_id));
diesel::joinable!(webauthn_ceremonies -> users (user_id));
diesel::joinable!(invitations -> users (user_id));
diesel::joinable!(invitations -> organisations (organisation_id));
diesel::joinable!(memberships -> organisations (organisation_id));
diesel::joinable!(memberships -> users (user_id));
diesel::joinable!(software -> organisations (organisation_id));

diesel::table! {
    crls (number) {
        number -> BigInt,
        this_update -> Timestamp,
        next_update -> Timestamp,
        der -> Binary,
        content_hash -> Text,
        issuer -> Nullable<Text>,
    }
}

diesel::table! {
    hosted_entity_configurations (subject_type, subject_id) {
        subject_type -> Text,
        subject_id -> Text,
        jwt -> Text,
        expires_at -> Timestamp,
        updated_at -> Timestamp,
    }
}

diesel::table! {
    software_entity_identifiers (software_id) {
        software_id -> Text,
        entity_id -> Text,
        updated_at -> Timestamp,
    }
}

diesel::table! {
    log_entries (idx) {
        idx -> BigInt,
        entry -> Binary,
        artefact_sha256 -> Text,
        created_at -> Timestamp,
        reference -> Nullable<Text>,
    }
}

diesel::table! {
    log_hashes (id) {
        id -> BigInt,
        hash -> Binary,
    }
}

diesel::table! {
    log_checkpoints (size) {
        size -> BigInt,
        note -> Binary,
        signed_at -> Timestamp,
    }
}

diesel::table! {
    overview_days (chart, day, series) {
        chart -> Text,
        day -> Text,
        series -> Text,
        n -> BigInt,
    }
}

diesel::table! {
    delivery_failures (id) {
        id -> Text,
        subscription_id -> Text,
        kind -> Text,
        error -> Text,
        failed_at -> Timestamp,
    }
}

diesel::table! {
    overview_rolled (chart) {
        chart -> Text,
        until_day -> Text,
    }
}

diesel::table! {
    log_state (id) {
        id -> Integer,
        next_index -> BigInt,
        tree_size -> BigInt,
    }
}

diesel::allow_tables_to_appear_in_same_query!(
    delivery_failures,
    totp_factors,
    address_invitations,
    certificate_reminders,
    digests,
    mail_outbox,
    email_tokens,
    passkeys,
    webauthn_ceremonies,
    recovery_codes,
    users,
    sessions,
    invitations,
    api_tokens,
    login_failures,
    organisations,
    memberships,
    software,
    participant_keys,
    signing_keys,
    certificates,
    issued_ssas,
    audit_events,
    crls,
    events,
    event_counter,
    event_subscriptions,
    client_tokens,
    client_assertions,
    dpop_proofs,
    hosted_entity_configurations,
    issuer_claims,
    software_entity_identifiers,
);
