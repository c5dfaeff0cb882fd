//! Commerce reads and purchase links: `GET /v1/products?platform=ios|android|web` (public,
//! cacheable), `GET /v1/me/subscription`, and `POST /v1/purchases/googleplay`, with which
//! an app links a Play purchase token to its user right after buying (Play notifications
//! name only the token).

use actix_web::{HttpRequest, HttpResponse, web};
use fitpulse_actors::domain::now_millis;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::json;

use super::cache::{CachePolicy, respond_hashed};
use super::views::{Page, SubscriptionView, subscription_view};
use super::{ApiError, Contracts, ErrorCode};
use crate::auth::AuthUser;
use crate::commerce::products::{PRODUCTS, Product, ProductKind, Store, by_store_id};
use crate::store::Stores;

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(web::resource("/v1/products").get(products))
        .service(web::resource("/v1/me/subscription").get(subscription))
        .service(web::resource("/v1/purchases/googleplay").post(link_google_purchase));
}

pub fn contracts(c: &mut Contracts) {
    c.get("/v1/products")
        .ok::<Page<ProductView>>()
        .errors(&[400]);
    c.get("/v1/me/subscription")
        .ok::<SubscriptionAnswer>()
        .bearer("a user")
        .errors(&[403]);
    c.post("/v1/purchases/googleplay")
        .body::<LinkBody>()
        .ok::<Linked>()
        .bearer("a user")
        .errors(&[403, 409]);
}

/// A product on sale.
#[derive(Serialize, JsonSchema)]
struct ProductView {
    id: &'static str,
    /// `subscription` or `one_time`.
    #[schemars(with = "String")]
    kind: ProductKind,
    title: &'static str,
    /// The entitlement it unlocks.
    entitlement: &'static str,
    period_days: Option<u32>,
    trial_days: u32,
    price_cents: u32,
    currency: &'static str,
    /// The store's id of the product, when `platform` names a store.
    #[serde(skip_serializing_if = "Option::is_none")]
    store_product_id: Option<&'static str>,
}

/// The caller's subscriptions and whether any grants premium now.
#[derive(Serialize, JsonSchema)]
struct SubscriptionAnswer<'a> {
    premium: bool,
    subscriptions: Vec<SubscriptionView<'a>>,
}

/// The purchase now belongs to the caller.
#[derive(Serialize, JsonSchema)]
struct Linked {
    linked: bool,
    subscription_id: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ProductsQuery {
    platform: Option<String>,
}

fn product_view(product: &Product, platform: Option<&str>) -> ProductView {
    let store_product_id = match platform {
        Some("ios") => Some(product.ios_product_id),
        Some("android") => Some(product.android_product_id),
        Some("web") => Some(product.web_price_id),
        _ => None,
    };
    ProductView {
        id: product.id,
        kind: product.kind,
        title: product.title,
        entitlement: product.entitlement,
        period_days: product.period_days,
        trial_days: product.trial_days,
        price_cents: product.price_cents,
        currency: product.currency,
        store_product_id,
    }
}

async fn products(
    req: HttpRequest,
    query: web::Query<ProductsQuery>,
) -> Result<HttpResponse, ApiError> {
    let platform = query.platform.as_deref();
    if platform.is_some_and(|p| !["ios", "android", "web"].contains(&p)) {
        return Err(ApiError::new(ErrorCode::InvalidQuery)
            .with_message("`platform`: one of ios, android, web")
            .with_details(json!({ "param": "platform" })));
    }
    let items = PRODUCTS.iter().map(|p| product_view(p, platform)).collect();
    let policy = CachePolicy {
        max_age_seconds: 300,
        public: true,
        vary_authorization: false,
    };
    Ok(respond_hashed(
        &req,
        policy,
        // Plain strings and numbers always serialize.
        serde_json::to_string(&Page::all(items)).expect("the product list serializes"),
    ))
}

async fn subscription(
    caller: AuthUser,
    stores: web::Data<Stores>,
) -> Result<HttpResponse, ApiError> {
    let user = caller.user_id()?;
    let now = now_millis();
    let subs = stores.subscriptions.subscriptions(user).await?;
    let subscriptions = subs.iter().map(|s| subscription_view(s, now)).collect();
    let premium = stores
        .entitlements
        .entitlements(user)
        .await?
        .iter()
        .any(|e| e.name == "premium" && e.is_active_at(now));
    Ok(HttpResponse::Ok().json(SubscriptionAnswer {
        premium,
        subscriptions,
    }))
}

#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
struct LinkBody {
    purchase_token: String,
    product_id: String,
}

async fn link_google_purchase(
    caller: AuthUser,
    body: web::Json<LinkBody>,
    stores: web::Data<Stores>,
) -> Result<HttpResponse, ApiError> {
    let user = caller.user_id()?;
    let body = body.into_inner();
    let token_ok = (1..=512).contains(&body.purchase_token.len())
        && body.purchase_token.bytes().all(|b| b.is_ascii_graphic());
    if !token_ok {
        return Err(ApiError::invalid_field(
            "purchase_token",
            "1-512 printable characters",
        ));
    }
    if by_store_id(Store::GooglePlay, &body.product_id).is_none() {
        return Err(ApiError::invalid_field(
            "product_id",
            "not a Google Play product of this app",
        ));
    }
    let external = format!("googleplay:{}", body.purchase_token);
    let owner = stores.subscriptions.link_purchase(&external, user).await?;
    if owner != user {
        return Err(ApiError::new(ErrorCode::Conflict)
            .with_message("this purchase belongs to another account"));
    }
    Ok(HttpResponse::Ok().json(Linked {
        linked: true,
        subscription_id: external,
    }))
}
