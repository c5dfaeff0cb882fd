//! What `rest` and `spike` ask for: a weighted mix of catalog reads, likes, plan reads and
//! plan edits (an entry of the plan marked done or not done).
//!
//! Setup (not measured) lists the whole catalog, warms up every list query (learning the
//! cursors of second pages), mints users' tokens and gives every user a plan. After that,
//! request `i` is a pure function of `i`, so two runs with the same parameters send the
//! same requests in the same order.

use std::sync::Arc;

use fitpulse_actors::domain::{ContentKind, UserId};
use futures_util::future::join_all;
use hyper::body::Bytes;
use hyper::header::HeaderValue;
use hyper::{Method, Uri};

use super::checks::{self, Expect, Listing, Page};
use super::mix::{Kind, Mix, splitmix64};
use super::open_loop::{self, Requests, Verdict};
use crate::pool::{Answer, Call, ExchangeError, Pool};
use crate::tokens::Minter;

/// Pages of 100 read while listing the catalog, per kind; the demo catalog needs one.
const MAX_DISCOVERY_PAGES: usize = 100;

/// Every fourth user has premium access (and reads premium items with it).
const PREMIUM_EVERY: usize = 4;

/// One request and what its answer must show.
pub type Request = open_loop::Request<Expect>;

#[derive(Debug, thiserror::Error)]
pub enum SetupError {
    #[error("setup: {what}")]
    Exchange {
        what: String,
        #[source]
        source: ExchangeError,
    },
    #[error("setup: {what} answered {status}: {body}")]
    Status {
        what: String,
        status: u16,
        body: String,
    },
    #[error("setup: {what}: {reason}")]
    Wrong { what: String, reason: String },
    #[error("setup: the catalog is empty, nothing to read or like")]
    EmptyCatalog,
    #[error("setup: --users must be at least 1")]
    NoUsers,
}

/// The 200 answer to a setup request, or why there is none.
async fn get_ok(
    pool: &Pool,
    method: Method,
    path: &str,
    call: &Call,
) -> Result<Answer, SetupError> {
    setup_call(pool, method, path, call, 200).await
}

/// The answer with `status` to a setup request, or why there is none.
pub(super) async fn setup_call(
    pool: &Pool,
    method: Method,
    path: &str,
    call: &Call,
    status: u16,
) -> Result<Answer, SetupError> {
    let what = || format!("{method} {path}");
    let uri = uri(path).map_err(|reason| SetupError::Wrong {
        what: what(),
        reason,
    })?;
    let answer = pool
        .send(&method, &uri, call)
        .await
        .map_err(|source| SetupError::Exchange {
            what: what(),
            source,
        })?;
    if answer.status != status {
        return Err(SetupError::Status {
            what: what(),
            status: answer.status,
            body: String::from_utf8_lossy(&answer.body)
                .chars()
                .take(300)
                .collect(),
        });
    }
    Ok(answer)
}

pub(super) fn uri(path: &str) -> Result<Uri, String> {
    Uri::try_from(path).map_err(|e| format!("not a path: {e}"))
}

/// A published item found while listing the catalog.
struct Found {
    kind: ContentKind,
    id: String,
    premium: bool,
}

/// The list queries a browsing app sends: first pages with and without filters, both
/// orders, searches, and (learned in warm-up) second pages.
fn listings() -> Vec<Listing> {
    use ContentKind::{Plan, Post, Recipe, Workout};
    let of = Listing::of;
    vec![
        of(Recipe),
        Listing {
            popular: true,
            limit: Some(10),
            ..of(Recipe)
        },
        Listing {
            max_minutes: Some(10),
            ..of(Recipe)
        },
        Listing {
            tag: Some("breakfast"),
            limit: Some(10),
            ..of(Recipe)
        },
        Listing {
            diet: Some("vegetarian"),
            ..of(Recipe)
        },
        Listing {
            diet: Some("high_protein"),
            max_minutes: Some(30),
            popular: true,
            ..of(Recipe)
        },
        Listing {
            q: Some("oats"),
            ..of(Recipe)
        },
        of(Workout),
        Listing {
            equipment: Some("none"),
            max_minutes: Some(20),
            ..of(Workout)
        },
        Listing {
            level: Some("beginner"),
            popular: true,
            ..of(Workout)
        },
        Listing {
            tag: Some("advanced"),
            limit: Some(5),
            ..of(Workout)
        },
        Listing {
            q: Some("yoga"),
            ..of(Workout)
        },
        of(Plan),
        of(Post),
        Listing {
            limit: Some(5),
            ..of(Post)
        },
        Listing {
            popular: true,
            ..of(Post)
        },
    ]
}

