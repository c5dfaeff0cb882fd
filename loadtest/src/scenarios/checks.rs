//! What a correct answer is for every request of `rest` and `spike`: a 200 whose body parses
//! and matches what was asked (kind, id, filters, order, week). Only the checked fields are
//! deserialized; the rest is skipped, though still checked to be valid JSON.

use std::borrow::Cow;
use std::fmt::Write as _;

use fitpulse_actors::domain::ContentKind;
use serde::Deserialize;
use serde::de::IgnoredAny;

use super::open_loop::Verdict;
use crate::pool::Answer;

/// The server's page size when a list asks for none.
const DEFAULT_LIMIT: usize = 20;

/// A catalog list query: its filters build the path, and the same filters check every item
/// of the answer.
#[derive(Debug, Clone, PartialEq)]
pub struct Listing {
    pub kind: ContentKind,
    pub tag: Option<&'static str>,
    pub max_minutes: Option<u32>,
    pub diet: Option<&'static str>,
    pub equipment: Option<&'static str>,
    pub level: Option<&'static str>,
    /// One search word; every item's title must have a word starting with it.
    pub q: Option<&'static str>,
    pub popular: bool,
    pub limit: Option<usize>,
    /// From the first page's `next_cursor`.
    pub cursor: Option<String>,
}

impl Listing {
    pub fn of(kind: ContentKind) -> Listing {
        Listing {
            kind,
            tag: None,
            max_minutes: None,
            diet: None,
            equipment: None,
            level: None,
            q: None,
            popular: false,
            limit: None,
            cursor: None,
        }
    }

    /// `/v1/recipes?tag=breakfast&limit=10`.
    pub fn path(&self) -> String {
        let mut query = String::new();
        let mut add = |name: &str, value: &str| {
            let _ = write!(
                query,
                "{}{name}={}",
                if query.is_empty() { '?' } else { '&' },
                encode(value)
            );
        };
        let pairs = [
            ("tag", self.tag),
            ("diet", self.diet),
            ("equipment", self.equipment),
            ("level", self.level),
            ("q", self.q),
            ("sort", self.popular.then_some("popular")),
        ];
        for (name, value) in pairs {
            if let Some(value) = value {
                add(name, value);
            }
        }
        if let Some(max) = self.max_minutes {
            add("max_minutes", &max.to_string());
        }
        if let Some(limit) = self.limit {
            add("limit", &limit.to_string());
        }
        if let Some(cursor) = &self.cursor {
            add("cursor", cursor);
        }
        format!("/v1/{}s{query}", self.kind.as_str())
    }
}

/// Percent-encodes everything but RFC 3986's unreserved characters.
fn encode(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for byte in value.bytes() {
        if byte.is_ascii_alphanumeric() || b"-._~".contains(&byte) {
            out.push(char::from(byte));
        } else {
            let _ = write!(out, "%{byte:02X}");
        }
    }
    out
}

/// What the answer to one request must show.
#[derive(Debug, Clone, PartialEq)]
pub enum Expect {
    List(Listing),
    /// One item with its full body (its kind's premium part present).
    Item {
        kind: ContentKind,
        id: String,
    },
    /// `liked: true` and at least this like counted.
    Liked,
    /// The plan's week `n` with its 7 days.
    Week(usize),
    /// The plan entry `entry`, done or not as asked.
    Done {
        entry: String,
        done: bool,
    },
}

/// Why a 200 answer was not correct.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{0}")]
pub struct Wrong(pub String);

fn wrong(reason: impl Into<String>) -> Wrong {
    Wrong(reason.into())
}

#[derive(Deserialize)]
pub(crate) struct Page<'a> {
    #[serde(borrow)]
    pub items: Vec<Preview<'a>>,
    #[serde(borrow)]
    pub next_cursor: Option<Cow<'a, str>>,
}

