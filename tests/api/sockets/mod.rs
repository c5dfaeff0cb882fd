//! The WebSocket gateway with a real client: delivery, resume, limits, tokens, shutdown.

mod contract;
mod delivery;
mod limits;
mod live;
mod live_clock;
mod live_records;
mod live_replay;
mod live_roster;
mod live_support;
mod resume;
mod tokens;

use std::collections::BTreeSet;

use actix_codec::Framed;
use awc::BoxedSocket;
use awc::ws::{Codec, Frame, Message};
use fitpulse::auth::tokens::{AccessTokens, Principal};
use fitpulse_actors::domain::{Role, UserId};
use futures_util::{SinkExt, StreamExt};
use serde_json::{Value, json};

use crate::helpers::{TestApp, WAIT};

/// A client socket. Pings from the server are answered as they are read.
pub struct Socket {
    framed: Framed<BoxedSocket, Codec>,
    /// Frames read ahead while looking for a particular one, in arrival order.
    pending: std::collections::VecDeque<Value>,
    /// The type of each client frame sent, by id: what a reply answers.
    sent: std::collections::HashMap<u64, String>,
}

/// What the server sent, as the tests look at it.
#[derive(Debug)]
pub enum Received {
    Json(Value),
    Closed(Option<u16>, String),
}

impl Socket {
    pub fn new(framed: Framed<BoxedSocket, Codec>) -> Socket {
        Socket {
            framed,
            pending: Default::default(),
            sent: Default::default(),
        }
    }

    /// The next text frame as JSON, or the close; fails the test after `WAIT`.
    pub async fn receive(&mut self) -> Received {
        let deadline = tokio::time::Instant::now() + WAIT;
        loop {
            let frame = tokio::time::timeout_at(deadline, self.framed.next())
                .await
                .expect("a frame in time");
            match frame {
                Some(Ok(Frame::Text(text))) => {
                    let frame = serde_json::from_slice(&text).expect("JSON frame");
                    contract::check(&frame, &self.sent);
                    return Received::Json(frame);
                }
                Some(Ok(Frame::Close(reason))) => {
                    return Received::Closed(
                        reason.as_ref().map(|r| u16::from(r.code)),
                        reason.and_then(|r| r.description).unwrap_or_default(),
                    );
                }
                Some(Ok(Frame::Ping(payload))) => {
                    let _ = self.framed.send(Message::Pong(payload)).await;
                }
                Some(Ok(_)) => {}
                Some(Err(err)) => return Received::Closed(None, err.to_string()),
                None => return Received::Closed(None, "stream ended".into()),
            }
        }
    }

    /// The next frame (those read ahead first), or the close.
    pub async fn next(&mut self) -> Received {
        match self.pending.pop_front() {
            Some(value) => Received::Json(value),
            None => self.receive().await,
        }
    }

    pub async fn json(&mut self) -> Value {
        if let Some(value) = self.pending.pop_front() {
            return value;
        }
        match self.receive().await {
            Received::Json(value) => value,
            other => panic!("expected a frame, got {other:?}"),
        }
    }

    /// The next frame of `type` (skipping connection notices of other types).
    pub async fn event(&mut self, kind: &str) -> Value {
        for _ in 0..1000 {
            let value = self.json().await;
            if value["type"] == kind {
                return value;
            }
        }
        panic!("no `{kind}` frame");
    }

    /// Reads up to the first frame that `until` accepts; answers the frames of `kind` that
    /// came first. With a later event that must arrive as `until` (a positive control), it
    /// shows that something did NOT arrive before it.
    pub async fn frames_until(&mut self, kind: &str, until: impl Fn(&Value) -> bool) -> Vec<Value> {
        let mut found = Vec::new();
        for _ in 0..1000 {
            let frame = self.json().await;
            if until(&frame) {
                return found;
            }
            if frame["type"] == kind {
                found.push(frame);
            }
        }
        panic!("the awaited frame never came");
    }

    /// [`Socket::frames_until`] a frame of type `marker`.
    pub async fn frames_before_event(&mut self, kind: &str, marker: &str) -> Vec<Value> {
        self.frames_until(kind, |frame| frame["type"] == marker)
            .await
    }

    /// The next frame of `kind` and the reply to `id`, in whichever order they come.
    pub async fn event_and_reply(&mut self, kind: &str, id: u64) -> (Value, Value) {
        let (mut event, mut reply, mut later) = (None, None, Vec::new());
        for _ in 0..1000 {
            let value = self.json().await;
            if value["type"] == kind && event.is_none() {
                event = Some(value);
            } else if value["reply_to"] == id {
                reply = Some(value);
            } else if event.is_some() {
                // Frames after the event are for the caller to read next.
                later.push(value);
            }
            if let (Some(_), Some(_)) = (&event, &reply) {
                break;
            }
        }
        for value in later.into_iter().rev() {
            self.pending.push_front(value);
        }
        (event.expect("the event"), reply.expect("the reply"))
    }

    /// The reply to the frame with `id`.
    pub async fn reply(&mut self, id: u64) -> Value {
        for _ in 0..1000 {
            let value = self.json().await;
            if value["reply_to"] == id {
                return value;
            }
        }
        panic!("no reply to {id}");
    }

    /// Reads until the server closes; answers the close code and reason.
    pub async fn closed(&mut self) -> (Option<u16>, String) {
        for _ in 0..100_000 {
            if let Received::Closed(code, reason) = self.receive().await {
                return (code, reason);
            }
        }
        panic!("the socket did not close");
    }

