//! Checking a `drop` run against more than the generator's own count: the server's books
//! on the drop (`GET /v1/admin/drops/{id}`) before and after the run, every reservation
//! read back by its buyer (`GET /v1/orders/{id}`), and the bars the run must meet.

use std::collections::HashSet;

use futures_util::future::join_all;
use hyper::Method;
use hyper::header::HeaderValue;
use serde::Deserialize;

use super::buyers::{Buyers, Order, Reserved};
use super::workload::{SetupError, setup_call};
use crate::pool::{Call, Pool};

/// Not-ok read-backs kept as examples.
const EXAMPLES: usize = 5;

/// A drop's units as the server counts them.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
pub struct Books {
    pub stock: u32,
    pub sold: u32,
    pub reserved: u32,
    pub expired: u32,
    /// Units in no lease (the pool).
    pub remaining: u32,
    /// Units in nodes' leases that no order took.
    pub leased_unsold: u32,
    /// What buyers are told is left: the pool and the live leases' units.
    #[serde(rename = "for_sale")]
    pub buyers_see: u32,
}

impl Books {
    /// Units in orders that still hold them (paid or reserved).
    pub fn taken(&self) -> u32 {
        self.sold + self.reserved
    }

    /// Units no order holds.
    pub fn for_sale(&self) -> u32 {
        self.stock.saturating_sub(self.taken())
    }

    /// The server's books add up: every unit is sold, reserved, in the pool or leased.
    pub fn add_up(&self) -> bool {
        u64::from(self.sold)
            + u64::from(self.reserved)
            + u64::from(self.remaining)
            + u64::from(self.leased_unsold)
            == u64::from(self.stock)
    }
}

/// `GET /v1/admin/drops/{id}`, the parts a run needs.
#[derive(Debug, Clone, Deserialize)]
pub struct AdminView {
    /// The drop's id as the server writes it.
    pub id: String,
    #[serde(flatten)]
    pub books: Books,
    pub admission_per_second: Option<u32>,
}

/// The drop's books, read with an admin's token.
pub async fn books(
    pool: &Pool,
    drop_id: &str,
    admin: &HeaderValue,
) -> Result<AdminView, SetupError> {
    let path = format!("/v1/admin/drops/{drop_id}");
    let call = Call {
        authorization: Some(admin.clone()),
        ..Call::default()
    };
    let answer = setup_call(pool, Method::GET, &path, &call, 200).await?;
    serde_json::from_slice(&answer.body).map_err(|e| SetupError::Wrong {
        what: format!("GET {path}"),
        reason: e.to_string(),
    })
}

/// Reservations read back by their buyers.
#[derive(Debug, Default)]
pub struct ReadBack {
    pub ok: u64,
    pub wrong: u64,
    pub examples: Vec<String>,
}

/// Reads every reservation back with its buyer's token: it must be that buyer's reserved
/// order of one unit of this drop, and no two reservations may share an id.
pub async fn read_back(
    pool: &Pool,
    buyers: &Buyers,
    drop_id: &str,
    reserved: &[Reserved],
) -> ReadBack {
    let checks = join_all(reserved.iter().map(|r| async move {
        let path = format!("/v1/orders/{}", r.order_id);
        let call = Call {
            authorization: buyers.authorization(r.buyer),
            ..Call::default()
        };
        let answer = setup_call(pool, Method::GET, &path, &call, 200)
            .await
            .map_err(|e| crate::error_chain(&e))?;
        match serde_json::from_slice::<Order>(&answer.body) {
            Ok(order) if order.is_reservation_of(drop_id) && order.id == r.order_id => Ok(()),
            Ok(order) => Err(format!(
                "GET {path}: order `{}` is {} for {} unit(s) of drop `{}`",
                order.id, order.status, order.quantity, order.drop_id
            )),
            Err(e) => Err(format!("GET {path}: {e}")),
        }
    }))
    .await;
    let mut result = ReadBack::default();
    let mut seen = HashSet::new();
    for (r, check) in reserved.iter().zip(checks) {
        let check = if seen.insert(r.order_id.as_str()) {
            check
        } else {
            Err(format!("order `{}` answered to two buyers", r.order_id))
        };
        match check {
            Ok(()) => result.ok += 1,
            Err(why) => {
                result.wrong += 1;
                if result.examples.len() < EXAMPLES {
                    result.examples.push(why);
                }
            }
        }
    }
    result
}

/// What a run showed, for judging it.
#[derive(Debug)]
pub struct Outcome<'a> {
    pub buyers: u64,
    /// 201 answers (one unit each).
    pub reserved: u64,
    /// Answers other than a reservation or `sold_out`, timeouts and broken connections
    /// included.
    pub errors: u64,
    pub before: Books,
    pub after: Books,
    pub read_back: &'a ReadBack,
}

