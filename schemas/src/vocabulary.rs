//! One vocabulary for every component: why something was refused or
//! rejected ([`ReasonCode`]), and what an audit record is about
//! ([`AuditAction`]). Each variant serialises to a stable string that
//! clients, dashboards and auditors depend on: never change one, add new
//! variants instead (and document them in README).

use std::fmt;

macro_rules! vocabulary {
    ($(#[$meta:meta])* $name:ident { $($(#[doc = $doc:literal])* $variant:ident = $text:literal,)+ }) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub enum $name {
            $($(#[doc = $doc])* $variant,)+
        }

        impl $name {
            /// Every variant, in declaration order.
            pub const ALL: &'static [$name] = &[$($name::$variant),+];

            /// The stable string.
            pub const fn as_str(self) -> &'static str {
                match self {
                    $($name::$variant => $text,)+
                }
            }

            /// The variant of a stable string.
            pub fn parse(text: &str) -> Option<$name> {
                match text {
                    $($text => Some($name::$variant),)+
                    _ => None,
                }
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl serde::Serialize for $name {
            fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.serialize_str(self.as_str())
            }
        }
    };
}

vocabulary!(
    /// Why a request, an item or a record was refused or rejected.
    ReasonCode {
        // Whole requests at ingest.
        /// No `Authorization` header.
        MissingSignature = "missing_signature",
        /// The `Authorization` header is not of the scheme's form.
        MalformedAuthorization = "malformed_authorization",
        /// The signed timestamp is outside the window.
        TimestampOutOfWindow = "timestamp_out_of_window",
        /// The claimed client id is not known (answered as `bad_signature`).
        UnknownClient = "unknown_client",
        /// The signature does not verify under any active secret.
        BadSignature = "bad_signature",
        /// The signature verifies under a revoked or expired secret.
        CredentialRevoked = "credential_revoked",
        /// The nonce was used before within the window.
        ReplayedRequest = "replayed_request",
        /// The client's share of the replay cache is full.
        ReplayCacheFull = "replay_cache_full",
        /// The client sends faster than its rate.
        RateLimited = "rate_limited",
        /// Too many items wait for the log.
        Overloaded = "overloaded",
        /// No memory left for request bodies (answered as `overloaded`).
        BodyMemoryFull = "body_memory_full",
        /// The node's configuration could not be refreshed for too long.
        ConfigStale = "config_stale",
        /// A `Content-Encoding` other than gzip, zstd or identity.
        UnsupportedContentEncoding = "unsupported_content_encoding",
        /// A corrupt, truncated or trailing compressed body.
        InvalidContentEncoding = "invalid_content_encoding",
        /// The body decompresses past the limit.
        DecompressedTooLarge = "decompressed_too_large",
        /// The body took too long to arrive.
        BodyTimeout = "body_timeout",
        /// The body ended before its declared length.
        BodyIncomplete = "body_incomplete",
        /// The tenant is pinned to another region.
        WrongRegion = "wrong_region",
        /// A `Content-Type` other than JSON or NDJSON.
        UnsupportedMediaType = "unsupported_media_type",
        /// The body is over the limit as sent.
        BodyTooLarge = "body_too_large",
        /// More items than a batch may have.
        TooManyItems = "too_many_items",
        /// The body is not valid JSON/NDJSON, or the query is unknown.
        MalformedBody = "malformed_body",
        /// The log did not confirm the batch.
        LogUnavailable = "log_unavailable",
        /// Anything else; details are logged, never shown.
        Internal = "internal",
        // Items at ingest.
        /// A field has the wrong JSON type.
        InvalidType = "invalid_type",
        /// A required field is missing.
        MissingField = "missing_field",
        /// A field the contract does not know.
        UnknownField = "unknown_field",
        /// A value breaks the field's rules.
        InvalidValue = "invalid_value",
        /// A number or time outside its range.
        OutOfRange = "out_of_range",
        /// A string longer than its limit.
        TooLong = "too_long",
        /// A list or map with more entries than its limit.
        TooMany = "too_many",
        /// An item larger than its limit in bytes of JSON as sent.
        ItemTooLarge = "item_too_large",
        /// The same collection and external id earlier in the batch.
        DuplicateInBatch = "duplicate_in_batch",
        /// The collection does not exist in the tenant.
        UnknownCollection = "unknown_collection",
        /// The credential may not write the collection.
        CollectionNotAllowed = "collection_not_allowed",
        /// The tenant does not exist.
        UnknownTenant = "unknown_tenant",
        /// A valid item of an atomic batch in which another item failed.
        AtomicBatchFailed = "atomic_batch_failed",
        // Records in the pipeline (processor, projector).
        /// The record is not a readable event.
        Undecodable = "undecodable",
        /// The record holds a character no store can hold.
        InvalidCharacters = "invalid_characters",
        /// An id in the record (tenant, collection, client) is not valid.
        InvalidId = "invalid_id",
        /// The processed event could not be encoded.
        Unencodable = "unencodable",
        /// The tenant's live rule set does not compile with this build.
        RulesUnavailable = "rules_unavailable",
        /// The processed event would exceed the largest record the log takes.
        OutputTooLarge = "output_too_large",
        /// The database refused the row.
        StoreRefused = "store_refused",
        // People API (logins, sessions, administration).
        /// Wrong e-mail or password (the same answer for an unknown e-mail).
        InvalidCredentials = "invalid_credentials",
        /// Too many failed logins: the account or address must wait.
        LoginThrottled = "login_throttled",
        /// The account is disabled.
        AccountDisabled = "account_disabled",
        /// A TOTP code is needed (answered with a challenge).
        TotpRequired = "totp_required",
        /// The TOTP or recovery code is wrong, reused, or the challenge is spent.
        InvalidTotp = "invalid_totp",
        /// The tenant requires two-factor authentication and the user has not enrolled.
        TwoFactorEnrolmentRequired = "two_factor_enrolment_required",
        /// The password is shorter than the minimum.
        PasswordTooShort = "password_too_short",
        /// The password is longer than the 72 bytes bcrypt reads.
        PasswordTooLong = "password_too_long",
        /// The password is too easy to guess.
        PasswordTooWeak = "password_too_weak",
        /// The invitation is unknown, expired or already used.
        InvalidInvitation = "invalid_invitation",
        /// No valid session or token: missing, malformed, expired, revoked.
        Unauthenticated = "unauthenticated",
        /// A cookie-authenticated state-changing request without the anti-CSRF header.
        CsrfCheckFailed = "csrf_check_failed",
        /// The caller's role does not allow this.
        PermissionDenied = "permission_denied",
        /// A support user without an active grant of the tenant.
        SupportGrantRequired = "support_grant_required",
        /// The named user, group, token or grant does not exist (or is not visible).
        NotFound = "not_found",
        /// The change conflicts with the current state (e.g. the e-mail is taken).
        Conflict = "conflict",
        /// A request field breaks its rules.
        InvalidRequest = "invalid_request",
        // Single sign-on (SAML 2.0): a Response refused, named by the check it failed.
        /// Not base64, too large, not well-formed XML, or a DTD.
        SamlMalformed = "saml_malformed",
        /// Not one Response with exactly one assertion as its child, a signature elsewhere, a duplicate ID (signature wrapping).
        SamlStructure = "saml_structure",
        /// Unsigned, or a signature that does not verify with a configured certificate of the identity provider.
        SamlSignature = "saml_signature",
        /// The encrypted assertion does not decrypt with the service provider's key.
        SamlDecryption = "saml_decryption",
        /// The identity provider answered that the login failed.
        SamlStatus = "saml_status",
        /// Not from the tenant's identity provider.
        SamlIssuer = "saml_issuer",
        /// The Response is for another ACS (another tenant's).
        SamlDestination = "saml_destination",
        /// The assertion's bearer confirmation is for another ACS.
        SamlRecipient = "saml_recipient",
        /// The assertion is for another service provider.
        SamlAudience = "saml_audience",
        /// Outside the assertion's validity (beyond the allowed clock skew).
        SamlExpired = "saml_expired",
        /// Not the answer to this browser's outstanding request, or IdP-initiated while that is off.
        SamlInResponseTo = "saml_in_response_to",
        /// No usable subject: no NameID or e-mail attribute, or not an e-mail address.
        SamlSubject = "saml_subject",
        /// The assertion was used before.
        SamlReplay = "saml_replay",
        /// The tenant has no single sign-on (or it is off).
        SsoNotConfigured = "sso_not_configured",
        /// The tenant requires single sign-on: password logins are refused (owners: the break-glass login).
        SsoRequired = "sso_required",
        /// The identity provider vouched for someone who is not a user of the tenant, and the tenant provisions nobody.
        SsoUnknownUser = "sso_unknown_user",
    }
);

vocabulary!(
    /// What an audit record is about.
    AuditAction {
        /// A batch of feedback, accepted in part or whole, or refused after authentication.
        FeedbackBatch = "feedback.batch",
        /// A request that failed authentication.
        AuthFailure = "auth.failure",
        /// A person's login: success, or failure with the reason class (never the password).
        Login = "user.login",
        /// Too many failed logins: the account is locked for a while.
        Lockout = "user.lockout",
        /// A locked account's lock ended (the next login succeeded).
        Unlock = "user.unlock",
        /// A session ended by logout.
        Logout = "user.logout",
        /// Sessions of a user revoked (password change, disabling, an admin).
        SessionsRevoked = "user.sessions_revoked",
        /// A user was invited.
        UserInvited = "user.invited",
        /// An invitation was accepted (the password set).
        InvitationAccepted = "user.invitation_accepted",
        /// A password was changed.
        PasswordChanged = "user.password_changed",
        /// A user's role was changed.
        RoleChanged = "user.role_changed",
        /// A user was disabled.
        UserDisabled = "user.disabled",
        /// A user was enabled again.
        UserEnabled = "user.enabled",
        /// A user was deleted.
        UserDeleted = "user.deleted",
        /// TOTP enrolment confirmed.
        TotpEnrolled = "user.totp_enrolled",
        /// TOTP removed.
        TotpRemoved = "user.totp_removed",
        /// A one-time recovery code was used.
        RecoveryCodeUsed = "user.recovery_code_used",
        /// A personal API token was created.
        TokenCreated = "user.token_created",
        /// A personal API token was revoked.
        TokenRevoked = "user.token_revoked",
        /// A tenant's login policy changed.
        PolicyChanged = "tenant.policy_changed",
        /// A group was created, renamed or deleted, or its members changed.
        GroupChanged = "group.changed",
        /// Support access granted by a tenant.
        SupportGranted = "support.granted",
        /// Support access revoked by a tenant.
        SupportRevoked = "support.revoked",
        /// A support user's request to a tenant (allowed under a grant, or refused).
        SupportRequest = "support.request",
        /// A request the caller's role or scope does not allow.
        AccessDenied = "access.denied",
        /// A feedback access grant given to a user or group, or revoked.
        AccessGrantChanged = "access.grant_changed",
        /// A tenant's restricted tag names replaced.
        RestrictedTagsChanged = "tenant.restricted_tags_changed",
        /// An analyst listed feedback items (the filter in the details, never the texts).
        FeedbackListed = "feedback.listed",
        /// An analyst read one feedback item.
        FeedbackRead = "feedback.read",
        /// An analyst computed aggregates over feedback.
        FeedbackAggregated = "feedback.aggregated",
        /// An analyst exported feedback.
        FeedbackExported = "feedback.exported",
        /// An analyst listed the tags of the feedback they may see.
        TagsListed = "feedback.tags_listed",
        /// A tenant was created (an operator's `vox tenant create`).
        TenantCreated = "tenant.created",
        /// A collection was created.
        CollectionCreated = "collection.created",
        /// A client credential was issued (the record names the client id, never the secret).
        ClientIssued = "client.issued",
        /// A client's secret was rotated (a new version).
        ClientSecretRotated = "client.secret_rotated",
        /// A client's secret version, or the whole credential, was revoked.
        ClientRevoked = "client.revoked",
        /// A tenant's tagging and redaction rules were published as a new version.
        RulesPublished = "rules.published",
        /// Another configuration change made by an operator.
        ConfigChanged = "config.changed",
        /// A compliance officer read the tenant's audit log (a checkpoint, records or a proof).
        AuditRead = "audit.read",
        /// A single sign-on: success, or failure with the check that failed (`reason`).
        SsoLogin = "sso.login",
        /// A tenant's single sign-on configured, changed or switched off.
        SsoConfigured = "sso.configured",
        /// A user created by their first single sign-on (just-in-time).
        UserProvisioned = "user.provisioned",
        /// The groups single sign-on manages for a user changed at a login.
        SsoGroupsChanged = "sso.groups_changed",
        /// An owner's break-glass password login while the tenant requires single sign-on.
        BreakGlass = "sso.break_glass",
    }
);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strings_are_unique_and_round_trip() {
        let mut seen = std::collections::BTreeSet::new();
        for code in ReasonCode::ALL {
            assert!(seen.insert(code.as_str()), "{code} appears twice");
            assert_eq!(ReasonCode::parse(code.as_str()), Some(*code));
            assert!(code.as_str().bytes().all(|b| b.is_ascii_lowercase() || b == b'_'));
        }
        for action in AuditAction::ALL {
            assert_eq!(AuditAction::parse(action.as_str()), Some(*action));
        }
        assert_eq!(
            serde_json::to_string(&ReasonCode::BadSignature).expect("json"),
            "\"bad_signature\""
        );
    }
}
