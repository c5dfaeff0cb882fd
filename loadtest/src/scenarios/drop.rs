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
    /// Give the created drop a waiting room admitting this many a second: each buyer
    /// joins its queue, waits to be admitted, then orders with its admission token.
    #[arg(long, conflicts_with = "drop")]
    pub admission_per_second: Option<u32>,
    /// With a waiting room: the drop starts this long after it is created (buyers who
    /// join before get places drawn at random at the start).
    #[arg(long, default_value = "5s")]
    pub opens_in: humantime::Duration,
    /// More nodes of the same cluster (comma-separated URLs): buyers of a waiting-room
    /// drop are spread over `--target` and these in turn.
    #[arg(long, value_delimiter = ',')]
    pub spread: Vec<String>,
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
    if let Some(rate) = args.admission_per_second {
        return queued(&args, &engine, &admin, rate, ttl).await;
    }
    let drop_id = match &args.drop {
        Some(id) => id.clone(),
        None => create(engine.pool(), &admin, &args, now_millis(), None).await?,
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

/// Creates a drop starting at `starts_at`, with a waiting room admitting `rate` a
/// second when given; answers its id.
async fn create(
    pool: &Pool,
    admin: &HeaderValue,
    args: &DropArgs,
    starts_at: i64,
    rate: Option<u32>,
) -> Result<String, SetupError> {
    let body = json!({
        "title": "fitpulse-loadtest drop",
        "stock": args.stock,
        "price_cents": PRICE_CENTS,
        "currency": "EUR",
        "starts_at": rfc3339(starts_at),
        "per_user_limit": args.per_user_limit,
        "reservation_ttl_seconds": args.reservation_ttl_seconds,
        "admission_per_second": rate,
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

/// A drop with a waiting room: buyers queue, are admitted at its rate, then order (see
/// `drop_queue`).
async fn queued(
    args: &DropArgs,
    engine: &Engine,
    admin: &HeaderValue,
    rate: u32,
    ttl: i64,
) -> Result<Report, LoadError> {
    let started_at = rfc3339(now_millis());
    let starts_at = now_millis() + Duration::from(args.opens_in).as_millis() as i64;
    let drop_id = create(engine.pool(), admin, args, starts_at, Some(rate)).await?;
    let before = drop_audit::books(engine.pool(), &drop_id, admin).await?;
    let mut spread = Vec::new();
    for extra in &args.spread {
        spread.push(crate::target::parse_target(extra)?);
    }
    let pools = super::drop_queue::pools(
        engine.shared_pool(),
        &spread,
        args.send.connections,
        args.send.sources,
    )
    .await
    .map_err(|source| SetupError::Exchange {
        what: "opening connections to the --spread nodes".into(),
        source,
    })?;
    // Tokens outlast the whole queue: every buyer's wait at the rate, and a margin.
    let queue_ttl = ttl + i64::from(args.buyers / rate.max(1)) + 600;
    let run = super::drop_queue::run(
        &pools,
        engine.minter(),
        &before.id,
        (starts_at, rate),
        args.buyers,
        args.within.into(),
        queue_ttl,
    )
    .await
    .map_err(|reason| SetupError::Wrong {
        what: "the buyers of a waiting-room drop".into(),
        reason,
    })?;
    let after = drop_audit::books(engine.pool(), &before.id, admin).await?;
    Ok(queue_report(args, rate, &run, &before, &after, started_at))
}

fn queue_report(
    args: &DropArgs,
    rate: u32,
    run: &super::drop_queue::QueueRun,
    before: &AdminView,
    after: &AdminView,
    started_at: String,
) -> Report {
    let buyers = u64::from(args.buyers);
    let expected = buyers.min(u64::from(before.books.for_sale()));
    let mut failed = Vec::new();
    if run.errors > 0 {
        failed.push(format!("{} errors (the bar is 0)", run.errors));
        failed.extend(run.examples.iter().map(|e| format!("  e.g. {e}")));
    }
    if run.admitted != buyers {
        failed.push(format!("{} of {buyers} buyers admitted", run.admitted));
    }
    if run.reserved > expected {
        failed.push(format!(
            "OVERSOLD: {} reservations for {expected} units",
            run.reserved
        ));
    } else if run.reserved < expected {
        failed.push(format!(
            "{} reservations, the bar is exactly {expected}",
            run.reserved
        ));
    }
    if !after.books.add_up() || after.books.taken() > after.books.stock {
        failed.push(format!(
            "the server's books after the run: {:?}",
            after.books
        ));
    }
    let admission_rate = run.admission_rate();
    match admission_rate {
        Some(seen) if (seen - f64::from(rate)).abs() <= f64::from(rate) * 0.1 => {}
        seen => failed.push(format!(
            "admissions came at {seen:?} a second; the drop admits {rate} (+-10%)"
        )),
    }
    let counts = [
        ("joined", run.joined),
        ("admitted", run.admitted),
        (RESERVED, run.reserved),
        (SOLD_OUT, run.sold_out),
        ("errors", run.errors),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v))
    .collect();
    let latency = |h: &Option<hdrhistogram::Histogram<u64>>| {
        h.as_ref().map(Latency::from_micros).unwrap_or_default()
    };
    let latency_by = [
        ("arrival_to_admission".to_owned(), latency(&run.wait)),
        ("order".to_owned(), latency(&run.order)),
    ]
    .into_iter()
    .collect();
    let mut figures: BTreeMap<String, f64> = BTreeMap::new();
    for (name, value) in [
        ("admission_rate_per_s", admission_rate.unwrap_or(0.0)),
        (
            "first_admitted_after_start_s",
            run.first_admitted_s.unwrap_or(-1.0),
        ),
        (
            "last_admitted_after_start_s",
            run.last_admitted_s.unwrap_or(-1.0),
        ),
        ("standing_polls", run.polls as f64),
        ("orders_expected", expected as f64),
        ("server_reserved", f64::from(after.books.reserved)),
        ("server_remaining", f64::from(after.books.remaining)),
        ("server_leased_unsold", f64::from(after.books.leased_unsold)),
    ] {
        figures.insert(name.to_owned(), value);
    }
    let mut parameters = args.send.parameters();
    for (name, value) in [
        ("buyers", json!(args.buyers)),
        ("within", json!(args.within.to_string())),
        ("stock", json!(args.stock)),
        ("admission_per_second", json!(rate)),
        ("opens_in", json!(args.opens_in.to_string())),
        ("spread", json!(args.spread)),
        ("drop", json!(before.id)),
    ] {
        parameters.insert(name.to_owned(), value);
    }
    Report {
        scenario: "drop".into(),
        parameters: Value::Object(parameters),
        counts,
        latency_ms: latency(&run.order),
        latency_by,
        figures,
        failed,
        started_at,
        host: crate::host_info(),
    }
}