/// The requests of a run, ready to send.
pub struct Workload {
    mix: Mix,
    lists: Vec<Arc<Request>>,
    items: Vec<Arc<Request>>,
    /// `PUT /v1/me/likes/{kind}/{id}` for every published item.
    likes: Vec<Uri>,
    /// `GET /v1/me/plan?week=n` for every week of the plan.
    weeks: Vec<Uri>,
    /// Each entry of the plan's first week and its `/v1/me/plan/items/{id}/done`.
    entries: Vec<(String, Uri)>,
    users: Vec<HeaderValue>,
}

/// What setup learned, for the report.
#[derive(Debug, Clone, Copy)]
pub struct Learned {
    pub catalog_items: usize,
    pub list_queries: usize,
    pub users: usize,
}

impl Workload {
    /// Lists the catalog, warms up the list queries, mints `users` tokens valid
    /// `ttl_seconds` and (if the mix reads plans) gives every user the plan `template`.
    pub async fn prepare(
        pool: &Pool,
        minter: &Minter,
        mix: &Mix,
        users: usize,
        template: &str,
        ttl_seconds: i64,
    ) -> Result<Workload, SetupError> {
        if users == 0 {
            return Err(SetupError::NoUsers);
        }
        let found = discover(pool).await?;
        if found.is_empty() {
            return Err(SetupError::EmptyCatalog);
        }
        let users: Vec<HeaderValue> = (0..users)
            .map(|n| {
                let scopes: &[&str] = if n % PREMIUM_EVERY == 0 {
                    &["content:premium"]
                } else {
                    &[]
                };
                let token = minter.member_with_scopes(UserId::random(), scopes, ttl_seconds);
                // A JWT is base64url and dots: always a valid header value.
                HeaderValue::from_str(&format!("Bearer {token}")).expect("a JWT is header-safe")
            })
            .collect();
        let lists = warm_up(pool).await?;
        let premium_users = users.len().div_ceil(PREMIUM_EVERY);
        let mut items = Vec::with_capacity(found.len());
        let mut likes = Vec::with_capacity(found.len());
        for (n, item) in found.iter().enumerate() {
            let kind = item.kind.as_str();
            let path = format!("/v1/{kind}s/{}", item.id);
            let like = format!("/v1/me/likes/{kind}/{}", item.id);
            let bad = |reason| SetupError::Wrong {
                what: format!("{kind} `{}`", item.id),
                reason,
            };
            items.push(Arc::new(Request {
                part: Kind::Catalog.as_str(),
                method: Method::GET,
                uri: uri(&path).map_err(bad)?,
                call: Call {
                    // Free items are read anonymously, premium ones by a premium user.
                    authorization: item
                        .premium
                        .then(|| users[(n % premium_users) * PREMIUM_EVERY].clone()),
                    ..Call::default()
                },
                expect: Expect::Item {
                    kind: item.kind,
                    id: item.id.clone(),
                },
            }));
            likes.push(uri(&like).map_err(bad)?);
        }
        let (weeks, entries) = if mix.has(Kind::Plan) || mix.has(Kind::Edit) {
            let chosen = choose_plans(pool, &users, template, mix.has(Kind::Edit)).await?;
            let bad = |reason| SetupError::Wrong {
                what: "plan weeks and entries".into(),
                reason,
            };
            let weeks = (1..=chosen.weeks)
                .map(|w| uri(&format!("/v1/me/plan?week={w}")))
                .collect::<Result<_, _>>()
                .map_err(bad)?;
            let entries = chosen
                .entries
                .into_iter()
                .map(|id| {
                    let done = uri(&format!("/v1/me/plan/items/{id}/done"))?;
                    Ok((id, done))
                })
                .collect::<Result<_, _>>()
                .map_err(bad)?;
            (weeks, entries)
        } else {
            (Vec::new(), Vec::new())
        };
        Ok(Workload {
            mix: mix.clone(),
            lists,
            items,
            likes,
            weeks,
            entries,
            users,
        })
    }

