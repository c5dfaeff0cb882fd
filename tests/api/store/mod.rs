//! The store conformance suite: the same test functions run against every backend.
//! Test names say which: `store::embedded::...` and `store::scylla::...`.
//!
//! The scylla run needs a CQL server: `FITPULSE_TEST_CQL=127.0.0.1:9042` (set by
//! `scripts/test`, which starts one with `scripts/cql-test-server`). Without it the scylla
//! tests say so and pass, unless `FITPULSE_TEST_REQUIRE_CQL=1` makes that a failure.

mod migrate;
mod suite;
mod suite_drops;
mod suite_messages;
mod suite_push;
mod suite_workouts;
pub mod support;

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
    a_password_verification_and_email_change_apply_to_the_current_email,
    an_account_token_is_taken_once,
    an_identity_is_linked_once_listed_and_unlinked,
    the_audit_log_pages_newest_first,
    erasure_leaves_pending_outbox_items_to_the_worker,
    a_built_export_lands_only_on_its_own_request,
    a_refresh_token_is_used_once_and_revoked_with_its_family,
    revoking_a_user_revokes_every_family_and_only_theirs,
    exactly_one_concurrent_use_of_a_refresh_token_wins,
    entitlements_are_granted_replaced_and_listed_by_name,
    feed_events_read_back_in_order_after_any_position,
    many_users_appending_at_once_each_keep_their_own_feed,
    appends_behind_at_once_each_land_and_let_a_waited_one_through,
    a_retried_feed_batch_overwrites_instead_of_duplicating,
    the_read_position_is_kept_beside_the_head,
    a_plan_is_stored_and_replaced_whole,
    a_live_class_reads_back_and_lists_in_its_window,
    a_class_transition_applies_once_and_stamps_its_time,
    class_results_and_reminders_are_kept,
    a_users_likes_and_saves_list_back_with_their_times,
    catalog_items_are_replaced_whole_and_all_read_back,
    a_setting_is_absent_until_put_and_then_replaced,
    a_subscription_commit_stores_the_state_its_entitlement_and_its_side_effects,
    subscriptions_are_counted_by_product_and_state,
    the_first_link_of_a_purchase_wins,
    an_outbox_item_is_enqueued_once_claimed_once_and_retried_until_dead,
    a_held_outbox_item_is_brought_forward_only_while_pending_and_due_later,
    concurrent_stock_leases_never_hand_out_more_than_the_stock,
    a_lease_is_its_owners_until_released_or_reclaimed,
    a_stalled_lease_is_reclaimed_once_keeping_what_its_orders_took,
    a_reservation_records_the_key_the_quota_and_the_order_together,
    a_claim_that_never_answered_is_taken_over_after_its_lease,
    an_order_moves_from_reserved_exactly_once,
    an_expiry_puts_units_and_quota_back_exactly_once,
    drops_list_by_start_soonest_first_within_a_bounded_window,
    feature_messages_list_until_they_expire_and_states_keep_their_first_time,
    of_concurrent_first_marks_of_an_action_exactly_one_is_recorded,
    message_counts_start_at_zero_and_add_up_per_message,
    concurrent_count_adds_from_many_nodes_all_count,
    a_days_checkin_is_replaced_and_checkins_list_newest_day_first,
    following_twice_counts_once_and_both_directions_list_back,
    blocked_users_list_until_unblocked,
    a_group_admits_exactly_its_max_members_under_concurrent_joins,
    group_posts_list_newest_first_comments_oldest_first_and_removed_ones_stay,
    reports_list_newest_first_up_to_the_limit,
    a_users_groups_follow_their_joins_and_leaves,
    token_revocations_list_since_a_moment_while_they_are_kept,
    a_drops_announcement_time_reads_back,
    an_existing_order_is_never_written_over,
    blocks_page_by_user_id_and_blockers_are_found_among_candidates,
    a_device_reads_back_whole_and_devices_list_most_recent_first,
    updating_a_device_keeps_one_row_and_releases_its_old_token,
    a_push_token_belongs_to_the_device_that_registered_it_last,
    beyond_the_device_limit_the_least_recently_registered_go,
    deleting_a_device_answers_whether_it_was_there,
    a_dead_token_removes_its_device_only_while_the_device_holds_it,
    a_device_scan_visits_every_device_once_page_by_page,
    a_malformed_device_cursor_is_an_error,
    notification_settings_are_absent_until_put_and_then_replaced,
    pushes_are_counted_per_user_day_and_kind,
    a_batch_of_pushes_is_counted_as_each_would_be,
    erasing_a_user_removes_their_devices_tokens_settings_and_counts,
    workout_history_pages_newest_first_then_by_id,
    recording_a_workout_again_replaces_it,
    a_personal_record_is_raised_only_by_a_better_value,
    racing_raises_of_a_personal_record_end_at_the_highest,
    a_class_keeps_at_most_max_timelines_even_under_concurrent_puts,
    timelines_read_back_exactly,
    a_replay_is_created_once_and_finished_exactly_once,
    a_users_timelines_and_replays_are_listed_up_to_the_limit,
    erasing_a_user_removes_their_workouts_records_timelines_and_replays,
);

/// The embedded store also prunes by count; the scylla store keeps what its TTL keeps.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_embedded_feed_keeps_only_its_newest_events() {
    use fitpulse_actors::ports::store::{FEED_MAX_EVENTS, FeedEvent};
    let backend = support::embedded().await;
    let who = fitpulse_actors::domain::UserId::random();
    let total = FEED_MAX_EVENTS as u64 + 25;
    let events: Vec<FeedEvent> = (1..=total)
        .map(|seq| FeedEvent {
            seq,
            kind: "custom.note".into(),
            at: fitpulse_actors::domain::now_millis(),
            data: "{}".into(),
        })
        .collect();
    for chunk in events.chunks(100) {
        backend
            .stores
            .feed
            .append_events(who, chunk)
            .await
            .expect("append");
    }
    let oldest = backend.stores.feed.oldest_seq(who).await.expect("oldest");
    assert_eq!(oldest, Some(total - FEED_MAX_EVENTS as u64 + 1));
    assert_eq!(
        backend
            .stores
            .feed
            .feed_head(who)
            .await
            .expect("head")
            .last_seq,
        total
    );
}

/// The embedded store has no TTL: counting a push clears the user's counts of days more
/// than two before it, and keeps the two.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_embedded_store_forgets_push_counts_older_than_two_days() {
    let backend = support::embedded().await;
    let (push, data) = (&backend.stores.push, &backend.stores.account_data);
    let who = fitpulse_actors::domain::UserId::random();
    let day = 20_000;
    for d in [day, day + 1, day + 3] {
        push.count_push(who, d, "feature").await.expect("count");
    }
    let rows = data.rows_mentioning(&who.to_string()).await.expect("walk");
    let days: Vec<bool> = [day, day + 1, day + 3]
        .iter()
        .map(|d| {
            rows.iter()
                .any(|r| r.contains(&format!("\\u{{1f}}{d}\\u{{1f}}")))
        })
        .collect();
    assert_eq!(days, [false, true, true], "{rows:#?}");
    assert_eq!(
        push.count_push(who, day + 1, "feature")
            .await
            .expect("count"),
        2
    );
}
