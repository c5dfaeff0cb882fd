//! Content and plan frames, as types: a catalog item published (a notice to everyone
//! online), and changes of the member's plan and shopping list (events of their feed).

use fitpulse_actors::event_data;
use schemars::JsonSchema;
use serde::Serialize;

/// An editor published a catalog item; apps may refresh their lists.
#[derive(Debug, Serialize, JsonSchema)]
pub struct ContentNew {
    /// `recipe`, `workout`, `plan` ...
    pub kind: &'static str,
    pub id: String,
    pub title: String,
}

/// The member's plan changed (on any device or through REST): refetch `GET /v1/me/plan`.
#[derive(Debug, Serialize, JsonSchema)]
#[serde(tag = "change", rename_all = "snake_case")]
pub enum PlanUpdated {
    Chosen {
        template_id: String,
        start_date: String,
    },
    Done {
        item_id: String,
        done: bool,
    },
    Swap {
        item_id: String,
        /// `null`: back to the template's recipe.
        recipe_id: Option<String>,
    },
}

/// The member's shopping list changed: refetch `GET /v1/me/shopping-list`.
#[derive(Debug, Serialize, JsonSchema)]
#[serde(tag = "change", rename_all = "snake_case")]
pub enum ShoppingListUpdated {
    Checked {
        /// The week of a plan line; absent for an extra line.
        #[serde(skip_serializing_if = "Option::is_none")]
        week: Option<usize>,
        id: String,
        checked: bool,
    },
    ExtraAdded {
        id: String,
        name: String,
    },
    ExtraRemoved {
        id: String,
    },
}

event_data! {
    ContentNew: CONTENT_NEW, Notice, "An editor published a catalog item";
    PlanUpdated: PLAN_UPDATED, Feed, "The member's plan changed";
    ShoppingListUpdated: PLAN_SHOPPING_LIST_UPDATED, Feed, "The member's shopping list changed";
}