    pub async fn send_text(&mut self, text: impl Into<String>) {
        let text = text.into();
        // Remembered for the contract check of the reply; frames that are not JSON get an
        // error reply, which needs no type.
        if let Ok(frame) = serde_json::from_str::<Value>(&text)
            && let Some(id) = frame["id"].as_u64()
        {
            let kind = frame["type"].as_str().unwrap_or_default();
            self.sent.insert(id, kind.to_owned());
        }
        self.framed
            .send(Message::Text(text.into()))
            .await
            .expect("frame sent");
    }

    /// Sends a WebSocket ping control frame.
    pub async fn send_ping(&mut self) {
        self.framed
            .send(Message::Ping(Default::default()))
            .await
            .expect("ping sent");
    }

    pub async fn send(&mut self, frame: Value) {
        self.send_text(frame.to_string()).await;
    }

    pub async fn request(&mut self, id: u64, kind: &str, data: Value) -> Value {
        self.send(json!({ "id": id, "type": kind, "data": data }))
            .await;
        self.reply(id).await
    }
}

impl TestApp {
    /// Opens a socket with `token` (as a bearer header), resuming after `since`.
    pub async fn connect(&self, token: &str, since: Option<u64>) -> Socket {
        let path = match since {
            Some(since) => format!("/v1/ws?since={since}"),
            None => "/v1/ws".to_owned(),
        };
        let (_, framed) = self
            .client
            .ws(self.url(&path))
            .bearer_auth(token)
            .max_frame_size(1 << 20)
            .connect()
            .await
            .expect("websocket handshake");
        Socket::new(framed)
    }

    /// Opens a socket as a trusted proxy would forward it for client address `from`.
    pub async fn connect_forwarded(&self, token: &str, from: &str) -> Socket {
        let (_, framed) = self
            .client
            .ws(self.url("/v1/ws"))
            .bearer_auth(token)
            .set_header("x-forwarded-for", from)
            .connect()
            .await
            .expect("websocket handshake");
        Socket::new(framed)
    }

    /// Opens a socket and reads its `session.ready` notice.
    pub async fn connect_ready(&self, token: &str, since: Option<u64>) -> (Socket, Value) {
        let mut socket = self.connect(token, since).await;
        let ready = socket.json().await;
        assert_eq!(ready["type"], "session.ready", "{ready}");
        (socket, ready)
    }

    /// A token signed with the app's key for `user` with `roles`, valid `ttl_seconds`.
    pub fn mint(&self, user: UserId, roles: &[Role], ttl_seconds: i64) -> String {
        self.mint_with_scopes(user, roles, &[], ttl_seconds)
    }

    /// Like [`TestApp::mint`], with scopes (such as `content:premium`).
    pub fn mint_with_scopes(
        &self,
        user: UserId,
        roles: &[Role],
        scopes: &[&str],
        ttl_seconds: i64,
    ) -> String {
        let roles: BTreeSet<Role> = roles.iter().copied().collect();
        let scopes: BTreeSet<String> = scopes.iter().map(|s| (*s).to_owned()).collect();
        AccessTokens::from_settings(&self.settings.auth, self._data_dir.path())
            .expect("the app's generated key")
            .issue_for(&Principal::User(user), &roles, &scopes, ttl_seconds)
            .token
    }

    /// An admin's token for a fresh user id.
    pub fn admin(&self) -> String {
        self.mint(UserId::random(), &[Role::Member, Role::Admin], 600)
    }

    /// A drop's books as an admin reads them (`GET /v1/admin/drops/{id}`).
    pub async fn drop_books(&self, drop: &str) -> Value {
        let books = self
            .call(
                "GET",
                &format!("/v1/admin/drops/{drop}"),
                None,
                Some(&self.admin()),
            )
            .await;
        assert_eq!(books.status, 200, "{}", books.text);
        books.json()
    }

    /// A member's token for a fresh user id (no account is stored).
    pub fn member(&self) -> (UserId, String) {
        let user = UserId::random();
        (user, self.mint(user, &[Role::Member], 600))
    }

    /// A member with a stored account (for what needs the user to exist: follows, blocks),
    /// and a token of theirs.
    pub async fn member_account(&self) -> (UserId, String) {
        use fitpulse_actors::domain::{DisplayName, Locale, Units, now_millis};
        let user = UserId::random();
        let record = fitpulse_actors::ports::store::UserRecord {
            id: user,
            email: None,
            display_name: DisplayName::parse("Member").expect("valid"),
            password_hash: None,
            roles: [Role::Member].into(),
            locale: Locale::default(),
            units: Units::default(),
            device_id: None,
            created_at: now_millis(),
            email_verified: false,
            timezone: None,
        };
        self.stores
            .users
            .create_user(&record)
            .await
            .expect("stored");
        (user, self.mint(user, &[Role::Member], 600))
    }

    /// Pushes a custom event to `user` as an admin; answers its seq.
    pub async fn push(&self, user: UserId, kind: &str, data: Value) -> u64 {
        let admin = self.mint(UserId::random(), &[Role::Member, Role::Admin], 600);
        let response = self
            .call(
                "POST",
                &format!("/v1/admin/users/{user}/events"),
                Some(json!({ "type": kind, "data": data })),
                Some(&admin),
            )
            .await;
        assert_eq!(response.status, 202, "{}", response.text);
        response.json()["seq"].as_u64().expect("seq")
    }
}

/// Reads a metric's value (first sample whose line starts with `name`).
pub fn metric(text: &str, name: &str) -> f64 {
    text.lines()
        .find_map(|line| {
            line.strip_prefix(name)
                .and_then(|rest| rest.trim().parse().ok())
        })
        .unwrap_or(0.0)
}