impl Outcome<'_> {
    /// Reservations beyond the units that were for sale.
    pub fn oversell(&self) -> u64 {
        self.reserved
            .saturating_sub(u64::from(self.before.for_sale()))
    }

    /// Exactly this many reservations are right: every unit for sale, or one per buyer
    /// when there are fewer buyers.
    pub fn expected(&self) -> u64 {
        self.buyers.min(u64::from(self.before.for_sale()))
    }

    /// Units the server's books say were taken during the run.
    pub fn server_taken(&self) -> i64 {
        i64::from(self.after.taken()) - i64::from(self.before.taken())
    }

    /// The bars the run missed; none means it passed.
    pub fn missed(&self) -> Vec<String> {
        let mut missed = Vec::new();
        let for_sale = self.before.for_sale();
        if self.errors > 0 {
            missed.push(format!(
                "{} error answers (neither a reservation nor sold_out; the bar is 0)",
                self.errors
            ));
        }
        let oversell = self.oversell();
        if oversell > 0 {
            missed.push(format!(
                "OVERSOLD by {oversell}: {} reservations for {for_sale} units for sale",
                self.reserved
            ));
        } else if self.reserved < self.expected() {
            missed.push(format!(
                "{} reservations, the bar is exactly {} ({for_sale} units for sale, {} buyers)",
                self.reserved,
                self.expected(),
                self.buyers
            ));
        }
        if self.after.taken() > self.after.stock {
            missed.push(format!(
                "OVERSOLD in the server's books: {} sold + {} reserved > {} stock",
                self.after.sold, self.after.reserved, self.after.stock
            ));
        }
        for (when, books) in [("before", &self.before), ("after", &self.after)] {
            if !books.add_up() {
                missed.push(format!(
                    "the server's books {when} the run do not add up: {} sold + {} reserved + \
                     {} remaining + {} leased unsold != {} stock",
                    books.sold, books.reserved, books.remaining, books.leased_unsold, books.stock
                ));
            }
        }
        if self.server_taken() != self.reserved as i64 {
            let expired = self.after.expired.saturating_sub(self.before.expired);
            missed.push(format!(
                "the server's books show {} units taken during the run, the generator counted \
                 {} reservations ({expired} reservations expired meanwhile)",
                self.server_taken(),
                self.reserved
            ));
        }
        let rb = self.read_back;
        if rb.wrong > 0 {
            missed.push(format!(
                "{} of {} reservations did not read back as the buyer's reserved order",
                rb.wrong,
                rb.ok + rb.wrong
            ));
            missed.extend(rb.examples.iter().map(|e| format!("  e.g. {e}")));
        }
        missed
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn books(stock: u32, sold: u32, reserved: u32) -> Books {
        Books {
            stock,
            sold,
            reserved,
            remaining: stock.saturating_sub(sold + reserved),
            ..Books::default()
        }
    }

    fn outcome(reserved: u64, errors: u64, after: Books, rb: &ReadBack) -> Outcome<'_> {
        Outcome {
            buyers: 300,
            reserved,
            errors,
            before: books(20, 0, 0),
            after,
            read_back: rb,
        }
    }

    #[test]
    fn exactly_the_stock_reserved_and_agreeing_with_the_server_passes() {
        let rb = ReadBack {
            ok: 20,
            ..ReadBack::default()
        };
        let run = outcome(20, 0, books(20, 0, 20), &rb);
        assert_eq!(run.oversell(), 0);
        assert_eq!(run.missed(), Vec::<String>::new());
    }

    #[test]
    fn a_reservation_over_the_stock_is_an_oversell_in_either_count() {
        let rb = ReadBack::default();
        let run = outcome(21, 0, books(20, 0, 21), &rb);
        assert_eq!(run.oversell(), 1);
        let missed = run.missed();
        assert!(missed[0].starts_with("OVERSOLD by 1"), "{missed:?}");
        assert!(missed[1].contains("server's books"), "{missed:?}");
    }

    #[test]
    fn errors_unsold_units_and_disagreeing_books_each_miss_a_bar() {
        let rb = ReadBack {
            ok: 19,
            wrong: 1,
            examples: vec!["GET /v1/orders/x: 404".into()],
        };
        let missed = outcome(19, 2, books(20, 0, 20), &rb).missed();
        assert!(missed[0].contains("2 error answers"), "{missed:?}");
        assert!(missed[1].contains("bar is exactly 20"), "{missed:?}");
        assert!(missed[2].contains("20 units taken"), "{missed:?}");
        assert!(missed[3].contains("1 of 20"), "{missed:?}");
        assert!(missed[4].contains("404"), "{missed:?}");
    }

    #[test]
    fn books_that_lose_a_unit_miss_a_bar() {
        let rb = ReadBack {
            ok: 20,
            ..ReadBack::default()
        };
        let stranded = Books {
            remaining: 0,
            ..books(21, 0, 20)
        };
        let run = Outcome {
            before: books(21, 0, 0),
            ..outcome(20, 0, stranded, &rb)
        };
        let missed = run.missed();
        assert!(
            missed.iter().any(|m| m.contains("do not add up")),
            "{missed:?}"
        );
    }

    #[test]
    fn a_drop_sold_before_the_run_counts_only_what_was_left() {
        let rb = ReadBack::default();
        let run = Outcome {
            buyers: 50,
            reserved: 0,
            errors: 0,
            before: books(20, 5, 15),
            after: books(20, 5, 15),
            read_back: &rb,
        };
        assert_eq!((run.expected(), run.oversell()), (0, 0));
        assert!(run.missed().is_empty());
    }
}
