//! The buyers of `drop`: each a distinct member with a token minted for it, placing one
//! order of one unit under its own `Idempotency-Key`; and what each answer counts as. A
//! reservation (201) and `sold_out` (409) are the two right answers; every other answer,
//! including the other refusals, is an error, since no buyer orders twice or early.

use std::borrow::Cow;
use std::sync::{Arc, Mutex};

use fitpulse_actors::domain::UserId;
use hyper::body::Bytes;
use hyper::header::{HeaderName, HeaderValue};
use hyper::{Method, Uri};
use serde::Deserialize;
use tokio::time::Instant;

use super::open_loop::{Request, Requests, Verdict};
use super::workload::{SetupError, uri};
use crate::pool::{Answer, Call};
use crate::tokens::Minter;

pub const RESERVED: &str = "reserved";
pub const SOLD_OUT: &str = "sold_out";
/// The other refusals an order may get; each counts apart, as an error.
const REFUSALS: [&str; 3] = ["limit_reached", "not_started", "not_admitted"];

const IDEMPOTENCY_KEY: HeaderName = HeaderName::from_static("idempotency-key");
const ORDER_BODY: &[u8] = br#"{"quantity":1}"#;

/// A reservation the server answered, for reading back after the run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reserved {
    pub buyer: u32,
    pub order_id: String,
}

/// When the stock ran out, as the buyers saw it.
#[derive(Debug, Default, Clone, Copy)]
pub struct Timeline {
    pub last_reserved: Option<Instant>,
    pub first_sold_out: Option<Instant>,
}

pub struct Buyers {
    drop_id: String,
    requests: Vec<Arc<Request<u32>>>,
    reserved: Mutex<Vec<Reserved>>,
    timeline: Mutex<Timeline>,
}

impl Buyers {
    /// `count` buyers of drop `drop_id`, their tokens valid `ttl_seconds`; `run_tag` makes
    /// the idempotency keys of two runs differ.
    pub fn new(
        minter: &Minter,
        drop_id: &str,
        count: u32,
        ttl_seconds: i64,
        run_tag: i64,
    ) -> Result<Buyers, SetupError> {
        let wrong = |reason: String| SetupError::Wrong {
            what: format!("orders of drop `{drop_id}`"),
            reason,
        };
        let orders: Uri = uri(&format!("/v1/drops/{drop_id}/orders")).map_err(wrong)?;
        let body = Bytes::from_static(ORDER_BODY);
        let requests = (0..count)
            .map(|buyer| {
                let token = minter.member(UserId::random(), ttl_seconds);
                // A JWT is base64url and dots, a key digits and dashes: both header-safe.
                let authorization = HeaderValue::from_str(&format!("Bearer {token}"))
                    .map_err(|e| wrong(e.to_string()))?;
                let key = HeaderValue::from_str(&format!("loadtest-{run_tag}-{buyer}"))
                    .map_err(|e| wrong(e.to_string()))?;
                Ok(Arc::new(Request {
                    part: "order",
                    method: Method::POST,
                    uri: orders.clone(),
                    call: Call {
                        authorization: Some(authorization),
                        json: Some(body.clone()),
                        headers: vec![(IDEMPOTENCY_KEY, key)],
                    },
                    expect: buyer,
                }))
            })
            .collect::<Result<_, SetupError>>()?;
        Ok(Buyers {
            drop_id: drop_id.to_owned(),
            requests,
            reserved: Mutex::new(Vec::new()),
            timeline: Mutex::new(Timeline::default()),
        })
    }

    /// Every reservation answered so far.
    pub fn reserved(&self) -> Vec<Reserved> {
        self.reserved.lock().map(|r| r.clone()).unwrap_or_default()
    }

    pub fn timeline(&self) -> Timeline {
        self.timeline.lock().map(|t| *t).unwrap_or_default()
    }

    /// The `Authorization` value of `buyer`.
    pub fn authorization(&self, buyer: u32) -> Option<HeaderValue> {
        self.requests
            .get(buyer as usize)
            .and_then(|r| r.call.authorization.clone())
    }
}

impl Requests for Buyers {
    type Expect = u32;

    fn request(&self, i: u64) -> Arc<Request<u32>> {
        // The engine asks for exactly as many requests as there are buyers.
        self.requests[i as usize].clone()
    }

    fn judge(&self, request: &Request<u32>, answer: &Answer) -> Verdict {
        let now = Instant::now();
        let (verdict, order_id) = classify(&self.drop_id, answer);
        if let Some(order_id) = order_id
            && let Ok(mut reserved) = self.reserved.lock()
        {
            reserved.push(Reserved {
                buyer: request.expect,
                order_id,
            });
        }
        if verdict.ok
            && let Ok(mut timeline) = self.timeline.lock()
        {
            if verdict.label == RESERVED {
                timeline.last_reserved = timeline.last_reserved.max(Some(now));
            } else if timeline.first_sold_out.is_none_or(|t| now < t) {
                timeline.first_sold_out = Some(now);
            }
        }
        verdict
    }
}

