//! The drop frames, as types: a buyer's order changed (events of their feed), and the
//! stock, queue and admission notices to buyers watching a drop.

use fitpulse_actors::event_data;
use schemars::JsonSchema;
use serde::Serialize;
use uuid::Uuid;

use super::OrderView;

/// The buyer's order was reserved.
#[derive(Serialize, JsonSchema)]
#[serde(transparent)]
pub struct OrderReserved(pub OrderView);

/// The buyer's order was paid.
#[derive(Serialize, JsonSchema)]
#[serde(transparent)]
pub struct OrderPaid(pub OrderView);

/// The buyer's reservation lapsed unpaid.
#[derive(Serialize, JsonSchema)]
#[serde(transparent)]
pub struct OrderExpired(pub OrderView);

/// Units left of a drop.
#[derive(Debug, Serialize, JsonSchema)]
pub struct StockLevel {
    pub drop_id: Uuid,
    pub remaining: u32,
}

/// The stock changed (at most once a second; also when units come back).
#[derive(Debug, Serialize, JsonSchema)]
#[serde(transparent)]
pub struct DropStock(pub StockLevel);

/// Nothing is left (`remaining` is 0).
#[derive(Debug, Serialize, JsonSchema)]
#[serde(transparent)]
pub struct DropSoldOut(pub StockLevel);

/// The buyer's place in the waiting room, every two seconds while waiting.
#[derive(Debug, Serialize, JsonSchema)]
pub struct DropQueue {
    pub drop_id: Uuid,
    /// Buyers ahead.
    pub ahead: u64,
}

/// The buyer may order now, with this token.
#[derive(Debug, Serialize, JsonSchema)]
pub struct DropAdmitted {
    pub drop_id: Uuid,
    pub admission_token: String,
    /// Seconds the token stays valid.
    pub expires_in: i64,
}

event_data! {
    OrderReserved: ORDER_RESERVED, Feed, "The buyer's order is reserved";
    OrderPaid: ORDER_PAID, Feed, "The buyer's order is paid";
    OrderExpired: ORDER_EXPIRED, Feed, "The buyer's reservation lapsed";
    DropStock: DROP_STOCK, Notice, "A watched drop's stock changed";
    DropSoldOut: DROP_SOLD_OUT, Notice, "A watched drop sold out";
    DropQueue: DROP_QUEUE, Notice, "The buyer's place in the waiting room";
    DropAdmitted: DROP_ADMITTED, Notice, "The buyer is admitted to order";
}
