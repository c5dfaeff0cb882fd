//! A user's plan: the template they follow from a start date, what they ticked off, meals
//! they swapped, and their shopping-list state. Stored as one JSON document that the
//! user's session holds; every change is a [`PlanOp`] applied by [`apply`] inside that
//! session, one at a time.

use super::events::{PlanUpdated, ShoppingListUpdated};
use fitpulse_actors::events::EventKind;
use fitpulse_actors::events::data::EventData;
use std::collections::{BTreeMap, BTreeSet};

use chrono::NaiveDate;
use fitpulse_actors::domain::{ItemRef, UnixMillis, now_millis};
use fitpulse_actors::session::PlanChange;
use serde::{Deserialize, Serialize};

use super::catalog::Catalog;
use super::items::{Body, PlanEntry, PlanTemplate};
use super::plan_views::{
    ItemSummary, PlanDayView, PlanEntryView, PlanWeekView, Progress, SummaryFigures, TemplateRef,
};
use super::vocabulary::{MealSlot, Unit};

/// At most this many extra shopping items per user.
pub const MAX_EXTRAS: usize = 100;

/// The stored document.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct UserPlan {
    pub template_id: String,
    /// `YYYY-MM-DD`, the first day of week 1.
    pub start_date: String,
    #[serde(default)]
    pub done: BTreeSet<String>,
    /// Meal entry id -> the recipe eaten instead.
    #[serde(default)]
    pub swaps: BTreeMap<String, String>,
    /// Checked shopping lines, as `w{week}:{line id}`.
    #[serde(default)]
    pub checked: BTreeSet<String>,
    #[serde(default)]
    pub extras: Vec<Extra>,
    #[serde(default)]
    pub next_extra: u32,
    pub chosen_at: UnixMillis,
}

/// An item the user added to their shopping list by hand.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct Extra {
    pub id: String,
    pub name: String,
    pub quantity: f64,
    pub unit: Unit,
    pub checked: bool,
}

/// A change to a user's plan.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub enum PlanOp {
    Choose {
        template_id: String,
        start_date: NaiveDate,
    },
    Done {
        entry_id: String,
        done: bool,
    },
    /// `recipe_id: None` goes back to the template's meal.
    Swap {
        entry_id: String,
        recipe_id: Option<String>,
    },
    Check {
        week: usize,
        line_id: String,
        checked: bool,
    },
    AddExtra {
        name: String,
        quantity: f64,
        unit: Unit,
    },
    RemoveExtra {
        id: String,
    },
    CheckExtra {
        id: String,
        checked: bool,
    },
}

#[derive(Debug, Clone, PartialEq, thiserror::Error, serde::Serialize, serde::Deserialize)]
pub enum PlanError {
    #[error("you do not follow a plan; choose one with PUT /v1/me/plan")]
    NoPlan,
    #[error("no plan template `{0}`")]
    UnknownTemplate(String),
    #[error("no recipe `{0}`")]
    UnknownRecipe(String),
    #[error("no item `{0}` in your plan")]
    UnknownEntry(String),
    #[error("no shopping-list item `{0}`")]
    UnknownLine(String),
    #[error("only meals can be swapped")]
    NotAMeal,
    #[error("this needs the premium entitlement")]
    PremiumRequired,
    #[error("week {week} is outside the plan's {weeks} weeks")]
    WeekOutOfRange { week: usize, weeks: usize },
    #[error("at most {MAX_EXTRAS} extra items")]
    TooManyExtras,
    #[error("the stored plan cannot be read")]
    Corrupt,
}

/// Reads a stored document (`None` when the user has no plan).
pub fn parse(doc: Option<&str>) -> Result<Option<UserPlan>, PlanError> {
    doc.map(|d| serde_json::from_str(d).map_err(|_| PlanError::Corrupt))
        .transpose()
}

/// The template the plan follows, as it is in the catalog now.
pub fn template(catalog: &Catalog, id: &str) -> Result<PlanTemplate, PlanError> {
    let unknown = || PlanError::UnknownTemplate(id.to_owned());
    let item = ItemRef::parse("plan", id).map_err(|_| unknown())?;
    match catalog.get(&item).map(|e| e.item.body.clone()) {
        Some(Body::Plan(template)) => Ok(template),
        _ => Err(unknown()),
    }
}

/// Finds an entry by id: its week and day (0-based) and the entry.
fn find_entry<'a>(
    template: &'a PlanTemplate,
    entry_id: &str,
) -> Option<(usize, usize, &'a PlanEntry)> {
    template.weeks.iter().enumerate().find_map(|(w, week)| {
        week.days.iter().enumerate().find_map(|(d, day)| {
            (0..day.entries.len())
                .find(|&i| PlanTemplate::entry_id(w, d, &day.entries, i) == entry_id)
                .map(|i| (w, d, &day.entries[i]))
        })
    })
}

