//! What a member's plan answers, as types: a week of their plan with each entry's item
//! and done state, and a week's shopping list grouped by aisle.

use schemars::JsonSchema;
use serde::Serialize;

use super::plan::Extra;
use super::vocabulary::MealSlot;

/// Week `week` of the member's plan (`GET /v1/me/plan`).
#[derive(Debug, Serialize, JsonSchema)]
pub struct PlanWeekView {
    pub template: TemplateRef,
    /// `YYYY-MM-DD`, the first day of week 1.
    pub start_date: String,
    /// How many weeks the plan has.
    pub weeks: usize,
    /// The week shown, from 1.
    pub week: usize,
    /// The week the member is in today (in their time zone).
    pub current_week: usize,
    pub days: Vec<PlanDayView>,
    pub progress: Progress,
}

#[derive(Debug, Serialize, JsonSchema)]
pub struct TemplateRef {
    pub id: String,
    pub title: String,
}

#[derive(Debug, Serialize, JsonSchema)]
pub struct PlanDayView {
    /// From 1.
    pub day: usize,
    /// `YYYY-MM-DD`.
    pub date: String,
    pub entries: Vec<PlanEntryView>,
}

#[derive(Debug, Serialize, JsonSchema)]
pub struct PlanEntryView {
    /// Stable within the template: `w1d3-lunch`.
    pub id: String,
    pub slot: MealSlot,
    pub done: bool,
    /// The member swapped the template's recipe for another.
    pub swapped: bool,
    pub item: ItemSummary,
}

/// What a plan day shows of an item.
#[derive(Debug, Serialize, JsonSchema)]
#[serde(untagged)]
pub enum ItemSummary {
    Available {
        id: String,
        /// `recipe` or `workout`.
        kind: &'static str,
        title: String,
        premium: bool,
        image_url: Option<String>,
        /// Always true.
        available: bool,
        #[serde(flatten)]
        figures: SummaryFigures,
    },
    /// No longer in the catalog.
    Unavailable {
        id: String,
        kind: &'static str,
        /// Always false.
        available: bool,
    },
}

/// The figures a plan day shows of each kind.
#[derive(Debug, Serialize, JsonSchema)]
#[serde(untagged)]
pub enum SummaryFigures {
    Recipe {
        minutes: u32,
        kcal: u32,
    },
    Workout {
        duration_minutes: u32,
        kcal_max: u32,
    },
    None {},
}

#[derive(Debug, Serialize, JsonSchema)]
pub struct Progress {
    pub done: usize,
    pub total: usize,
}

/// A week's shopping list (`GET /v1/me/shopping-list`).
#[derive(Debug, Serialize, JsonSchema)]
pub struct ShoppingListView {
    pub week: usize,
    /// `metric` or `imperial`: the member's units.
    pub units: &'static str,
    pub aisles: Vec<AisleView>,
    /// What the member added by hand.
    pub extras: Vec<Extra>,
}

#[derive(Debug, Serialize, JsonSchema)]
pub struct AisleView {
    pub aisle: &'static str,
    pub items: Vec<ShoppingLine>,
}

#[derive(Debug, Serialize, JsonSchema)]
pub struct ShoppingLine {
    /// Stable across renders: the ingredient's slug and dimension (`oats~mass`).
    pub id: String,
    pub name: String,
    pub quantity: f64,
    pub unit: &'static str,
    pub checked: bool,
}
