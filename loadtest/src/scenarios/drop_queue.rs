//! `drop --admission-per-second R`: a drop with a waiting room. Each buyer arrives at its
//! due time (evenly within `--within`, on `--target` and the `--spread` nodes in turn),
//! joins the queue, reads its standing until it is admitted (waiting about as long as its
//! place says: `ahead / R` seconds, at least a quarter of a second), then orders one unit
//! with its admission token. Reports the admissions the buyers saw (how many, over how
//! long: the cluster's admission rate), each buyer's wait from arrival to admission, the
//! order answers and their latency, and the server's books after. The bars: every buyer
//! admitted, every order `reserved` or `sold_out`, exactly the stock reserved (or one per
//! buyer), nothing oversold, and an admission rate within 10% of R.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use fitpulse_actors::domain::{UserId, now_millis};
use hdrhistogram::Histogram;
use hyper::body::Bytes;
use hyper::header::{HeaderName, HeaderValue};
use hyper::{Method, Uri};
use serde_json::Value;
use tokio::time::Instant;

use super::buyers::{RESERVED, SOLD_OUT, classify};
use super::workload::uri;
use crate::pool::{Call, Pool};
use crate::tokens::Minter;

const ADMISSION: HeaderName = HeaderName::from_static("x-admission-token");
const IDEMPOTENCY_KEY: HeaderName = HeaderName::from_static("idempotency-key");
/// Polls of one buyer's standing, at most (each waits at least a quarter second).
const MAX_POLLS: u32 = 2_000;

/// What the buyers saw.
#[derive(Default)]
pub struct QueueRun {
    pub joined: u64,
    pub admitted: u64,
    pub reserved: u64,
    pub sold_out: u64,
    pub errors: u64,
    pub examples: Vec<String>,
    /// When buyers first saw themselves admitted (from the drop's start).
    pub first_admitted_s: Option<f64>,
    pub last_admitted_s: Option<f64>,
    pub polls: u64,
    pub wait: Option<Histogram<u64>>,
    pub order: Option<Histogram<u64>>,
}

impl QueueRun {
    /// Admissions per second as the buyers saw them: the server admits once a second,
    /// so N admissions seen from the first tick to the last span that many seconds plus
    /// the one the first tick opened.
    pub fn admission_rate(&self) -> Option<f64> {
        let span = self.last_admitted_s? - self.first_admitted_s?;
        (self.admitted > 0).then(|| self.admitted as f64 / (span + 1.0))
    }

    fn error(&mut self, example: String) {
        self.errors += 1;
        if self.examples.len() < 5 {
            self.examples.push(example);
        }
    }
}

fn histogram() -> Histogram<u64> {
    Histogram::new_with_bounds(1, 3_600_000_000, 3).expect("valid histogram bounds")
}

/// Sends buyers of `drop_id` (starting at `starts_at`, admitting `rate` a second) through
/// the queue to an order, over `pools` in turn.
pub async fn run(
    pools: &[Arc<Pool>],
    minter: &Minter,
    drop_id: &str,
    (starts_at, rate): (i64, u32),
    buyers: u32,
    within: Duration,
    ttl_seconds: i64,
) -> Result<QueueRun, String> {
    let queue: Uri = uri(&format!("/v1/drops/{drop_id}/queue"))?;
    let orders: Uri = uri(&format!("/v1/drops/{drop_id}/orders"))?;
    let tally = Arc::new(Mutex::new(QueueRun {
        wait: Some(histogram()),
        order: Some(histogram()),
        ..QueueRun::default()
    }));
    let start = Instant::now();
    let starts_in = Duration::from_millis((starts_at - now_millis()).max(0) as u64);
    let mut tasks = Vec::with_capacity(buyers as usize);
    for n in 0..buyers {
        let due = start + within.mul_f64(f64::from(n) / f64::from(buyers.max(1)));
        let pool = pools[n as usize % pools.len()].clone();
        let token = minter.member(UserId::random(), ttl_seconds);
        let authorization =
            HeaderValue::from_str(&format!("Bearer {token}")).map_err(|e| e.to_string())?;
        let (queue, orders, tally) = (queue.clone(), orders.clone(), tally.clone());
        let opening = start + starts_in;
        let drop_id = drop_id.to_owned();
        tasks.push(tokio::spawn(async move {
            tokio::time::sleep_until(due).await;
            let buyer = Buyer {
                pool: &pool,
                call: Call {
                    authorization: Some(authorization),
                    ..Call::default()
                },
            };
            buyer
                .go(&queue, &orders, &drop_id, (opening, rate), &tally, n)
                .await;
        }));
    }
    for task in tasks {
        let _ = task.await;
    }
    let run = std::mem::take(&mut *tally.lock().map_err(|e| e.to_string())?);
    Ok(run)
}

struct Buyer<'a> {
    pool: &'a Pool,
    call: Call,
}