/// Applies `op` to the stored document for a caller who may (`premium`) or may not use
/// premium content, producing the new document and the event that tells the devices.
pub fn apply(
    op: PlanOp,
    current: Option<&str>,
    catalog: &Catalog,
    premium: bool,
) -> Result<PlanChange, PlanError> {
    let current = parse(current)?;
    let (plan, (kind, data)) = match op {
        PlanOp::Choose {
            template_id,
            start_date,
        } => {
            let item = ItemRef::parse("plan", &template_id)
                .map_err(|_| PlanError::UnknownTemplate(template_id.clone()))?;
            let entry = catalog
                .get(&item)
                .ok_or_else(|| PlanError::UnknownTemplate(template_id.clone()))?;
            if entry.item.meta.premium && !premium {
                return Err(PlanError::PremiumRequired);
            }
            let plan = UserPlan {
                template_id: template_id.clone(),
                start_date: start_date.format("%Y-%m-%d").to_string(),
                done: BTreeSet::new(),
                swaps: BTreeMap::new(),
                checked: BTreeSet::new(),
                extras: current.map(|c| c.extras).unwrap_or_default(),
                next_extra: 0,
                chosen_at: now_millis(),
            };
            let data = PlanUpdated::Chosen {
                template_id,
                start_date: plan.start_date.clone(),
            };
            (plan, event(data))
        }
        PlanOp::Done { entry_id, done } => {
            let mut plan = current.ok_or(PlanError::NoPlan)?;
            let template = template(catalog, &plan.template_id)?;
            find_entry(&template, &entry_id)
                .ok_or_else(|| PlanError::UnknownEntry(entry_id.clone()))?;
            if done {
                plan.done.insert(entry_id.clone());
            } else {
                plan.done.remove(&entry_id);
            }
            (
                plan,
                event(PlanUpdated::Done {
                    item_id: entry_id,
                    done,
                }),
            )
        }
        PlanOp::Swap {
            entry_id,
            recipe_id,
        } => {
            let mut plan = current.ok_or(PlanError::NoPlan)?;
            let template = template(catalog, &plan.template_id)?;
            let (_, _, entry) = find_entry(&template, &entry_id)
                .ok_or_else(|| PlanError::UnknownEntry(entry_id.clone()))?;
            if !entry.slot.is_meal() {
                return Err(PlanError::NotAMeal);
            }
            match &recipe_id {
                Some(recipe) => {
                    let unknown = || PlanError::UnknownRecipe(recipe.clone());
                    let item = ItemRef::parse("recipe", recipe).map_err(|_| unknown())?;
                    let found = catalog.get(&item).ok_or_else(unknown)?;
                    if found.item.meta.premium && !premium {
                        return Err(PlanError::PremiumRequired);
                    }
                    plan.swaps.insert(entry_id.clone(), recipe.clone());
                }
                None => {
                    plan.swaps.remove(&entry_id);
                }
            }
            (
                plan,
                event(PlanUpdated::Swap {
                    item_id: entry_id,
                    recipe_id,
                }),
            )
        }
        PlanOp::Check {
            week,
            line_id,
            checked,
        } => {
            let mut plan = current.ok_or(PlanError::NoPlan)?;
            let list = super::shopping::list(&plan, week, catalog)?;
            if !list.lines.iter().any(|l| l.id == line_id) {
                return Err(PlanError::UnknownLine(line_id));
            }
            let key = format!("w{week}:{line_id}");
            if checked {
                plan.checked.insert(key);
            } else {
                plan.checked.remove(&key);
            }
            let data = ShoppingListUpdated::Checked {
                week: Some(week),
                id: line_id,
                checked,
            };
            (plan, event(data))
        }
        PlanOp::AddExtra {
            name,
            quantity,
            unit,
        } => {
            let mut plan = current.ok_or(PlanError::NoPlan)?;
            if plan.extras.len() >= MAX_EXTRAS {
                return Err(PlanError::TooManyExtras);
            }
            plan.next_extra += 1;
            let id = format!("x{}", plan.next_extra);
            plan.extras.push(Extra {
                id: id.clone(),
                name: name.clone(),
                quantity,
                unit,
                checked: false,
            });
            (plan, event(ShoppingListUpdated::ExtraAdded { id, name }))
        }
        PlanOp::RemoveExtra { id } => {
            let mut plan = current.ok_or(PlanError::NoPlan)?;
            let before = plan.extras.len();
            plan.extras.retain(|e| e.id != id);
            if plan.extras.len() == before {
                return Err(PlanError::UnknownLine(id));
            }
            (plan, event(ShoppingListUpdated::ExtraRemoved { id }))
        }
        PlanOp::CheckExtra { id, checked } => {
            let mut plan = current.ok_or(PlanError::NoPlan)?;
            let extra = plan
                .extras
                .iter_mut()
                .find(|e| e.id == id)
                .ok_or_else(|| PlanError::UnknownLine(id.clone()))?;
            extra.checked = checked;
            let data = ShoppingListUpdated::Checked {
                week: None,
                id,
                checked,
            };
            (plan, event(data))
        }
    };
    Ok(PlanChange {
        plan: serde_json::to_string(&plan).expect("a plan serializes"),
        event: kind,
        event_data: data,
    })
}

