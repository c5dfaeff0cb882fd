//! The products apps can buy: subscriptions (monthly, yearly, a trial) that unlock the
//! `premium` entitlement, and one-time products. Each names its id in every store, so a
//! store notification's product id finds our product.

use serde::Serialize;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ProductKind {
    Subscription,
    OneTime,
}

#[derive(Debug, Clone, Serialize)]
pub struct Product {
    /// Our id, also the offer id `premium_required` answers name.
    pub id: &'static str,
    pub kind: ProductKind,
    pub title: &'static str,
    /// The entitlement it unlocks.
    pub entitlement: &'static str,
    /// Billing period in days (subscriptions).
    pub period_days: Option<u32>,
    pub trial_days: u32,
    pub price_cents: u32,
    pub currency: &'static str,
    /// The product id in the App Store, Google Play and the web payment provider.
    pub ios_product_id: &'static str,
    pub android_product_id: &'static str,
    pub web_price_id: &'static str,
}

pub const PRODUCTS: [Product; 4] = [
    Product {
        id: "premium_monthly",
        kind: ProductKind::Subscription,
        title: "Premium, monthly",
        entitlement: "premium",
        period_days: Some(30),
        trial_days: 0,
        price_cents: 999,
        currency: "USD",
        ios_product_id: "app.fitpulse.premium.monthly",
        android_product_id: "premium_monthly",
        web_price_id: "price_premium_monthly",
    },
    Product {
        id: "premium_yearly",
        kind: ProductKind::Subscription,
        title: "Premium, yearly",
        entitlement: "premium",
        period_days: Some(365),
        trial_days: 0,
        price_cents: 5999,
        currency: "USD",
        ios_product_id: "app.fitpulse.premium.yearly",
        android_product_id: "premium_yearly",
        web_price_id: "price_premium_yearly",
    },
    Product {
        id: "premium_trial",
        kind: ProductKind::Subscription,
        title: "Premium, 7 days free then monthly",
        entitlement: "premium",
        period_days: Some(30),
        trial_days: 7,
        price_cents: 999,
        currency: "USD",
        ios_product_id: "app.fitpulse.premium.trial",
        android_product_id: "premium_trial",
        web_price_id: "price_premium_trial",
    },
    Product {
        id: "plan_lifetime",
        kind: ProductKind::OneTime,
        title: "Premium, lifetime",
        entitlement: "premium",
        period_days: None,
        trial_days: 0,
        price_cents: 14999,
        currency: "USD",
        ios_product_id: "app.fitpulse.premium.lifetime",
        android_product_id: "premium_lifetime",
        web_price_id: "price_premium_lifetime",
    },
];

/// A store a product is sold through.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Store {
    AppStore,
    GooglePlay,
    Web,
}

impl Store {
    pub fn as_str(self) -> &'static str {
        match self {
            Store::AppStore => "appstore",
            Store::GooglePlay => "googleplay",
            Store::Web => "payments",
        }
    }
}

/// Our product for a store's product id.
pub fn by_store_id(store: Store, store_id: &str) -> Option<&'static Product> {
    PRODUCTS.iter().find(|p| {
        store_id
            == match store {
                Store::AppStore => p.ios_product_id,
                Store::GooglePlay => p.android_product_id,
                Store::Web => p.web_price_id,
            }
    })
}

pub fn by_id(id: &str) -> Option<&'static Product> {
    PRODUCTS.iter().find(|p| p.id == id)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn store_ids_find_our_products() {
        assert_eq!(
            by_store_id(Store::AppStore, "app.fitpulse.premium.yearly").map(|p| p.id),
            Some("premium_yearly")
        );
        assert_eq!(
            by_store_id(Store::GooglePlay, "premium_monthly").map(|p| p.id),
            Some("premium_monthly")
        );
        assert!(by_store_id(Store::Web, "price_unknown").is_none());
        assert!(by_id("premium_trial").is_some_and(|p| p.trial_days == 7));
    }
}