#[derive(Deserialize)]
pub(crate) struct Preview<'a> {
    #[serde(borrow)]
    pub id: Cow<'a, str>,
    #[serde(borrow)]
    pub kind: Cow<'a, str>,
    #[serde(borrow)]
    title: Cow<'a, str>,
    pub premium: bool,
    #[serde(borrow)]
    published_at: Cow<'a, str>,
    #[serde(default)]
    tags: Vec<String>,
    minutes: Option<u32>,
    duration_minutes: Option<u32>,
    #[serde(default)]
    diet: Vec<String>,
    #[serde(default)]
    equipment: Vec<String>,
    #[serde(borrow)]
    level: Option<Cow<'a, str>>,
}

#[derive(Deserialize)]
struct One<'a> {
    #[serde(borrow)]
    id: Cow<'a, str>,
    #[serde(borrow)]
    kind: Cow<'a, str>,
    steps: Option<IgnoredAny>,
    video_ref: Option<IgnoredAny>,
    body: Option<IgnoredAny>,
    weeks: Option<IgnoredAny>,
}

#[derive(Deserialize)]
struct Like {
    liked: bool,
    likes: u64,
}

#[derive(Deserialize)]
struct DoneState<'a> {
    #[serde(borrow)]
    item_id: Cow<'a, str>,
    done: bool,
}

#[derive(Deserialize)]
struct Week {
    week: usize,
    days: Vec<IgnoredAny>,
}

fn parse<'a, T: Deserialize<'a>>(body: &'a [u8]) -> Result<T, Wrong> {
    serde_json::from_slice(body).map_err(|e| wrong(format!("unexpected body: {e}")))
}

/// What an answer counts as: `ok` when it is a 200 whose body shows what was asked.
pub fn judge(expect: &Expect, answer: &Answer) -> Verdict {
    if answer.status != 200 {
        return Verdict::status(answer);
    }
    match check(expect, &answer.body) {
        Ok(()) => Verdict::ok("ok"),
        Err(wrong) => Verdict::wrong_body(wrong),
    }
}

/// Checks a 200 answer's body against what was asked.
pub fn check(expect: &Expect, body: &[u8]) -> Result<(), Wrong> {
    match expect {
        Expect::List(listing) => check_list(listing, &parse(body)?),
        Expect::Item { kind, id } => check_one(*kind, id, &parse(body)?),
        Expect::Liked => {
            let like: Like = parse(body)?;
            if like.liked && like.likes >= 1 {
                Ok(())
            } else {
                Err(wrong(format!(
                    "liked {} with {} likes",
                    like.liked, like.likes
                )))
            }
        }
        Expect::Week(n) => {
            let week: Week = parse(body)?;
            if week.week != *n {
                return Err(wrong(format!("week {} instead of {n}", week.week)));
            }
            if week.days.len() != 7 {
                return Err(wrong(format!("{} days in week {n}", week.days.len())));
            }
            Ok(())
        }
        Expect::Done { entry, done } => {
            let state: DoneState = parse(body)?;
            if state.item_id != entry.as_str() || state.done != *done {
                return Err(wrong(format!(
                    "entry `{}` done {} instead of `{entry}` done {done}",
                    state.item_id, state.done
                )));
            }
            Ok(())
        }
    }
}

/// The lower-case words of a title, as the server's search splits them.
fn title_words(title: &str) -> impl Iterator<Item = String> + '_ {
    title
        .split(|c: char| !c.is_alphanumeric())
        .filter(|w| !w.is_empty())
        .map(str::to_lowercase)
}