#[derive(Deserialize)]
pub(super) struct Order<'a> {
    #[serde(borrow)]
    pub id: Cow<'a, str>,
    #[serde(borrow)]
    pub drop_id: Cow<'a, str>,
    pub quantity: u32,
    #[serde(borrow)]
    pub status: Cow<'a, str>,
}

impl Order<'_> {
    /// Whether this is a reservation of one unit of `drop_id` (ids compared as UUIDs are,
    /// without regard to case).
    pub fn is_reservation_of(&self, drop_id: &str) -> bool {
        self.status == RESERVED
            && self.quantity == 1
            && !self.id.is_empty()
            && self.drop_id.eq_ignore_ascii_case(drop_id)
    }
}

#[derive(Deserialize)]
struct Refusal<'a> {
    #[serde(borrow)]
    error: Code<'a>,
}

#[derive(Deserialize)]
struct Code<'a> {
    #[serde(borrow)]
    code: Cow<'a, str>,
}

/// What an answer to an order counts as, and the order's id when it is a reservation.
pub(super) fn classify(drop_id: &str, answer: &Answer) -> (Verdict, Option<String>) {
    match answer.status {
        201 => match serde_json::from_slice::<Order>(&answer.body) {
            Ok(order) if order.is_reservation_of(drop_id) => {
                (Verdict::ok(RESERVED), Some(order.id.into_owned()))
            }
            Ok(order) => (
                Verdict::wrong_body(format!(
                    "order `{}` is {} for {} unit(s) of drop `{}`",
                    order.id, order.status, order.quantity, order.drop_id
                )),
                None,
            ),
            Err(err) => (Verdict::wrong_body(format!("unexpected body: {err}")), None),
        },
        409 => {
            let code = serde_json::from_slice::<Refusal>(&answer.body).map(|r| r.error.code);
            match code.as_deref() {
                Ok(SOLD_OUT) => (Verdict::ok(SOLD_OUT), None),
                Ok(code) => match REFUSALS.into_iter().find(|r| *r == code) {
                    Some(refusal) => (
                        Verdict::not_ok(
                            refusal,
                            format!("409 {refusal}, for a buyer's only order"),
                        ),
                        None,
                    ),
                    None => (Verdict::status(answer), None),
                },
                Err(_) => (Verdict::status(answer), None),
            }
        }
        _ => (Verdict::status(answer), None),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const DROP: &str = "5f0c6a4e-1b2d-4c3e-9f00-000000000001";

    fn answer(status: u16, body: &str) -> Answer {
        Answer {
            status,
            body: Bytes::copy_from_slice(body.as_bytes()),
        }
    }

    #[test]
    fn a_reservation_of_one_unit_of_this_drop_is_reserved_with_its_order_id() {
        let body = format!(
            r#"{{"id":"o-1","drop_id":"{}","quantity":1,"status":"reserved","created_at":"x"}}"#,
            DROP.to_uppercase()
        );
        let (verdict, id) = classify(DROP, &answer(201, &body));
        assert_eq!(verdict, Verdict::ok(RESERVED));
        assert_eq!(id.as_deref(), Some("o-1"));
    }

    #[test]
    fn a_created_answer_that_is_not_a_reservation_of_this_drop_is_a_wrong_body() {
        for body in [
            format!(r#"{{"id":"o","drop_id":"{DROP}","quantity":1,"status":"paid"}}"#),
            format!(r#"{{"id":"o","drop_id":"{DROP}","quantity":2,"status":"reserved"}}"#),
            r#"{"id":"o","drop_id":"another","quantity":1,"status":"reserved"}"#.to_owned(),
            "{}".to_owned(),
        ] {
            let (verdict, id) = classify(DROP, &answer(201, &body));
            assert_eq!(verdict.label, "wrong_body", "{body}");
            assert!(!verdict.ok && id.is_none(), "{body}");
        }
    }

    #[test]
    fn sold_out_is_a_right_answer_and_every_other_refusal_an_error_counted_apart() {
        let refusal = |code: &str| {
            answer(
                409,
                &format!(r#"{{"error":{{"code":"{code}","message":"m","details":{{}}}}}}"#),
            )
        };
        assert_eq!(
            classify(DROP, &refusal("sold_out")).0,
            Verdict::ok(SOLD_OUT)
        );
        for code in REFUSALS {
            let (verdict, _) = classify(DROP, &refusal(code));
            assert_eq!((verdict.label.as_ref(), verdict.ok), (code, false));
        }
        let (verdict, _) = classify(DROP, &refusal("conflict"));
        assert_eq!((verdict.label.as_ref(), verdict.ok), ("http_409", false));
        let (verdict, _) = classify(DROP, &answer(503, "busy"));
        assert_eq!(verdict.label, "http_503");
        assert_eq!(verdict.note.as_deref(), Some("503: busy"));
    }
}