    pub fn learned(&self) -> Learned {
        Learned {
            catalog_items: self.items.len(),
            list_queries: self.lists.len(),
            users: self.users.len(),
        }
    }

    /// The `i`-th request of the run.
    pub fn request(&self, i: u64) -> Arc<Request> {
        let roll = splitmix64(i);
        let pick = |n: usize, salt: u64| (splitmix64(roll ^ salt) % n as u64) as usize;
        match self.mix.pick(roll) {
            // Half list pages, half single items: browsing, then opening what was listed.
            Kind::Catalog if roll >> 63 == 0 => self.lists[pick(self.lists.len(), 1)].clone(),
            Kind::Catalog => self.items[pick(self.items.len(), 2)].clone(),
            Kind::Like => Arc::new(Request {
                part: Kind::Like.as_str(),
                method: Method::PUT,
                uri: self.likes[pick(self.likes.len(), 3)].clone(),
                call: self.user_call(pick(self.users.len(), 4)),
                expect: Expect::Liked,
            }),
            Kind::Plan => {
                let week = pick(self.weeks.len(), 5);
                Arc::new(Request {
                    part: Kind::Plan.as_str(),
                    method: Method::GET,
                    uri: self.weeks[week].clone(),
                    call: self.user_call(pick(self.users.len(), 6)),
                    expect: Expect::Week(week + 1),
                })
            }
            // Done and not done alike, so a user's entries keep changing.
            Kind::Edit => {
                let (id, done_uri) = &self.entries[pick(self.entries.len(), 7)];
                let done = splitmix64(roll ^ 8) & 1 == 1;
                Arc::new(Request {
                    part: Kind::Edit.as_str(),
                    method: if done { Method::PUT } else { Method::DELETE },
                    uri: done_uri.clone(),
                    call: self.user_call(pick(self.users.len(), 9)),
                    expect: Expect::Done {
                        entry: id.clone(),
                        done,
                    },
                })
            }
        }
    }

    fn user_call(&self, user: usize) -> Call {
        Call {
            authorization: Some(self.users[user].clone()),
            ..Call::default()
        }
    }
}

impl Requests for Workload {
    type Expect = Expect;

    fn request(&self, i: u64) -> Arc<Request> {
        Workload::request(self, i)
    }

    fn judge(&self, request: &Request, answer: &Answer) -> Verdict {
        checks::judge(&request.expect, answer)
    }
}

/// Every published item, page by page.
async fn discover(pool: &Pool) -> Result<Vec<Found>, SetupError> {
    let mut found = Vec::new();
    for kind in ContentKind::ALL {
        let mut listing = Listing {
            limit: Some(100),
            ..Listing::of(kind)
        };
        for _ in 0..MAX_DISCOVERY_PAGES {
            let path = listing.path();
            let answer = get_ok(pool, Method::GET, &path, &Call::default()).await?;
            let page = checked_page(&listing, &path, &answer.body)?;
            found.extend(page.items.iter().map(|item| Found {
                kind,
                id: item.id.to_string(),
                premium: item.premium,
            }));
            match page.next_cursor {
                Some(cursor) => listing.cursor = Some(cursor.into_owned()),
                None => break,
            }
        }
    }
    Ok(found)
}

fn checked_page<'a>(listing: &Listing, path: &str, body: &'a [u8]) -> Result<Page<'a>, SetupError> {
    let wrong = |reason: String| SetupError::Wrong {
        what: format!("GET {path}"),
        reason,
    };
    let page: Page<'a> = serde_json::from_slice(body).map_err(|e| wrong(e.to_string()))?;
    checks::check_list(listing, &page).map_err(|e| wrong(e.0))?;
    Ok(page)
}

