//! The plan service: what the plan routes ask of a user's plan. The user's session holds
//! the plan, so reads and changes go through the hub (to wherever the session is held);
//! this module knows what a change needs (premium access for premium templates and
//! recipes, the week a shopping-list line belongs to) and renders the week and the
//! shopping list from the catalog. A rendered week is kept (bounded) until the plan, the
//! day or the catalog's items change, so reading it again is one session round trip.

use super::plan_views::{PlanWeekView, ShoppingListView};
use std::sync::{Arc, Mutex};

use bytes::Bytes;

use chrono::NaiveDate;
use fitpulse_actors::domain::{TimeZone, Units, UserId, local_date, now_millis};
use fitpulse_actors::hub::Hub;
use fitpulse_actors::ports::store::{EntitlementStore, StoreError};
use fitpulse_actors::session::SessionError;

use super::Content;
use super::plan::{self, PlanError, PlanOp, UserPlan};
use super::plan_commands::{self, PlanCommand};
use super::shopping;
use crate::generations::Generations;
use crate::store::Stores;

/// Rendered weeks kept per generation (two generations): a few KB each.
const WEEKS_PER_GENERATION: usize = 1_024;

/// What a rendered week depends on: the plan document as the session holds it (the
/// template, start date, done items and swaps), the week asked for, the member's today
/// and the catalog's items. Equal keys render equal weeks, whoever asks.
#[derive(PartialEq, Eq, Hash)]
struct WeekKey {
    plan: String,
    week: Option<usize>,
    today: NaiveDate,
    catalog_edits: u64,
}

/// A plan may start at most this many days from today, either way.
const MAX_START_OFFSET_DAYS: i64 = 366;

