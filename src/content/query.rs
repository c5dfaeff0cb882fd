//! Catalog list queries: filters, sort order and cursor pagination.
//!
//! A cursor is the sort key of the last item of a page (opaque to clients, base64url), and
//! the next page starts strictly after it, so pages stay stable when items are added: a
//! new item lands on the first page instead of shifting everything by one.

use std::sync::Arc;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use fitpulse_actors::domain::ContentKind;
use serde::Deserialize;

use super::catalog::Entry;
use super::items::Body;
use super::search;
use super::vocabulary::{BodyFocus, Diet, Equipment, Level};

pub const DEFAULT_LIMIT: usize = 20;
pub const MAX_LIMIT: usize = 100;

/// The query string of a list route, as sent.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ListQuery {
    pub tag: Option<String>,
    pub max_minutes: Option<u32>,
    pub equipment: Option<String>,
    pub diet: Option<String>,
    pub body_focus: Option<String>,
    pub level: Option<String>,
    pub q: Option<String>,
    pub sort: Option<String>,
    pub cursor: Option<String>,
    pub limit: Option<usize>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Sort {
    /// Newest first, then by id.
    Newest,
    /// Most liked first, then by id.
    Popular,
}

/// Where a page ends, in the order of its sort.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Key {
    rank: i64,
    id: String,
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("`{param}`: {reason}")]
pub struct QueryError {
    pub param: &'static str,
    pub reason: String,
}

fn invalid(param: &'static str, reason: impl Into<String>) -> QueryError {
    QueryError {
        param,
        reason: reason.into(),
    }
}

/// A validated list query for one kind.
#[derive(Debug)]
pub struct Filter {
    kind: ContentKind,
    tag: Option<String>,
    max_minutes: Option<u32>,
    equipment: Option<Equipment>,
    diet: Option<Diet>,
    body_focus: Option<BodyFocus>,
    level: Option<Level>,
    words: Vec<String>,
    sort: Sort,
    after: Option<Key>,
    limit: usize,
}

/// One page of results.
pub struct Page {
    pub items: Vec<Arc<Entry>>,
    pub next_cursor: Option<String>,
}

fn vocab<T>(
    param: &'static str,
    raw: Option<String>,
    parse: fn(&str) -> Option<T>,
    names: fn() -> String,
    applies: bool,
    kinds: &str,
) -> Result<Option<T>, QueryError> {
    let Some(raw) = raw else { return Ok(None) };
    if !applies {
        return Err(invalid(param, format!("applies to {kinds} only")));
    }
    parse(&raw)
        .map(Some)
        .ok_or_else(|| invalid(param, format!("unknown value `{raw}`; one of: {}", names())))
}

impl Filter {
    pub fn parse(kind: ContentKind, query: ListQuery) -> Result<Filter, QueryError> {
        let recipe = kind == ContentKind::Recipe;
        let workout = kind == ContentKind::Workout;
        let equipment = vocab(
            "equipment",
            query.equipment,
            Equipment::parse,
            Equipment::names,
            workout,
            "workouts",
        )?;
        let body_focus = vocab(
            "body_focus",
            query.body_focus,
            BodyFocus::parse,
            BodyFocus::names,
            workout,
            "workouts",
        )?;
        let level = vocab(
            "level",
            query.level,
            Level::parse,
            Level::names,
            workout,
            "workouts",
        )?;
        let diet = vocab(
            "diet",
            query.diet,
            Diet::parse,
            Diet::names,
            recipe,
            "recipes",
        )?;
        if query.max_minutes.is_some() && !(recipe || workout) {
            return Err(invalid(
                "max_minutes",
                "applies to recipes and workouts only",
            ));
        }
        if query.max_minutes == Some(0) {
            return Err(invalid("max_minutes", "at least 1"));
        }
        let q = query.q.unwrap_or_default();
        if q.chars().count() > 100 {
            return Err(invalid("q", "at most 100 characters"));
        }
        let sort = match query.sort.as_deref() {
            None | Some("newest") => Sort::Newest,
            Some("popular") => Sort::Popular,
            Some(other) => {
                return Err(invalid(
                    "sort",
                    format!("unknown value `{other}`; one of: newest, popular"),
                ));
            }
        };
        let limit = query.limit.unwrap_or(DEFAULT_LIMIT);
        if !(1..=MAX_LIMIT).contains(&limit) {
            return Err(invalid("limit", format!("between 1 and {MAX_LIMIT}")));
        }
        let after = query.cursor.map(|c| decode_cursor(&c, sort)).transpose()?;
        Ok(Filter {
            kind,
            tag: query.tag.map(|t| t.to_lowercase()),
            max_minutes: query.max_minutes,
            equipment,
            diet,
            body_focus,
            level,
            words: search::words(&q),
            sort,
            after,
            limit,
        })
    }

