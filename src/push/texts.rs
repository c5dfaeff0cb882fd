//! The notifications the server writes itself, in English and the languages the apps ship
//! most (Portuguese, Spanish, German, French). Collapse ids group what replaces what:
//! "the class started" replaces "starts in 10 minutes" for the same class.

use std::collections::BTreeMap;

use fitpulse_actors::domain::{LiveClassRecord, UnixMillis};
use uuid::Uuid;

use super::notification::{Localized, Notification, Requirement};
use super::settings::Category;

const MINUTE_MS: i64 = 60_000;
const DAY_MS: i64 = 86_400_000;

fn localized(en: String, others: [(&str, String); 4]) -> Localized {
    others
        .into_iter()
        .fold(Localized::english(en), |text, (tag, other)| {
            text.with(tag, other)
        })
}

fn class_data(class: &LiveClassRecord) -> BTreeMap<String, String> {
    BTreeMap::from([
        ("class_id".to_owned(), class.id.to_string()),
        ("link".to_owned(), format!("fitpulse://live/{}", class.id)),
    ])
}

/// "Starting in 10 minutes", for members who asked to be reminded.
pub fn class_reminder(class: &LiveClassRecord, now: UnixMillis) -> Notification {
    let minutes = ((class.scheduled_at - now) as f64 / MINUTE_MS as f64)
        .ceil()
        .max(1.0) as i64;
    Notification {
        category: Category::ClassReminders,
        kind: "live.reminder".into(),
        collapse_id: format!("live:{}", class.id),
        title: localized(
            format!("Starting in {minutes} min"),
            [
                ("pt", format!("Começa em {minutes} min")),
                ("es", format!("Empieza en {minutes} min")),
                ("de", format!("Beginnt in {minutes} Min.")),
                ("fr", format!("Commence dans {minutes} min")),
            ],
        ),
        body: Localized::english(class.title.clone()),
        data: class_data(class),
        stale_at: class.scheduled_at,
        only_offline: true,
        capped: false,
        requires: Some(Requirement::ClassScheduled(class.id, class.scheduled_at)),
    }
}

/// "The class started", for reminded members who are not in the app.
pub fn class_started(class: &LiveClassRecord, now: UnixMillis) -> Notification {
    let started = class.started_at.unwrap_or(now);
    Notification {
        category: Category::ClassReminders,
        kind: "live.started".into(),
        collapse_id: format!("live:{}", class.id),
        title: localized(
            "Live now: join the class".into(),
            [
                ("pt", "Ao vivo: entre na aula".into()),
                ("es", "En directo: únete a la clase".into()),
                ("de", "Jetzt live: mach mit".into()),
                ("fr", "En direct : rejoignez le cours".into()),
            ],
        ),
        body: Localized::english(class.title.clone()),
        data: class_data(class),
        stale_at: started + i64::from(class.duration_minutes) * MINUTE_MS,
        only_offline: true,
        capped: false,
        requires: Some(Requirement::ClassLive(class.id)),
    }
}

/// What happened on the member's posts or profile.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SocialEvent {
    Comment,
    Follow,
    Like,
}

/// A comment, follow or like by `actor_name`. Batched per member (see `Notifier`), so one
/// collapse id for all of them.
pub fn social(event: SocialEvent, actor_name: &str, now: UnixMillis) -> Notification {
    let name = actor_name;
    let (title, link) = match event {
        SocialEvent::Comment => (
            localized(
                format!("{name} commented on your post"),
                [
                    ("pt", format!("{name} comentou o seu post")),
                    ("es", format!("{name} comentó tu publicación")),
                    ("de", format!("{name} hat deinen Beitrag kommentiert")),
                    ("fr", format!("{name} a commenté votre publication")),
                ],
            ),
            "fitpulse://community/activity",
        ),
        SocialEvent::Follow => (
            localized(
                format!("{name} started following you"),
                [
                    ("pt", format!("{name} começou a seguir você")),
                    ("es", format!("{name} empezó a seguirte")),
                    ("de", format!("{name} folgt dir jetzt")),
                    ("fr", format!("{name} vous suit désormais")),
                ],
            ),
            "fitpulse://community/followers",
        ),
        SocialEvent::Like => (
            localized(
                format!("{name} liked your post"),
                [
                    ("pt", format!("{name} curtiu o seu post")),
                    ("es", format!("A {name} le gustó tu publicación")),
                    ("de", format!("{name} gefällt dein Beitrag")),
                    ("fr", format!("{name} a aimé votre publication")),
                ],
            ),
            "fitpulse://community/activity",
        ),
    };
    Notification {
        category: Category::Social,
        kind: "social".into(),
        collapse_id: "social".into(),
        body: Localized::default(),
        title,
        data: BTreeMap::from([("link".to_owned(), link.to_owned())]),
        stale_at: now + DAY_MS,
        only_offline: true,
        capped: false,
        requires: None,
    }
}

