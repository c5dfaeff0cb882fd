//! The store conformance suite: the same test functions run against every backend.
//! Test names say which: `store::embedded::...` and `store::scylla::...`.
//!
//! The scylla run needs a CQL server: `FITPULSE_TEST_CQL=127.0.0.1:9042` (set by
//! `scripts/test`, which starts one with `scripts/cql-test-server`). Without it the scylla
//! tests say so and pass, unless `FITPULSE_TEST_REQUIRE_CQL=1` makes that a failure.

mod migrate;
mod suite;
mod support;

/// Instantiates each named suite function once per backend.
macro_rules! conformance {
    ($($name:ident),* $(,)?) => {
        mod embedded {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    let backend = super::support::embedded().await;
                    super::suite::$name(&backend.stores, &backend.metrics).await;
                }
            )*
        }
        mod scylla {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    let Some(backend) = super::support::scylla().await else { return };
                    super::suite::$name(&backend.stores, &backend.metrics).await;
                }
            )*
        }
    };
}

conformance!(
    the_store_answers_a_ping,
    a_user_reads_back_by_id_and_by_email_in_any_case,
    a_taken_email_is_a_conflict_and_leaves_no_trace,
    exactly_one_of_many_concurrent_creates_wins_an_email,
    users_without_email_never_collide,
    liking_twice_counts_once_and_unliking_undoes_it,
    no_like_increment_is_lost_under_contention,
    an_idempotency_key_replays_the_first_response,
    exactly_one_of_many_concurrent_claims_of_a_key_is_fresh,
    completing_an_unclaimed_key_fails,
    store_calls_are_timed_by_backend_and_operation,
    a_device_id_names_one_anonymous_account,
    a_profile_update_changes_only_the_given_fields,
    attaching_an_email_keeps_the_id_and_releases_the_device,
    deleting_a_user_frees_its_email_and_removes_its_entitlements,
    a_refresh_token_is_used_once_and_revoked_with_its_family,
    revoking_a_user_revokes_every_family_and_only_theirs,
    exactly_one_concurrent_use_of_a_refresh_token_wins,
    entitlements_are_granted_replaced_and_listed_by_name,
);
