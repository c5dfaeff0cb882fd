//! The shopping list of a plan week: every ingredient of the week's meals (after swaps),
//! one serving per meal, summed per ingredient and dimension, shown in the user's units
//! and grouped by aisle, plus the items the user added by hand.

use std::collections::BTreeMap;

use super::plan_views::{AisleView, ShoppingLine, ShoppingListView};
use fitpulse_actors::domain::{ItemRef, Units};

use super::catalog::Catalog;
use super::items::{Body, PlanTemplate, slug};
use super::plan::{PlanError, UserPlan, template};
use super::units::{Dimension, present, to_base};
use super::vocabulary::Aisle;

/// One summed ingredient.
#[derive(Debug, Clone, PartialEq)]
pub struct Line {
    /// Stable across renders: the ingredient's slug and dimension (`oats~mass`).
    pub id: String,
    pub name: String,
    pub aisle: Aisle,
    pub dimension: Dimension,
    /// In grams, millilitres or the count.
    pub base: f64,
}

pub struct ShoppingList {
    pub week: usize,
    pub lines: Vec<Line>,
}

/// Sums the ingredients of `week` (1-based).
pub fn list(plan: &UserPlan, week: usize, catalog: &Catalog) -> Result<ShoppingList, PlanError> {
    let template = template(catalog, &plan.template_id)?;
    let weeks = template.weeks.len();
    if week == 0 || week > weeks {
        return Err(PlanError::WeekOutOfRange { week, weeks });
    }
    let mut lines: BTreeMap<(String, Dimension), Line> = BTreeMap::new();
    for (d, day) in template.weeks[week - 1].days.iter().enumerate() {
        for (i, entry) in day.entries.iter().enumerate() {
            if !entry.slot.is_meal() {
                continue;
            }
            let id = PlanTemplate::entry_id(week - 1, d, &day.entries, i);
            let recipe_id = plan.swaps.get(&id).unwrap_or(&entry.item_id);
            let Some(found) = ItemRef::parse("recipe", recipe_id)
                .ok()
                .and_then(|r| catalog.get(&r))
            else {
                continue;
            };
            let Body::Recipe(recipe) = &found.item.body else {
                continue;
            };
            let servings = f64::from(recipe.servings.max(1));
            for ingredient in &recipe.ingredients {
                let (dimension, base) = to_base(ingredient.quantity / servings, ingredient.unit);
                let name = ingredient.name.trim().to_lowercase();
                let line = lines
                    .entry((name.clone(), dimension))
                    .or_insert_with(|| Line {
                        id: format!("{}~{}", slug(&name), dimension.as_str()),
                        name,
                        aisle: ingredient.aisle,
                        dimension,
                        base: 0.0,
                    });
                line.base += base;
            }
        }
    }
    Ok(ShoppingList {
        week,
        lines: lines.into_values().collect(),
    })
}

/// The answer of `GET /v1/me/shopping-list`.
pub fn render(plan: &UserPlan, list: &ShoppingList, units: Units) -> ShoppingListView {
    let mut aisles: BTreeMap<Aisle, Vec<ShoppingLine>> = BTreeMap::new();
    for line in &list.lines {
        let (quantity, unit) = present(line.dimension, line.base, units);
        aisles.entry(line.aisle).or_default().push(ShoppingLine {
            id: line.id.clone(),
            name: line.name.clone(),
            quantity,
            unit: unit.as_str(),
            checked: plan
                .checked
                .contains(&format!("w{}:{}", list.week, line.id)),
        });
    }
    ShoppingListView {
        week: list.week,
        units: units.as_str(),
        aisles: aisles
            .into_iter()
            .map(|(aisle, items)| AisleView {
                aisle: aisle.as_str(),
                items,
            })
            .collect(),
        extras: plan.extras.clone(),
    }
}