pub(crate) fn check_list(listing: &Listing, page: &Page<'_>) -> Result<(), Wrong> {
    let limit = listing.limit.unwrap_or(DEFAULT_LIMIT);
    if page.items.len() > limit {
        return Err(wrong(format!("{} items, limit {limit}", page.items.len())));
    }
    let kind = listing.kind.as_str();
    for item in &page.items {
        let fail = |what: String| Err(wrong(format!("item `{}` {what}", item.id)));
        if item.kind != kind {
            return fail(format!("is a {} in a list of {kind}s", item.kind));
        }
        if let Some(tag) = listing.tag
            && !item.tags.iter().any(|t| t == tag)
        {
            return fail(format!("lacks tag `{tag}`"));
        }
        if let Some(max) = listing.max_minutes {
            match item.minutes.or(item.duration_minutes) {
                Some(minutes) if minutes <= max => {}
                minutes => return fail(format!("takes {minutes:?} minutes (max {max})")),
            }
        }
        if let Some(diet) = listing.diet
            && !item.diet.iter().any(|d| d == diet)
        {
            return fail(format!("is not `{diet}`"));
        }
        if let Some(equipment) = listing.equipment
            && !item.equipment.iter().any(|e| e == equipment)
        {
            return fail(format!("does not use `{equipment}`"));
        }
        if let Some(level) = listing.level
            && item.level.as_deref() != Some(level)
        {
            return fail(format!("is level {:?}, not `{level}`", item.level));
        }
        if let Some(q) = listing.q
            && !title_words(&item.title).any(|w| w.starts_with(q))
        {
            return fail(format!("has no title word starting with `{q}`"));
        }
    }
    // Newest first: publication times never increase down the page (likes move during a
    // run, so a popular page's order is not checked).
    if !listing.popular
        && let Some(pair) = page
            .items
            .windows(2)
            .find(|w| w[0].published_at < w[1].published_at)
    {
        return Err(wrong(format!(
            "`{}` listed before the newer `{}`",
            pair[0].id, pair[1].id
        )));
    }
    Ok(())
}