#[derive(Debug, thiserror::Error)]
pub enum PlansError {
    #[error(transparent)]
    Plan(#[from] PlanError),
    #[error(transparent)]
    Session(#[from] SessionError),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("a plan starts within a year of today")]
    StartOutOfRange,
}

/// Whether a caller may use premium content: the token says so (`token_premium`: the
/// `content:premium` scope, or staff), or, for a user whose entitlement arrived after the
/// token was issued (a purchase a moment ago), an active `premium` entitlement in the
/// store. The store is asked only in that second case.
pub async fn premium_access(
    token_premium: bool,
    user: Option<UserId>,
    entitlements: &dyn EntitlementStore,
) -> Result<bool, StoreError> {
    if token_premium {
        return Ok(true);
    }
    let Some(user) = user else {
        return Ok(false);
    };
    let now = now_millis();
    Ok(entitlements
        .entitlements(user)
        .await?
        .iter()
        .any(|e| e.name == "premium" && e.is_active_at(now)))
}

pub struct Plans {
    hub: Hub,
    content: Arc<Content>,
    stores: Stores,
    weeks: Mutex<Generations<WeekKey, Bytes>>,
}

impl Plans {
    pub fn new(hub: Hub, content: Arc<Content>, stores: Stores) -> Plans {
        Plans {
            hub,
            content,
            stores,
            weeks: Mutex::new(Generations::new(WEEKS_PER_GENERATION)),
        }
    }

    /// Today in the member's zone (UTC without one): plan days turn at their midnight.
    fn today(zone: Option<TimeZone>) -> NaiveDate {
        local_date(now_millis(), zone)
    }

    /// The user's plan (`NoPlan` when they follow none).
    pub async fn current(&self, user: UserId) -> Result<UserPlan, PlansError> {
        let doc = self.hub.plan(user).await?;
        Ok(plan::parse(doc.as_deref())?.ok_or(PlanError::NoPlan)?)
    }

    /// Week `week` of the user's plan (the current one when `None`), rendered as JSON
    /// (a `PlanWeekView`).
    pub async fn week(
        &self,
        user: UserId,
        zone: Option<TimeZone>,
        week: Option<usize>,
    ) -> Result<Bytes, PlansError> {
        let plan = self.hub.plan(user).await?.ok_or(PlanError::NoPlan)?;
        let key = WeekKey {
            plan,
            week,
            today: Self::today(zone),
            // Read before rendering: an edit landing meanwhile moves it, and the next
            // read renders again.
            catalog_edits: self.content.catalog.edits(),
        };
        if let Some(rendered) = self.rendered_weeks().get(&key) {
            return Ok(rendered.clone());
        }
        let plan = plan::parse(Some(&key.plan))?.ok_or(PlanError::NoPlan)?;
        let view = plan::render_week(&plan, week, &self.content.catalog, key.today)?;
        let rendered = Bytes::from(serde_json::to_vec(&view).expect("a plan week serializes"));
        self.rendered_weeks().insert(key, rendered.clone());
        Ok(rendered)
    }

    fn rendered_weeks(&self) -> std::sync::MutexGuard<'_, Generations<WeekKey, Bytes>> {
        self.weeks.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Applies `op` in the user's session; `premium` says whether the caller may pick
    /// premium templates and recipes (only choosing and swapping look at it).
    pub async fn edit(
        &self,
        user: UserId,
        premium: bool,
        op: PlanOp,
    ) -> Result<UserPlan, PlansError> {
        let command = PlanCommand { op, premium };
        let doc = self
            .hub
            .edit_plan(user, command.to_json())
            .await?
            .map_err(|rejected| plan_commands::rejection(&rejected))?;
        Ok(plan::parse(Some(&doc))?.ok_or(PlanError::Corrupt)?)
    }

    /// Follows template `template_id` from `start_date` (today when `None`); answers the
    /// first week, rendered.
    pub async fn choose(
        &self,
        user: UserId,
        zone: Option<TimeZone>,
        token_premium: bool,
        template_id: String,
        start_date: Option<NaiveDate>,
    ) -> Result<PlanWeekView, PlansError> {
        let today = Self::today(zone);
        let start_date = start_date.unwrap_or(today);
        if (start_date - today).num_days().abs() > MAX_START_OFFSET_DAYS {
            return Err(PlansError::StartOutOfRange);
        }
        let premium = self.premium(token_premium, user).await?;
        let op = PlanOp::Choose {
            template_id,
            start_date,
        };
        let plan = self.edit(user, premium, op).await?;
        Ok(plan::render_week(
            &plan,
            None,
            &self.content.catalog,
            today,
        )?)
    }

    /// Swaps a meal for `recipe_id`, or back (`None`).
    pub async fn swap(
        &self,
        user: UserId,
        token_premium: bool,
        entry_id: String,
        recipe_id: Option<String>,
    ) -> Result<(), PlansError> {
        let premium = match recipe_id {
            Some(_) => self.premium(token_premium, user).await?,
            None => token_premium,
        };
        let op = PlanOp::Swap {
            entry_id,
            recipe_id,
        };
        self.edit(user, premium, op).await.map(|_| ())
    }

    /// The week a shopping-list request is about: `week`, or the plan's current one.
    fn week_or_current(
        &self,
        plan: &UserPlan,
        zone: Option<TimeZone>,
        week: Option<usize>,
    ) -> Result<usize, PlansError> {
        match week {
            Some(week) => Ok(week),
            None => {
                let weeks = plan::template(&self.content.catalog, &plan.template_id)?
                    .weeks
                    .len();
                Ok(plan::current_week(plan, weeks, Self::today(zone)))
            }
        }
    }

    /// The shopping list of week `week` (the current one when `None`), in the user's
    /// measurement system.
    pub async fn shopping_list(
        &self,
        user: UserId,
        zone: Option<TimeZone>,
        week: Option<usize>,
    ) -> Result<ShoppingListView, PlansError> {
        let plan = self.current(user).await?;
        let week = self.week_or_current(&plan, zone, week)?;
        let list = shopping::list(&plan, week, &self.content.catalog)?;
        let units = self
            .stores
            .users
            .user_by_id(user)
            .await?
            .map(|u| u.units)
            .unwrap_or(Units::default());
        Ok(shopping::render(&plan, &list, units))
    }

    /// Checks a shopping-list line of `week` (the current one when `None`) on or off;
    /// answers the week.
    pub async fn check_line(
        &self,
        user: UserId,
        zone: Option<TimeZone>,
        token_premium: bool,
        line_id: String,
        week: Option<usize>,
        checked: bool,
    ) -> Result<usize, PlansError> {
        let plan = self.current(user).await?;
        let week = self.week_or_current(&plan, zone, week)?;
        let op = PlanOp::Check {
            week,
            line_id,
            checked,
        };
        self.edit(user, token_premium, op).await?;
        Ok(week)
    }

    async fn premium(&self, token_premium: bool, user: UserId) -> Result<bool, StoreError> {
        premium_access(token_premium, Some(user), self.stores.entitlements.as_ref()).await
    }
}