/// A change's event: its kind and data as the feed keeps them.
fn event<D: EventData>(data: D) -> (EventKind, String) {
    (D::KIND, data.to_json())
}

pub use fitpulse_actors::domain::time::date_of;

/// The week (1-based) the plan is in on `today`, within the template's weeks.
pub fn current_week(plan: &UserPlan, weeks: usize, today: NaiveDate) -> usize {
    let start = NaiveDate::parse_from_str(&plan.start_date, "%Y-%m-%d").unwrap_or(today);
    let days = (today - start).num_days();
    let week = if days < 0 { 1 } else { days / 7 + 1 };
    (week as usize).clamp(1, weeks.max(1))
}

/// The week's days with each entry, its done state and the item it points to.
pub fn render_week(
    plan: &UserPlan,
    week: Option<usize>,
    catalog: &Catalog,
    today: NaiveDate,
) -> Result<PlanWeekView, PlanError> {
    let template = template(catalog, &plan.template_id)?;
    let weeks = template.weeks.len();
    let week = week.unwrap_or_else(|| current_week(plan, weeks, today));
    if week == 0 || week > weeks {
        return Err(PlanError::WeekOutOfRange { week, weeks });
    }
    let start = NaiveDate::parse_from_str(&plan.start_date, "%Y-%m-%d").unwrap_or(today);
    let title = catalog
        .get(&ItemRef::parse("plan", &plan.template_id).map_err(|_| PlanError::Corrupt)?)
        .map(|e| e.item.meta.title.clone())
        .unwrap_or_default();
    let (mut done_total, mut entries_total) = (0usize, 0usize);
    let days: Vec<PlanDayView> = template.weeks[week - 1]
        .days
        .iter()
        .enumerate()
        .map(|(d, day)| {
            let entries: Vec<PlanEntryView> = (0..day.entries.len())
                .map(|i| {
                    let entry = &day.entries[i];
                    let id = PlanTemplate::entry_id(week - 1, d, &day.entries, i);
                    let swapped = plan.swaps.get(&id);
                    let item_id = swapped.unwrap_or(&entry.item_id);
                    let kind = if entry.slot == MealSlot::Workout {
                        "workout"
                    } else {
                        "recipe"
                    };
                    let done = plan.done.contains(&id);
                    entries_total += 1;
                    done_total += usize::from(done);
                    PlanEntryView {
                        item: summary(catalog, kind, item_id),
                        id,
                        slot: entry.slot,
                        done,
                        swapped: swapped.is_some(),
                    }
                })
                .collect();
            let date = start + chrono::Duration::days(((week - 1) * 7 + d) as i64);
            PlanDayView {
                day: d + 1,
                date: date.format("%Y-%m-%d").to_string(),
                entries,
            }
        })
        .collect();
    Ok(PlanWeekView {
        template: TemplateRef {
            id: plan.template_id.clone(),
            title,
        },
        start_date: plan.start_date.clone(),
        weeks,
        week,
        current_week: current_week(plan, weeks, today),
        days,
        progress: Progress {
            done: done_total,
            total: entries_total,
        },
    })
}

/// What a plan day shows of an item (`available: false` once it left the catalog).
fn summary(catalog: &Catalog, kind: &'static str, id: &str) -> ItemSummary {
    let Some(entry) = ItemRef::parse(kind, id).ok().and_then(|r| catalog.get(&r)) else {
        return ItemSummary::Unavailable {
            id: id.to_owned(),
            kind,
            available: false,
        };
    };
    let item = &entry.item;
    let figures = match &item.body {
        Body::Recipe(r) => SummaryFigures::Recipe {
            minutes: r.minutes,
            kcal: r.kcal,
        },
        Body::Workout(w) => SummaryFigures::Workout {
            duration_minutes: w.duration_minutes,
            kcal_max: w.kcal_max,
        },
        _ => SummaryFigures::None {},
    };
    ItemSummary::Available {
        id: item.id.clone(),
        kind,
        title: item.meta.title.clone(),
        premium: item.meta.premium,
        image_url: item.meta.image_url.clone(),
        available: true,
        figures,
    }
}
