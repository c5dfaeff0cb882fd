//! What the catalog answers, as types: an item's preview (shared fields and its kind's
//! public fields) and the whole item (with its premium part), each with its like count.
//! The catalog renders these once per item and splices the live count in front.

use schemars::JsonSchema;
use serde::Serialize;

use super::items::{Block, Body, Ingredient, Item, Meta, PlanTemplate, Post, Recipe, Workout};
use super::vocabulary::{BodyFocus, Diet, Equipment, Level, MealSlot};
use fitpulse_actors::domain::time::rfc3339;

/// An answer with the item's current like count in front.
#[derive(Serialize, JsonSchema)]
#[schemars(rename = "Liked{T}")]
pub struct Liked<T> {
    pub likes: u64,
    #[serde(flatten)]
    pub item: T,
}

/// A catalog item as lists show it.
#[derive(Serialize, JsonSchema)]
pub struct ItemPreview {
    pub id: String,
    /// `recipe`, `workout`, `plan` or `post`.
    pub kind: &'static str,
    pub title: String,
    pub summary: String,
    pub premium: bool,
    pub tags: Vec<String>,
    pub image_url: Option<String>,
    pub published_at: String,
    pub updated_at: String,
    /// The member who wrote a post; absent for staff content.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub author_id: Option<String>,
    #[serde(flatten)]
    pub details: PreviewDetails,
}

/// The public fields of each kind.
#[derive(Serialize, JsonSchema)]
#[serde(untagged)]
pub enum PreviewDetails {
    Recipe {
        minutes: u32,
        kcal: u32,
        protein_g: f64,
        servings: u32,
        diet: Vec<Diet>,
        ingredients: Vec<Ingredient>,
    },
    Workout {
        duration_minutes: u32,
        kcal_min: u32,
        kcal_max: u32,
        equipment: Vec<Equipment>,
        body_focus: Vec<BodyFocus>,
        level: Level,
    },
    Plan {
        goal: String,
        duration_weeks: usize,
    },
    Post {
        /// The first 200 characters of the body.
        excerpt: String,
    },
}

/// A whole catalog item: the preview and its premium part.
#[derive(Serialize, JsonSchema)]
pub struct ItemView {
    #[serde(flatten)]
    pub preview: ItemPreview,
    #[serde(flatten)]
    pub premium_part: PremiumPart,
}

/// What only entitled members see of each kind.
#[derive(Serialize, JsonSchema)]
#[serde(untagged)]
pub enum PremiumPart {
    Recipe {
        steps: Vec<String>,
    },
    Workout {
        video_ref: String,
        blocks: Vec<Block>,
    },
    Plan {
        weeks: Vec<TemplateWeek>,
    },
    Post {
        body: String,
    },
}

/// A week of a plan template.
#[derive(Serialize, JsonSchema)]
pub struct TemplateWeek {
    /// From 1.
    pub week: usize,
    pub days: Vec<TemplateDay>,
}

#[derive(Serialize, JsonSchema)]
pub struct TemplateDay {
    /// From 1.
    pub day: usize,
    pub entries: Vec<TemplateEntry>,
}

#[derive(Serialize, JsonSchema)]
pub struct TemplateEntry {
    /// Stable within the template: `w1d3-lunch`.
    pub id: String,
    pub slot: MealSlot,
    /// The workout or recipe id.
    #[serde(rename = "ref")]
    pub item_id: String,
}

impl ItemPreview {
    pub fn of(item: &Item) -> ItemPreview {
        let meta = &item.meta;
        let details = match &item.body {
            Body::Recipe(r) => PreviewDetails::Recipe {
                minutes: r.minutes,
                kcal: r.kcal,
                protein_g: r.protein_g,
                servings: r.servings,
                diet: r.diet.clone(),
                ingredients: r.ingredients.clone(),
            },
            Body::Workout(w) => PreviewDetails::Workout {
                duration_minutes: w.duration_minutes,
                kcal_min: w.kcal_min,
                kcal_max: w.kcal_max,
                equipment: w.equipment.clone(),
                body_focus: w.body_focus.clone(),
                level: w.level,
            },
            Body::Plan(p) => PreviewDetails::Plan {
                goal: p.goal.clone(),
                duration_weeks: p.weeks.len(),
            },
            Body::Post(p) => PreviewDetails::Post {
                excerpt: p.body.chars().take(200).collect(),
            },
        };
        ItemPreview {
            id: item.id.clone(),
            kind: item.body.kind().as_str(),
            title: meta.title.clone(),
            summary: meta.summary.clone(),
            premium: meta.premium,
            tags: meta.tags.clone(),
            image_url: meta.image_url.clone(),
            published_at: rfc3339(item.created_at),
            updated_at: rfc3339(item.updated_at),
            author_id: meta.author_id.map(|a| a.to_string()),
            details,
        }
    }
}

impl PremiumPart {
    pub fn of(body: &Body) -> PremiumPart {
        match body {
            Body::Recipe(r) => PremiumPart::Recipe {
                steps: r.steps.clone(),
            },
            Body::Workout(w) => PremiumPart::Workout {
                video_ref: w.video_ref.clone(),
                blocks: w.blocks.clone(),
            },
            Body::Plan(p) => PremiumPart::Plan {
                weeks: template_weeks(p),
            },
            Body::Post(p) => PremiumPart::Post {
                body: p.body.clone(),
            },
        }
    }
}

fn template_weeks(plan: &PlanTemplate) -> Vec<TemplateWeek> {
    plan.weeks
        .iter()
        .enumerate()
        .map(|(w, week)| TemplateWeek {
            week: w + 1,
            days: week
                .days
                .iter()
                .enumerate()
                .map(|(d, day)| TemplateDay {
                    day: d + 1,
                    entries: day
                        .entries
                        .iter()
                        .enumerate()
                        .map(|(i, entry)| TemplateEntry {
                            id: PlanTemplate::entry_id(w, d, &day.entries, i),
                            slot: entry.slot,
                            item_id: entry.item_id.clone(),
                        })
                        .collect(),
                })
                .collect(),
        })
        .collect()
}

/// A liked or saved item that is no longer published.
#[derive(Serialize, JsonSchema)]
pub struct UnavailableItem {
    pub kind: &'static str,
    pub id: String,
    /// Always false.
    pub available: bool,
}

/// What a like or a save shows of its item: the preview (with its like count) while it is
/// published.
#[derive(Serialize, JsonSchema)]
#[serde(untagged)]
pub enum MarkedItem {
    Available(Box<Liked<ItemPreview>>),
    Unavailable(UnavailableItem),
}

/// An editor's flat document (`content::items::parse_document`): the fields every kind
/// shares, then exactly the fields of the item's kind (named by the path); `id` optional
/// on create.
#[derive(JsonSchema)]
#[allow(dead_code)] // Only its schema is used: the document is read field by field.
pub struct EditorDocument {
    id: Option<String>,
    #[serde(flatten)]
    meta: Meta,
    #[serde(flatten)]
    fields: KindFields,
}

#[derive(JsonSchema)]
#[serde(untagged)]
#[allow(dead_code)]
enum KindFields {
    Recipe(Recipe),
    Workout(Workout),
    Plan(PlanTemplate),
    Post(Post),
}
