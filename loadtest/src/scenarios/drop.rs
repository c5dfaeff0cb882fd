//! `drop`: a product drop, commerce's launch-day shape. Creates a drop on sale now (or
//! takes `--drop ID`), then B buyers, each a distinct member placing one order of one unit
//! under its own `Idempotency-Key`, arrive within T seconds, open loop (`open_loop`):
//! evenly, or with `--front-load K` crowded at the start. Reports answers by result,
//! latency overall and for reservations and `sold_out` apart, and the bars of
//! `drop_audit`: exactly the units for sale reserved, none oversold by the generator's
//! count or the server's books, every reservation readable by its buyer, no errors.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use fitpulse_actors::domain::{Role, UserId, now_millis};
use fitpulse_actors::events::rfc3339;
use hyper::Method;
use hyper::body::Bytes;
use hyper::header::HeaderValue;
use serde_json::{Value, json};

use super::buyers::{Buyers, RESERVED, SOLD_OUT};
use super::drop_audit::{self, AdminView, Outcome, ReadBack};
use super::open_loop::{Engine, SendArgs};
use super::profile::Profile;
use super::tally::Run;
use super::workload::{SetupError, setup_call};
use crate::LoadError;
use crate::pool::{Call, Pool};
use crate::report::{Latency, Report};

/// Reservations must outlast the run by this much: the checks after it read them back.
const AUDIT_MARGIN: Duration = Duration::from_secs(60);
const PRICE_CENTS: u32 = 4900;

#[derive(Debug, Clone, clap::Args)]
pub struct DropArgs {
    /// Buyers, each a distinct member placing one order of one unit.
    #[arg(long, default_value_t = 10_000)]
    pub buyers: u32,
    /// The window the buyers arrive in.
    #[arg(long, default_value = "60s")]
    pub within: humantime::Duration,
    /// 1 spreads arrivals evenly over the window; K > 1 crowds them at the start: the
    /// arrival rate starts at K times the mean and falls to 0 at the end of the window.
    #[arg(long, default_value_t = 1)]
    pub front_load: u32,
    /// Units of the drop created for the run.
    #[arg(long, default_value_t = 500)]
    pub stock: u32,
    #[arg(long, default_value_t = 1)]
    pub per_user_limit: u32,
    /// How long an unpaid reservation holds its unit. It must outlast the run: an expiring
    /// reservation would put its unit back on sale mid-run.
    #[arg(long, default_value_t = 3600)]
    pub reservation_ttl_seconds: u32,
    /// Buy from this existing drop instead (its own stock, limit and reservation time
    /// apply). It must be on sale and have no waiting room.
    #[arg(long)]
    pub drop: Option<String>,
    #[command(flatten)]
    pub send: SendArgs,
}

#[derive(Debug, thiserror::Error)]
pub enum DropError {
    #[error(
        "--reservation-ttl-seconds {ttl} does not outlast the run ({needed} s with its timeout \
         and checks): reservations would expire and put units back on sale mid-run"
    )]
    ShortReservation { ttl: u32, needed: u64 },
    #[error(
        "drop `{0}` has a waiting room: its buyers need admission tokens, which this scenario \
         does not fetch"
    )]
    WaitingRoom(String),
}

pub async fn run(args: DropArgs) -> Result<Report, LoadError> {
    let profile = Profile::spread(u64::from(args.buyers), args.within.into(), args.front_load)?;
    let timeout: Duration = args.send.timeout.into();
    let needed = (profile.length() + timeout + AUDIT_MARGIN).as_secs();
    if args.drop.is_none() && u64::from(args.reservation_ttl_seconds) < needed {
        return Err(DropError::ShortReservation {
            ttl: args.reservation_ttl_seconds,
            needed,
        }
        .into());
    }
    let engine = Engine::start(&args.send).await?;
    let ttl = engine.token_ttl(&profile);
    let admin_token = engine
        .minter()
        .with_roles(UserId::random(), &[Role::Admin], ttl);
    // A JWT is base64url and dots: always a valid header value.
    let admin =
        HeaderValue::from_str(&format!("Bearer {admin_token}")).expect("a JWT is header-safe");
    let drop_id = match &args.drop {
        Some(id) => id.clone(),
        None => create(engine.pool(), &admin, &args).await?,
    };
    // Reading the books also has the server load the drop, as a countdown page would.
    let before = drop_audit::books(engine.pool(), &drop_id, &admin).await?;
    if before.admission_per_second.is_some() {
        return Err(DropError::WaitingRoom(before.id).into());
    }
    let buyers = Arc::new(Buyers::new(
        engine.minter(),
        &before.id,
        args.buyers,
        ttl,
        now_millis(),
    )?);

    let run = engine.run("drop", &profile, buyers.clone()).await;

    let after = drop_audit::books(engine.pool(), &before.id, &admin).await?;
    let read_back =
        drop_audit::read_back(engine.pool(), &buyers, &before.id, &buyers.reserved()).await;
    Ok(report(
        &args, &profile, &run, &buyers, &before, &after, &read_back,
    ))
}