fn check_one(kind: ContentKind, id: &str, one: &One<'_>) -> Result<(), Wrong> {
    if one.kind != kind.as_str() || one.id != id {
        return Err(wrong(format!(
            "{} `{}` instead of {} `{id}`",
            one.kind,
            one.id,
            kind.as_str()
        )));
    }
    let (field, present) = match kind {
        ContentKind::Recipe => ("steps", one.steps.is_some()),
        ContentKind::Workout => ("video_ref", one.video_ref.is_some()),
        ContentKind::Plan => ("weeks", one.weeks.is_some()),
        ContentKind::Post => ("body", one.body.is_some()),
    };
    if present {
        Ok(())
    } else {
        Err(wrong(format!(
            "{} `{id}` without its `{field}`",
            kind.as_str()
        )))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn recipe(id: &str, minutes: u32, published: &str, tags: &str) -> String {
        format!(
            r#"{{"likes":0,"id":"{id}","kind":"recipe","title":"Overnight oats {id}","premium":false,
            "published_at":"{published}","tags":[{tags}],"minutes":{minutes},"diet":["vegan"],
            "ingredients":[{{"name":"oats","quantity":80.0}}]}}"#
        )
    }

    fn page(items: &[String]) -> Vec<u8> {
        format!(r#"{{"items":[{}],"next_cursor":null}}"#, items.join(",")).into_bytes()
    }

    #[test]
    fn a_list_path_carries_every_filter_encoded() {
        let listing = Listing {
            tag: Some("breakfast"),
            max_minutes: Some(10),
            q: Some("oat bowl"),
            popular: true,
            limit: Some(5),
            cursor: Some("bi4x".into()),
            ..Listing::of(ContentKind::Recipe)
        };
        assert_eq!(
            listing.path(),
            "/v1/recipes?tag=breakfast&q=oat%20bowl&sort=popular&max_minutes=10&limit=5&cursor=bi4x"
        );
        assert_eq!(Listing::of(ContentKind::Post).path(), "/v1/posts");
    }

    #[test]
    fn a_list_that_keeps_its_filters_and_newest_order_is_correct() {
        let listing = Listing {
            tag: Some("breakfast"),
            max_minutes: Some(10),
            diet: Some("vegan"),
            q: Some("oat"),
            ..Listing::of(ContentKind::Recipe)
        };
        let body = page(&[
            recipe("a", 5, "2026-01-02T00:00:00Z", r#""breakfast""#),
            recipe("b", 10, "2026-01-01T00:00:00Z", r#""breakfast","x""#),
        ]);
        assert_eq!(check(&Expect::List(listing), &body), Ok(()));
    }

    #[test]
    fn a_list_item_outside_the_filter_or_out_of_order_is_wrong() {
        let slow = Listing {
            max_minutes: Some(10),
            ..Listing::of(ContentKind::Recipe)
        };
        let body = page(&[recipe("a", 25, "2026-01-01T00:00:00Z", "")]);
        let err = check(&Expect::List(slow), &body).expect_err("too slow");
        assert!(err.0.contains("25"), "{err}");

        let tagged = Listing {
            tag: Some("dinner"),
            ..Listing::of(ContentKind::Recipe)
        };
        let body = page(&[recipe("a", 5, "2026-01-01T00:00:00Z", r#""breakfast""#)]);
        assert!(check(&Expect::List(tagged), &body).is_err());

        let body = page(&[
            recipe("old", 5, "2026-01-01T00:00:00Z", ""),
            recipe("new", 5, "2026-01-02T00:00:00Z", ""),
        ]);
        let newest = Listing::of(ContentKind::Recipe);
        assert!(check(&Expect::List(newest), &body).is_err());

        let workouts = Listing::of(ContentKind::Workout);
        let body = page(&[recipe("a", 5, "2026-01-01T00:00:00Z", "")]);
        assert!(check(&Expect::List(workouts), &body).is_err());

        assert!(check(&Expect::List(Listing::of(ContentKind::Recipe)), b"{}").is_err());
        assert!(check(&Expect::List(Listing::of(ContentKind::Recipe)), b"<html>").is_err());
    }

    #[test]
    fn one_item_must_be_the_one_asked_for_with_its_full_body() {
        let expect = Expect::Item {
            kind: ContentKind::Workout,
            id: "hiit".into(),
        };
        let full = br#"{"likes":3,"id":"hiit","kind":"workout","video_ref":"videos/hiit.m3u8"}"#;
        assert_eq!(check(&expect, full), Ok(()));
        let preview = br#"{"likes":3,"id":"hiit","kind":"workout"}"#;
        assert!(check(&expect, preview).is_err());
        let other = br#"{"likes":3,"id":"yoga","kind":"workout","video_ref":"v"}"#;
        assert!(check(&expect, other).is_err());
    }

    #[test]
    fn a_like_must_be_liked_and_a_week_must_be_the_one_asked_for_with_seven_days() {
        assert_eq!(
            check(
                &Expect::Liked,
                br#"{"liked":true,"changed":false,"likes":4}"#
            ),
            Ok(())
        );
        assert!(
            check(
                &Expect::Liked,
                br#"{"liked":false,"changed":true,"likes":0}"#
            )
            .is_err()
        );
        let week = br#"{"week":2,"weeks":2,"days":[{},{},{},{},{},{},{}]}"#;
        assert_eq!(check(&Expect::Week(2), week), Ok(()));
        assert!(check(&Expect::Week(1), week).is_err());
        let short = br#"{"week":1,"days":[{},{}]}"#;
        assert!(check(&Expect::Week(1), short).is_err());
    }

    #[test]
    fn a_plan_edit_must_answer_the_entry_asked_for_in_the_state_asked_for() {
        let done = |entry: &str, done| Expect::Done {
            entry: entry.into(),
            done,
        };
        let body = br#"{"item_id":"w1d3-lunch","done":true}"#;
        assert_eq!(check(&done("w1d3-lunch", true), body), Ok(()));
        assert!(check(&done("w1d3-lunch", false), body).is_err());
        assert!(check(&done("w1d4-lunch", true), body).is_err());
        assert!(check(&done("w1d3-lunch", true), b"{}").is_err());
    }
}