    fn matches(&self, entry: &Entry) -> bool {
        let item = &entry.item;
        if entry.kind() != self.kind {
            return false;
        }
        if let Some(tag) = &self.tag
            && !item.meta.tags.iter().any(|t| t == tag)
        {
            return false;
        }
        if let (Some(max), Some(minutes)) = (self.max_minutes, item.body.minutes())
            && minutes > max
        {
            return false;
        }
        let body_ok = match &item.body {
            Body::Recipe(r) => self.diet.is_none_or(|d| r.diet.contains(&d)),
            Body::Workout(w) => {
                self.equipment.is_none_or(|e| w.equipment.contains(&e))
                    && self.body_focus.is_none_or(|b| w.body_focus.contains(&b))
                    && self.level.is_none_or(|l| w.level == l)
            }
            _ => true,
        };
        body_ok && search::matches(&entry.words, &self.words)
    }

    fn key(&self, entry: &Entry) -> Key {
        let rank = match self.sort {
            Sort::Newest => entry.item.created_at,
            Sort::Popular => i64::try_from(entry.likes()).unwrap_or(i64::MAX),
        };
        Key {
            rank,
            id: entry.item.id.clone(),
        }
    }

    /// Filters, sorts and cuts one page out of `entries`.
    pub fn page(&self, entries: Vec<Arc<Entry>>) -> Page {
        // Keys are taken once, so a like landing mid-sort cannot make the order inconsistent.
        let mut keyed: Vec<(Key, Arc<Entry>)> = entries
            .into_iter()
            .filter(|e| self.matches(e))
            .map(|e| (self.key(&e), e))
            .collect();
        // Higher rank first, then ids ascending.
        let order = |a: &Key, b: &Key| b.rank.cmp(&a.rank).then_with(|| a.id.cmp(&b.id));
        keyed.sort_by(|a, b| order(&a.0, &b.0));
        let start = self.after.as_ref().map_or(0, |after| {
            keyed.partition_point(|(k, _)| order(k, after) != std::cmp::Ordering::Greater)
        });
        let rest = &keyed[start..];
        let items: Vec<Arc<Entry>> = rest
            .iter()
            .take(self.limit)
            .map(|(_, e)| e.clone())
            .collect();
        let next_cursor =
            (rest.len() > self.limit).then(|| encode_cursor(self.sort, &rest[self.limit - 1].0));
        Page { items, next_cursor }
    }
}

fn encode_cursor(sort: Sort, key: &Key) -> String {
    let tag = match sort {
        Sort::Newest => 'n',
        Sort::Popular => 'p',
    };
    URL_SAFE_NO_PAD.encode(format!("{tag}.{}.{}", key.rank, key.id))
}

fn decode_cursor(raw: &str, sort: Sort) -> Result<Key, QueryError> {
    let bad = || {
        invalid(
            "cursor",
            "not a cursor from this list; start again without it",
        )
    };
    let bytes = URL_SAFE_NO_PAD.decode(raw).map_err(|_| bad())?;
    let text = String::from_utf8(bytes).map_err(|_| bad())?;
    let mut parts = text.splitn(3, '.');
    let (Some(tag), Some(rank), Some(id)) = (parts.next(), parts.next(), parts.next()) else {
        return Err(bad());
    };
    let expected = match sort {
        Sort::Newest => "n",
        Sort::Popular => "p",
    };
    if tag != expected {
        return Err(invalid(
            "cursor",
            "this cursor belongs to another sort order",
        ));
    }
    Ok(Key {
        rank: rank.parse().map_err(|_| bad())?,
        id: id.to_owned(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn filters_that_do_not_fit_the_kind_or_have_unknown_values_are_refused() {
        let workout_filter = ListQuery {
            equipment: Some("dumbbells".into()),
            ..ListQuery::default()
        };
        assert_eq!(
            Filter::parse(ContentKind::Recipe, workout_filter)
                .expect_err("recipes have no equipment")
                .param,
            "equipment"
        );
        let unknown = ListQuery {
            diet: Some("pizza".into()),
            ..ListQuery::default()
        };
        let err = Filter::parse(ContentKind::Recipe, unknown).expect_err("unknown diet");
        assert!(err.reason.contains("vegan"), "lists the accepted values");
        let limit = ListQuery {
            limit: Some(0),
            ..ListQuery::default()
        };
        assert!(Filter::parse(ContentKind::Post, limit).is_err());
    }

    #[test]
    fn a_cursor_round_trips_and_is_tied_to_its_sort() {
        let key = Key {
            rank: 1_700_000_000_000,
            id: "overnight-oats".into(),
        };
        let cursor = encode_cursor(Sort::Newest, &key);
        assert_eq!(decode_cursor(&cursor, Sort::Newest), Ok(key));
        assert_eq!(
            decode_cursor(&cursor, Sort::Popular)
                .expect_err("other sort")
                .param,
            "cursor"
        );
        assert!(decode_cursor("not-a-cursor!", Sort::Newest).is_err());
    }
}