/// Creates a drop on sale from now, without a waiting room; answers its id.
async fn create(pool: &Pool, admin: &HeaderValue, args: &DropArgs) -> Result<String, SetupError> {
    let body = json!({
        "title": "fitpulse-loadtest drop",
        "stock": args.stock,
        "price_cents": PRICE_CENTS,
        "currency": "EUR",
        "starts_at": rfc3339(now_millis()),
        "per_user_limit": args.per_user_limit,
        "reservation_ttl_seconds": args.reservation_ttl_seconds,
        "admission_per_second": null,
    });
    let call = Call {
        authorization: Some(admin.clone()),
        json: Some(Bytes::from(body.to_string())),
        ..Call::default()
    };
    let answer = setup_call(pool, Method::POST, "/v1/admin/drops", &call, 201).await?;
    serde_json::from_slice::<Value>(&answer.body)
        .ok()
        .and_then(|v| v["id"].as_str().map(str::to_owned))
        .ok_or_else(|| SetupError::Wrong {
            what: "POST /v1/admin/drops".into(),
            reason: format!("no `id` in {}", String::from_utf8_lossy(&answer.body)),
        })
}

fn report(
    args: &DropArgs,
    profile: &Profile,
    run: &Run,
    buyers: &Buyers,
    before: &AdminView,
    after: &AdminView,
    read_back: &ReadBack,
) -> Report {
    let outcome = Outcome {
        buyers: u64::from(args.buyers),
        reserved: run.count(RESERVED),
        errors: run.sent - run.ok,
        before: before.books,
        after: after.books,
        read_back,
    };
    // The results every report shows, even when none happened.
    let mut counts: BTreeMap<String, u64> = [
        RESERVED,
        SOLD_OUT,
        "limit_reached",
        "wrong_body",
        "timeout",
        "connect_error",
    ]
    .into_iter()
    .map(|label| (label.to_owned(), 0))
    .collect();
    counts.extend(run.counts.iter().map(|(k, v)| (k.clone(), *v)));
    let latency_by = run
        .by_label
        .iter()
        .filter(|(_, h)| !h.is_empty())
        .map(|(label, h)| (label.clone(), Latency::from_micros(h)))
        .collect();

    let mut figures = run.figures(profile);
    let after_books = after.books;
    for (name, value) in [
        ("units_for_sale", f64::from(before.books.for_sale())),
        ("orders_expected", outcome.expected() as f64),
        ("oversell", outcome.oversell() as f64),
        ("errors", outcome.errors as f64),
        ("server_stock", f64::from(after_books.stock)),
        ("server_sold", f64::from(after_books.sold)),
        ("server_reserved", f64::from(after_books.reserved)),
        ("server_expired", f64::from(after_books.expired)),
        ("server_remaining", f64::from(after_books.remaining)),
        ("server_leased_unsold", f64::from(after_books.leased_unsold)),
        ("server_for_sale", f64::from(after_books.buyers_see)),
        ("server_units_taken", outcome.server_taken() as f64),
        ("orders_read_back", read_back.ok as f64),
    ] {
        figures.insert(name.to_owned(), value);
    }
    let timeline = buyers.timeline();
    let since = |at: Option<tokio::time::Instant>| {
        at.map(|at| at.saturating_duration_since(run.start).as_secs_f64())
    };
    if let Some(s) = since(timeline.last_reserved) {
        figures.insert("last_reserved_at_s".into(), s);
    }
    if let Some(s) = since(timeline.first_sold_out) {
        figures.insert("first_sold_out_at_s".into(), s);
    }

    let mut failed = outcome.missed();
    if outcome.errors > 0 {
        failed.extend(run.examples.iter().map(|e| format!("  e.g. {e}")));
    }
    let created = args.drop.is_none();
    let mut parameters = args.send.parameters();
    for (name, value) in [
        ("buyers", json!(args.buyers)),
        ("within", json!(args.within.to_string())),
        ("front_load", json!(args.front_load)),
        ("drop", json!(before.id)),
        ("drop_created", json!(created)),
        ("stock", json!(before.books.stock)),
        // An existing drop's own limit and reservation time apply, not the arguments'.
        (
            "per_user_limit",
            json!(created.then_some(args.per_user_limit)),
        ),
        (
            "reservation_ttl_seconds",
            json!(created.then_some(args.reservation_ttl_seconds)),
        ),
        ("fd_limit", json!(run.fd_limit)),
    ] {
        parameters.insert(name.to_owned(), value);
    }
    Report {
        scenario: "drop".into(),
        parameters: Value::Object(parameters),
        counts,
        latency_ms: Latency::from_micros(&run.all),
        latency_by,
        figures,
        failed,
        started_at: run.started_at.clone(),
        host: crate::host_info(),
    }
}