/// Every list query once; a first page that has more adds its second page to the mix.
async fn warm_up(pool: &Pool) -> Result<Vec<Arc<Request>>, SetupError> {
    let mut lists = Vec::new();
    for listing in listings() {
        let mut next = Some(listing);
        // A first page and at most its second.
        for _ in 0..2 {
            let Some(listing) = next.take() else { break };
            let path = listing.path();
            let answer = get_ok(pool, Method::GET, &path, &Call::default()).await?;
            let page = checked_page(&listing, &path, &answer.body)?;
            if listing.cursor.is_none()
                && let Some(cursor) = &page.next_cursor
            {
                next = Some(Listing {
                    cursor: Some(cursor.to_string()),
                    ..listing.clone()
                });
            }
            lists.push(Arc::new(Request {
                part: Kind::Catalog.as_str(),
                method: Method::GET,
                uri: uri(&path).map_err(|reason| SetupError::Wrong {
                    what: path.clone(),
                    reason,
                })?,
                call: Call::default(),
                expect: Expect::List(listing),
            }));
        }
    }
    Ok(lists)
}

/// What choosing a plan showed.
struct Chosen {
    weeks: usize,
    /// The entries of the week shown (the first), the same for every user of the template.
    entries: Vec<String>,
}

/// Gives every user the plan `template`; answers its number of weeks and first week's
/// entries (of which there must be some when `edits` are to be made).
async fn choose_plans(
    pool: &Pool,
    users: &[HeaderValue],
    template: &str,
    edits: bool,
) -> Result<Chosen, SetupError> {
    let body = Bytes::from(serde_json::json!({ "template_id": template }).to_string());
    let chosen = join_all(users.iter().map(|user| {
        let call = Call {
            authorization: Some(user.clone()),
            json: Some(body.clone()),
            ..Call::default()
        };
        async move { get_ok(pool, Method::PUT, "/v1/me/plan", &call).await }
    }))
    .await;
    let mut weeks = None;
    let mut entries = Vec::new();
    for answer in chosen {
        let answer = answer?;
        let plan: serde_json::Value =
            serde_json::from_slice(&answer.body).map_err(|e| SetupError::Wrong {
                what: "PUT /v1/me/plan".into(),
                reason: e.to_string(),
            })?;
        weeks = plan["weeks"].as_u64().filter(|w| *w > 0);
        if weeks.is_none() {
            return Err(SetupError::Wrong {
                what: "PUT /v1/me/plan".into(),
                reason: format!("no `weeks` in {plan}"),
            });
        }
        if entries.is_empty() {
            entries = week_entries(&plan);
        }
    }
    if edits && entries.is_empty() {
        return Err(SetupError::Wrong {
            what: "PUT /v1/me/plan".into(),
            reason: "the week shown has no entries".into(),
        });
    }
    Ok(Chosen {
        weeks: weeks.unwrap_or(1) as usize,
        entries,
    })
}

/// The ids of a plan week's entries (`days[].entries[].id`).
fn week_entries(week: &serde_json::Value) -> Vec<String> {
    let days = week["days"]
        .as_array()
        .map(Vec::as_slice)
        .unwrap_or_default();
    days.iter()
        .filter_map(|day| day["entries"].as_array())
        .flatten()
        .filter_map(|entry| entry["id"].as_str().map(str::to_owned))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_list_queries_are_distinct_paths() {
        let paths: std::collections::HashSet<String> =
            listings().iter().map(Listing::path).collect();
        assert_eq!(paths.len(), listings().len());
    }

    #[test]
    fn a_weeks_entries_are_read_from_its_days() {
        let week = serde_json::json!({
            "days": [
                {"entries": [{"id": "w1d1-breakfast"}, {"id": "w1d1-lunch"}]},
                {"entries": []},
                {"entries": [{"id": "w1d3-dinner"}, {"slot": "snack"}]}
            ]
        });
        assert_eq!(
            week_entries(&week),
            ["w1d1-breakfast", "w1d1-lunch", "w1d3-dinner"]
        );
        assert!(week_entries(&serde_json::json!({"days": "x"})).is_empty());
    }
}
