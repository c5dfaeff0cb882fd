//! Catalog items: what each kind holds, how an editor's JSON becomes a validated item, and
//! which fields are the premium part of its body.
//!
//! Editors send flat JSON (`{"title": ..., "minutes": ..., "steps": [...]}`): the fields
//! every kind shares are taken out first, the rest must be exactly the kind's own fields,
//! so a misspelt field is an error instead of silently dropped data.

use fitpulse_actors::domain::{ContentKind, UnixMillis, UserId};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use super::vocabulary::{Aisle, BodyFocus, Diet, Equipment, Level, MealSlot, Unit};

/// Limits that keep one item's document small.
const MAX_TITLE: usize = 120;
const MAX_TEXT: usize = 20_000;
const MAX_LIST: usize = 100;

/// Fields every kind has.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Meta {
    pub title: String,
    #[serde(default)]
    pub summary: String,
    #[serde(default)]
    pub premium: bool,
    #[serde(default)]
    pub tags: Vec<String>,
    #[serde(default)]
    pub image_url: Option<String>,
    /// The member who wrote a post (absent for staff content); likes notify them.
    #[serde(default)]
    #[schemars(with = "Option<uuid::Uuid>")]
    pub author_id: Option<UserId>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Ingredient {
    pub name: String,
    pub quantity: f64,
    pub unit: Unit,
    #[serde(default = "Aisle::other")]
    pub aisle: Aisle,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Recipe {
    pub minutes: u32,
    pub kcal: u32,
    pub protein_g: f64,
    #[serde(default = "one")]
    pub servings: u32,
    #[serde(default)]
    pub diet: Vec<Diet>,
    pub ingredients: Vec<Ingredient>,
    /// Premium part.
    pub steps: Vec<String>,
}

fn one() -> u32 {
    1
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Block {
    pub name: String,
    pub seconds: u32,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Workout {
    pub duration_minutes: u32,
    pub kcal_min: u32,
    pub kcal_max: u32,
    pub equipment: Vec<Equipment>,
    pub body_focus: Vec<BodyFocus>,
    pub level: Level,
    /// Premium part: the video and the block-by-block script.
    pub video_ref: String,
    #[serde(default)]
    pub blocks: Vec<Block>,
}

/// One thing to do on a plan day: a workout, or a meal in a slot.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(rename = "PlanTemplateEntry")]
pub struct PlanEntry {
    pub slot: MealSlot,
    /// A workout id when `slot` is `workout`, else a recipe id.
    #[serde(rename = "ref")]
    pub item_id: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(rename = "PlanTemplateDay")]
pub struct PlanDay {
    pub entries: Vec<PlanEntry>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(rename = "PlanTemplateWeek")]
pub struct PlanWeek {
    pub days: Vec<PlanDay>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct PlanTemplate {
    #[serde(default)]
    pub goal: String,
    /// Premium part.
    pub weeks: Vec<PlanWeek>,
}

impl PlanTemplate {
    /// The stable id of an entry within the template: `w1d3-lunch`, `w2d1-workout`, and
    /// `-2`, `-3` for a repeated slot on one day.
    pub fn entry_id(week: usize, day: usize, entries: &[PlanEntry], index: usize) -> String {
        let slot = entries[index].slot;
        let repeat = entries[..index].iter().filter(|e| e.slot == slot).count();
        let base = format!("w{}d{}-{}", week + 1, day + 1, slot.as_str());
        if repeat == 0 {
            base
        } else {
            format!("{base}-{}", repeat + 1)
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Post {
    /// Premium part for premium posts.
    pub body: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(tag = "kind", rename_all = "lowercase")]
pub enum Body {
    Recipe(Recipe),
    Workout(Workout),
    Plan(PlanTemplate),
    Post(Post),
}

impl Body {
    pub fn kind(&self) -> ContentKind {
        match self {
            Body::Recipe(_) => ContentKind::Recipe,
            Body::Workout(_) => ContentKind::Workout,
            Body::Plan(_) => ContentKind::Plan,
            Body::Post(_) => ContentKind::Post,
        }
    }

    /// Minutes it takes, for the `max_minutes` filter.
    pub fn minutes(&self) -> Option<u32> {
        match self {
            Body::Recipe(r) => Some(r.minutes),
            Body::Workout(w) => Some(w.duration_minutes),
            _ => None,
        }
    }
}

/// A catalog item as stored and held in the read model (and as editors see it).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[schemars(rename = "StoredItem")]
pub struct Item {
    pub id: String,
    pub meta: Meta,
    pub body: Body,
    pub published: bool,
    pub created_at: UnixMillis,
    pub updated_at: UnixMillis,
}

/// Why an editor's document was refused.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ItemError {
    #[error("{0}")]
    Shape(String),
    #[error("`{field}`: {reason}")]
    Field { field: String, reason: String },
}

fn field(field: &str, reason: impl Into<String>) -> ItemError {
    ItemError::Field {
        field: field.to_owned(),
        reason: reason.into(),
    }
}

/// The fields of [`Meta`]; anything else belongs to the kind.
const META_FIELDS: [&str; 6] = [
    "title",
    "summary",
    "premium",
    "tags",
    "image_url",
    "author_id",
];

/// Parses and validates an editor's flat document for an item of `kind`.
pub fn parse_document(kind: ContentKind, doc: Value) -> Result<(Meta, Body), ItemError> {
    let Value::Object(mut fields) = doc else {
        return Err(ItemError::Shape("the body must be a JSON object".into()));
    };
    let meta_fields: Map<String, Value> = META_FIELDS
        .iter()
        .filter_map(|name| fields.remove(*name).map(|v| ((*name).to_owned(), v)))
        .collect();
    let shape = |e: serde_json::Error| ItemError::Shape(e.to_string());
    let meta: Meta = serde_json::from_value(Value::Object(meta_fields)).map_err(shape)?;
    let rest = Value::Object(fields);
    let body = match kind {
        ContentKind::Recipe => Body::Recipe(serde_json::from_value(rest).map_err(shape)?),
        ContentKind::Workout => Body::Workout(serde_json::from_value(rest).map_err(shape)?),
        ContentKind::Plan => Body::Plan(serde_json::from_value(rest).map_err(shape)?),
        ContentKind::Post => Body::Post(serde_json::from_value(rest).map_err(shape)?),
    };
    validate_meta(&meta)?;
    validate_body(&body)?;
    Ok((meta, body))
}

fn text(name: &str, value: &str, max: usize, required: bool) -> Result<(), ItemError> {
    if required && value.trim().is_empty() {
        return Err(field(name, "must not be empty"));
    }
    if value.chars().count() > max {
        return Err(field(name, format!("at most {max} characters")));
    }
    Ok(())
}

fn list<T>(name: &str, items: &[T]) -> Result<(), ItemError> {
    if items.len() > MAX_LIST {
        return Err(field(name, format!("at most {MAX_LIST} entries")));
    }
    Ok(())
}

fn validate_meta(meta: &Meta) -> Result<(), ItemError> {
    text("title", &meta.title, MAX_TITLE, true)?;
    text("summary", &meta.summary, 1_000, false)?;
    list("tags", &meta.tags)?;
    let tag_ok = |t: &String| {
        !t.is_empty()
            && t.len() <= 40
            && t.chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
    };
    if !meta.tags.iter().all(tag_ok) {
        return Err(field("tags", "tags are 1-40 characters of a-z, 0-9 and -"));
    }
    if let Some(url) = &meta.image_url
        && (!(url.starts_with("https://") || url.starts_with('/')) || url.len() > 500)
    {
        return Err(field("image_url", "an https:// URL or a path, at most 500"));
    }
    Ok(())
}

fn validate_body(body: &Body) -> Result<(), ItemError> {
    match body {
        Body::Recipe(r) => {
            if r.minutes == 0 || r.minutes > 24 * 60 {
                return Err(field("minutes", "between 1 and 1440"));
            }
            if !(0.0..=500.0).contains(&r.protein_g) || r.kcal > 10_000 {
                return Err(field("protein_g", "0-500 g; kcal at most 10000"));
            }
            if r.servings == 0 || r.servings > 50 {
                return Err(field("servings", "between 1 and 50"));
            }
            list("ingredients", &r.ingredients)?;
            list("steps", &r.steps)?;
            for ingredient in &r.ingredients {
                text("ingredients.name", &ingredient.name, 80, true)?;
                let q = ingredient.quantity;
                if !q.is_finite() || q <= 0.0 || q > 100_000.0 {
                    return Err(field("ingredients.quantity", "a positive amount"));
                }
            }
            for step in &r.steps {
                text("steps", step, 2_000, true)?;
            }
        }
        Body::Workout(w) => {
            if w.duration_minutes == 0 || w.duration_minutes > 600 {
                return Err(field("duration_minutes", "between 1 and 600"));
            }
            if w.kcal_min > w.kcal_max || w.kcal_max > 5_000 {
                return Err(field("kcal_min", "kcal_min <= kcal_max <= 5000"));
            }
            text("video_ref", &w.video_ref, 500, true)?;
            list("blocks", &w.blocks)?;
            list("equipment", &w.equipment)?;
        }
        Body::Plan(p) => {
            if p.weeks.is_empty() || p.weeks.len() > 52 {
                return Err(field("weeks", "between 1 and 52 weeks"));
            }
            for week in &p.weeks {
                if week.days.is_empty() || week.days.len() > 7 {
                    return Err(field("weeks.days", "between 1 and 7 days a week"));
                }
                for day in &week.days {
                    if day.entries.len() > 12 {
                        return Err(field("weeks.days.entries", "at most 12 a day"));
                    }
                }
            }
            text("goal", &p.goal, 1_000, false)?;
        }
        Body::Post(p) => text("body", &p.body, MAX_TEXT, true)?,
    }
    Ok(())
}

/// A readable, URL-safe id from a title (`"Overnight Oats!"` -> `overnight-oats`).
pub fn slug(title: &str) -> String {
    let mut out = String::new();
    for c in title.chars().flat_map(char::to_lowercase) {
        if c.is_ascii_alphanumeric() {
            out.push(c);
        } else if !out.ends_with('-') && !out.is_empty() {
            out.push('-');
        }
    }
    let trimmed: String = out.trim_end_matches('-').chars().take(48).collect();
    if trimmed.is_empty() {
        "item".into()
    } else {
        trimmed.trim_end_matches('-').to_owned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn recipe() -> Value {
        json!({
            "title": "Overnight oats", "premium": true, "tags": ["breakfast"],
            "minutes": 5, "kcal": 420, "protein_g": 18.0, "diet": ["vegetarian"],
            "ingredients": [{"name": "oats", "quantity": 80, "unit": "g", "aisle": "pantry"}],
            "steps": ["Mix", "Wait"]
        })
    }

    #[test]
    fn a_flat_recipe_document_parses_into_meta_and_body() {
        let (meta, body) = parse_document(ContentKind::Recipe, recipe()).expect("valid");
        assert!(meta.premium);
        let Body::Recipe(r) = body else {
            panic!("a recipe")
        };
        assert_eq!(r.ingredients[0].unit, Unit::G);
        assert_eq!(r.steps.len(), 2);
    }

    #[test]
    fn unknown_fields_wrong_kinds_and_bad_values_are_refused() {
        let mut typo = recipe();
        typo["stpes"] = json!([]);
        assert!(matches!(
            parse_document(ContentKind::Recipe, typo),
            Err(ItemError::Shape(m)) if m.contains("stpes")
        ));
        assert!(parse_document(ContentKind::Workout, recipe()).is_err());
        let mut negative = recipe();
        negative["ingredients"][0]["quantity"] = json!(-1);
        assert!(matches!(
            parse_document(ContentKind::Recipe, negative),
            Err(ItemError::Field { field, .. }) if field == "ingredients.quantity"
        ));
        let mut unit = recipe();
        unit["ingredients"][0]["unit"] = json!("bushel");
        assert!(parse_document(ContentKind::Recipe, unit).is_err());
        let mut empty = recipe();
        empty["title"] = json!("  ");
        assert!(parse_document(ContentKind::Recipe, empty).is_err());
    }

    #[test]
    fn plan_entry_ids_name_week_day_and_slot() {
        let entries = vec![
            PlanEntry {
                slot: MealSlot::Workout,
                item_id: "a".into(),
            },
            PlanEntry {
                slot: MealSlot::Snack,
                item_id: "b".into(),
            },
            PlanEntry {
                slot: MealSlot::Snack,
                item_id: "c".into(),
            },
        ];
        assert_eq!(PlanTemplate::entry_id(0, 2, &entries, 0), "w1d3-workout");
        assert_eq!(PlanTemplate::entry_id(0, 2, &entries, 1), "w1d3-snack");
        assert_eq!(PlanTemplate::entry_id(0, 2, &entries, 2), "w1d3-snack-2");
    }

    #[test]
    fn slugs_are_lower_case_words_joined_by_dashes() {
        assert_eq!(slug("Overnight Oats!"), "overnight-oats");
        assert_eq!(
            slug("  Lose weight - 2 week plan "),
            "lose-weight-2-week-plan"
        );
        assert_eq!(slug("!!!"), "item");
    }
}