/// "Your reservation expires in 5 minutes": pay or lose the units.
pub fn reservation_expiring(order_id: Uuid, expires_at: UnixMillis) -> Notification {
    Notification {
        category: Category::Commerce,
        kind: "drop.reservation_expiring".into(),
        collapse_id: format!("order:{order_id}"),
        title: localized(
            "Your reservation expires in 5 minutes".into(),
            [
                ("pt", "Sua reserva expira em 5 minutos".into()),
                ("es", "Tu reserva caduca en 5 minutos".into()),
                ("de", "Deine Reservierung läuft in 5 Minuten ab".into()),
                ("fr", "Votre réservation expire dans 5 minutes".into()),
            ],
        ),
        body: localized(
            "Complete your order to keep it.".into(),
            [
                ("pt", "Conclua o pedido para garanti-la.".into()),
                ("es", "Completa el pedido para conservarla.".into()),
                (
                    "de",
                    "Schließe die Bestellung ab, um sie zu behalten.".into(),
                ),
                ("fr", "Finalisez la commande pour la garder.".into()),
            ],
        ),
        data: BTreeMap::from([
            ("order_id".to_owned(), order_id.to_string()),
            ("link".to_owned(), format!("fitpulse://orders/{order_id}")),
        ]),
        stale_at: expires_at,
        only_offline: true,
        capped: false,
        requires: Some(Requirement::OrderReserved(order_id)),
    }
}

/// A subscription renewal failed; `grace_until` when the store keeps access meanwhile.
pub fn payment_failed(grace_until: Option<UnixMillis>, now: UnixMillis) -> Notification {
    let body = match grace_until {
        Some(_) => localized(
            "Update your payment method to keep Premium.".into(),
            [
                (
                    "pt",
                    "Atualize a forma de pagamento para manter o Premium.".into(),
                ),
                (
                    "es",
                    "Actualiza tu método de pago para conservar Premium.".into(),
                ),
                (
                    "de",
                    "Aktualisiere deine Zahlungsmethode, um Premium zu behalten.".into(),
                ),
                (
                    "fr",
                    "Mettez à jour votre moyen de paiement pour garder Premium.".into(),
                ),
            ],
        ),
        None => localized(
            "Premium is paused until the payment goes through.".into(),
            [
                (
                    "pt",
                    "O Premium está pausado até o pagamento ser aprovado.".into(),
                ),
                (
                    "es",
                    "Premium está en pausa hasta que se complete el pago.".into(),
                ),
                (
                    "de",
                    "Premium ist pausiert, bis die Zahlung durchgeht.".into(),
                ),
                ("fr", "Premium est suspendu jusqu'au paiement.".into()),
            ],
        ),
    };
    Notification {
        category: Category::Commerce,
        kind: "subscription.payment_failed".into(),
        collapse_id: "subscription".into(),
        title: localized(
            "Your payment didn't go through".into(),
            [
                ("pt", "Seu pagamento não foi aprovado".into()),
                ("es", "Tu pago no se completó".into()),
                ("de", "Deine Zahlung ist fehlgeschlagen".into()),
                ("fr", "Votre paiement n'a pas abouti".into()),
            ],
        ),
        body,
        data: BTreeMap::from([("link".to_owned(), "fitpulse://subscription".to_owned())]),
        stale_at: grace_until.unwrap_or(now + 3 * DAY_MS).max(now + DAY_MS),
        only_offline: true,
        capped: false,
        requires: None,
    }
}

/// An operator's test push: to every device, connected or not.
pub fn test_push(now: UnixMillis) -> Notification {
    Notification {
        category: Category::Commerce,
        kind: "test".into(),
        collapse_id: "test".into(),
        title: Localized::english("Test notification"),
        body: Localized::english("Push works on this device."),
        data: BTreeMap::new(),
        stale_at: now + DAY_MS,
        only_offline: false,
        capped: false,
        requires: None,
    }
}

#[cfg(test)]
mod tests {
    use fitpulse_actors::domain::{ClassId, ClassState, UserId};

    use super::*;

    fn class(scheduled_at: UnixMillis) -> LiveClassRecord {
        LiveClassRecord {
            id: ClassId::random(),
            coach: UserId::random(),
            title: "HIIT with Ana".into(),
            workout_id: None,
            scheduled_at,
            duration_minutes: 45,
            premium: false,
            state: ClassState::Scheduled,
            started_at: None,
            ended_at: None,
            created_at: 0,
        }
    }

    #[test]
    fn a_reminder_says_the_minutes_left_and_goes_stale_at_the_start() {
        let class = class(10 * MINUTE_MS);
        let reminder = class_reminder(&class, 0);
        assert_eq!(reminder.title.en, "Starting in 10 min");
        assert_eq!(reminder.title.for_locale(Some("pt-BR")), "Começa em 10 min");
        assert_eq!(reminder.body.en, "HIIT with Ana");
        assert_eq!(reminder.stale_at, class.scheduled_at);
        // Late (a reminder set 2.5 minutes before): rounded up, never zero.
        assert_eq!(
            class_reminder(&class, 7 * MINUTE_MS + 30_000).title.en,
            "Starting in 3 min"
        );
        assert_eq!(
            class_reminder(&class, 10 * MINUTE_MS - 1).title.en,
            "Starting in 1 min"
        );
    }

    #[test]
    fn the_start_replaces_the_reminder_on_the_device() {
        let mut class = class(10 * MINUTE_MS);
        class.started_at = Some(11 * MINUTE_MS);
        let started = class_started(&class, 11 * MINUTE_MS);
        assert_eq!(started.collapse_id, class_reminder(&class, 0).collapse_id);
        assert_eq!(started.stale_at, 11 * MINUTE_MS + 45 * MINUTE_MS);
    }

    #[test]
    fn social_pushes_share_one_collapse_id_and_name_who_did_it() {
        let like = social(SocialEvent::Like, "Ana", 0);
        let follow = social(SocialEvent::Follow, "Bo", 0);
        assert_eq!(like.collapse_id, follow.collapse_id);
        assert_eq!(like.title.en, "Ana liked your post");
        assert_eq!(follow.title.for_locale(Some("de")), "Bo folgt dir jetzt");
        assert_eq!(like.category, Category::Social);
    }
}