impl Buyer<'_> {
    async fn go(
        &self,
        queue: &Uri,
        orders: &Uri,
        drop_id: &str,
        (opening, rate): (Instant, u32),
        tally: &Mutex<QueueRun>,
        n: u32,
    ) {
        let arrived = Instant::now();
        let record = |f: &mut dyn FnMut(&mut QueueRun)| {
            if let Ok(mut t) = tally.lock() {
                f(&mut t);
            }
        };
        let joined = self.pool.send(&Method::POST, queue, &self.call).await;
        match joined {
            Ok(answer) if answer.status == 200 => record(&mut |t| t.joined += 1),
            Ok(answer) => {
                let why = format!(
                    "join: {} {}",
                    answer.status,
                    String::from_utf8_lossy(&answer.body)
                );
                return record(&mut |t| t.error(why.clone()));
            }
            Err(err) => return record(&mut |t| t.error(format!("join: {err}"))),
        }
        // Reads the standing until admitted, waiting about as long as the place says.
        let mut token = None;
        for _ in 0..MAX_POLLS {
            let answer = match self.pool.send(&Method::GET, queue, &self.call).await {
                Ok(answer) if answer.status == 200 => answer,
                Ok(answer) if answer.status == 503 => {
                    tokio::time::sleep(Duration::from_millis(250)).await;
                    continue;
                }
                Ok(answer) => {
                    let why = format!(
                        "standing: {} {}",
                        answer.status,
                        String::from_utf8_lossy(&answer.body)
                    );
                    return record(&mut |t| t.error(why.clone()));
                }
                Err(err) => return record(&mut |t| t.error(format!("standing: {err}"))),
            };
            record(&mut |t| t.polls += 1);
            let standing: Value = serde_json::from_slice(&answer.body).unwrap_or(Value::Null);
            if let Some(admission) = standing["admission_token"].as_str() {
                token = Some(admission.to_owned());
                break;
            }
            let pause = match standing["ahead"].as_u64() {
                // Before the draw: come back at the opening.
                None => opening.saturating_duration_since(Instant::now()),
                Some(ahead) => Duration::from_secs_f64(ahead as f64 / f64::from(rate.max(1))),
            };
            tokio::time::sleep(pause.clamp(Duration::from_millis(250), Duration::from_secs(5)))
                .await;
        }
        let Some(token) = token else {
            return record(&mut |t| t.error(format!("buyer {n} never admitted")));
        };
        let admitted_at = Instant::now();
        let since_open = admitted_at.saturating_duration_since(opening).as_secs_f64();
        let waited = admitted_at.duration_since(arrived).as_micros() as u64;
        record(&mut |t| {
            t.admitted += 1;
            t.first_admitted_s = Some(t.first_admitted_s.map_or(since_open, |f| f.min(since_open)));
            t.last_admitted_s = Some(t.last_admitted_s.map_or(since_open, |l| l.max(since_open)));
            if let Some(h) = t.wait.as_mut() {
                let _ = h.record(waited.max(1));
            }
        });
        let (Ok(admission), Ok(key)) = (
            HeaderValue::from_str(&token),
            HeaderValue::from_str(&format!("queue-{n}-{}", now_millis())),
        ) else {
            return record(&mut |t| t.error("an admission token that is no header".into()));
        };
        let call = Call {
            json: Some(Bytes::from_static(br#"{"quantity":1}"#)),
            headers: vec![(ADMISSION, admission), (IDEMPOTENCY_KEY, key)],
            ..self.call.clone()
        };
        let sent = Instant::now();
        let answer = self.pool.send(&Method::POST, orders, &call).await;
        let took = sent.elapsed().as_micros() as u64;
        match answer {
            Ok(answer) => {
                let (verdict, _) = classify(drop_id, &answer);
                record(&mut |t| {
                    if let Some(h) = t.order.as_mut() {
                        let _ = h.record(took.max(1));
                    }
                    match verdict.label.as_ref() {
                        RESERVED if verdict.ok => t.reserved += 1,
                        SOLD_OUT if verdict.ok => t.sold_out += 1,
                        other => t.error(format!("order: {other} {:?}", verdict.note)),
                    }
                });
            }
            Err(err) => record(&mut |t| t.error(format!("order: {err}"))),
        }
    }
}

/// The pools of `--target` and every `--spread` node, each with `connections`.
pub async fn pools(
    first: Arc<Pool>,
    spread: &[SocketAddr],
    connections: usize,
    sources: usize,
) -> Result<Vec<Arc<Pool>>, crate::pool::ExchangeError> {
    let mut pools = vec![first];
    for addr in spread {
        let pool = Arc::new(Pool::new(*addr, connections, sources));
        pool.open_all().await?;
        pools.push(pool);
    }
    Ok(pools)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_admission_rate_counts_the_ticks_seen() {
        // Three ticks of 50, seen at 0.5 s, 1.5 s and 2.5 s.
        let run = QueueRun {
            admitted: 150,
            first_admitted_s: Some(0.5),
            last_admitted_s: Some(2.5),
            ..QueueRun::default()
        };
        assert_eq!(run.admission_rate(), Some(50.0));
        assert_eq!(QueueRun::default().admission_rate(), None);
    }
}
