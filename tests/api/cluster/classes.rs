//! A class with participants on all three nodes: every cue reaches all of them, the
//! leaderboard counts metrics from every node, and when the node holding the class drains
//! mid-class, everyone reconnects and catches up with nothing missed.

use std::time::Duration;

use fitpulse_actors::domain::{Role, UserId};
use serde_json::{Value, json};

use super::{Cluster, Transport, on_both_buses};
use crate::helpers::{TestApp, WAIT};
use crate::sockets::{Received, Socket};

/// A participant's socket and the class events it saw.
struct Participant {
    user: UserId,
    token: String,
    node: usize,
    socket: Socket,
    class: String,
    last_class_seq: u64,
    /// Texts of the cues, in class order.
    cues: Vec<String>,
    next_id: u64,
}

impl Participant {
    async fn join(cluster: &Cluster, node: usize, token: &str, user: UserId, class: &str) -> Self {
        let (socket, _) = cluster.node(node).connect_ready(token, None).await;
        let mut participant = Participant {
            user,
            token: token.to_owned(),
            node,
            socket,
            class: class.to_owned(),
            last_class_seq: 0,
            cues: Vec::new(),
            next_id: 1,
        };
        participant.send_join(None).await;
        participant
    }

    async fn send_join(&mut self, since: Option<u64>) {
        let mut data = json!({ "class_id": self.class });
        if let Some(since) = since {
            data["since"] = json!(since);
        }
        self.next_id += 1;
        let id = self.next_id;
        self.socket
            .send(json!({ "id": id, "type": "live.join", "data": data }))
            .await;
        let (_, reply) = self.socket.event_and_reply("live.snapshot", id).await;
        assert_eq!(reply["ok"], true, "{reply}");
    }

    fn record(&mut self, frame: &Value) {
        let kind = frame["type"].as_str().unwrap_or_default();
        if !matches!(kind, "live.started" | "live.cue" | "live.ended") {
            return;
        }
        let seq = frame["class_seq"].as_u64().expect("class seq");
        assert_eq!(seq, self.last_class_seq + 1, "gap or repeat at {frame}");
        self.last_class_seq = seq;
        if kind == "live.cue" {
            self.cues
                .push(frame["data"]["text"].as_str().unwrap_or_default().into());
        }
    }

    /// Reads until `count` cues arrived; after a close, reconnects to a node that is up
    /// and joins again with the class `since`.
    async fn read_cues(&mut self, count: usize, nodes: &[&TestApp], up: &[usize]) {
        let deadline = tokio::time::Instant::now() + WAIT;
        while self.cues.len() < count {
            assert!(
                tokio::time::Instant::now() < deadline,
                "only {:?}",
                self.cues
            );
            match self.socket.next().await {
                Received::Json(frame) => self.record(&frame),
                Received::Closed(code, _) => {
                    assert_eq!(code, Some(1001), "a drain closes with 1001");
                    if !up.contains(&self.node) {
                        self.node = up[0];
                    }
                    let (socket, _) = nodes[self.node].connect_ready(&self.token, None).await;
                    self.socket = socket;
                    self.send_join(Some(self.last_class_seq)).await;
                }
            }
        }
    }
}

async fn schedule(app: &TestApp, coach: &str) -> String {
    let starts = fitpulse_actors::events::rfc3339(fitpulse_actors::domain::now_millis() + 60_000);
    let response = app
        .call(
            "POST",
            "/v1/live/classes",
            Some(json!({
                "title": "Cluster HIIT", "scheduled_at": starts, "duration_minutes": 30,
                "premium": false,
            })),
            Some(coach),
        )
        .await;
    assert_eq!(response.status, 201, "{}", response.text);
    response.json()["id"].as_str().expect("id").to_owned()
}

/// Sends a cue through a fresh coach socket on `app`, retrying while the class moves (and,
/// as an app would, reconnecting while the coach's own session moves off a draining node).
async fn cue(app: &TestApp, coach: &str, class: &str, text: &str) -> u64 {
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        let mut socket = app.connect(coach, None).await;
        match socket.next().await {
            Received::Json(ready) => assert_eq!(ready["type"], "session.ready", "{ready}"),
            Received::Closed(Some(1011), reason) => {
                assert!(tokio::time::Instant::now() < deadline, "{reason}");
                tokio::time::sleep(Duration::from_millis(200)).await;
                continue;
            }
            other => panic!("expected session.ready, got {other:?}"),
        }
        let reply = socket
            .request(9, "live.cue", json!({ "class_id": class, "text": text }))
            .await;
        if reply["ok"] == true {
            return reply["data"]["class_seq"].as_u64().expect("class_seq");
        }
        assert_eq!(reply["error"]["code"], "unavailable", "{reply}");
        assert!(tokio::time::Instant::now() < deadline, "{reply}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

async fn a_class_on_three_nodes_gets_every_cue_and_survives_draining_its_holder(
    transport: Transport,
) {
    let Some(cluster) = Cluster::start(transport).await else {
        return;
    };
    let coach_id = UserId::random();
    let coach = cluster.mint(coach_id, &[Role::Member, Role::Coach]);
    let class = schedule(cluster.node(0), &coach).await;

    let mut people = Vec::new();
    for node in 0..3 {
        let user = UserId::random();
        let token = cluster.mint(user, &[Role::Member]);
        people.push(Participant::join(&cluster, node, &token, user, &class).await);
    }
    // The coach watches from node 1.
    let mut watcher = Participant::join(&cluster, 1, &coach, coach_id, &class).await;

    let started = cluster
        .node(2)
        .call(
            "POST",
            &format!("/v1/live/classes/{class}/start"),
            None,
            Some(&coach),
        )
        .await;
    assert_eq!(started.status, 200, "{}", started.text);
    assert_eq!(cue(cluster.node(1), &coach, &class, "warm up").await, 2);
    assert_eq!(cue(cluster.node(2), &coach, &class, "sprint").await, 3);
    let nodes: Vec<&TestApp> = cluster.nodes.iter().collect();
    for person in people.iter_mut() {
        person.read_cues(2, &nodes, &[0, 1, 2]).await;
        assert_eq!(person.cues, ["warm up", "sprint"]);
    }

    // Metrics from every node make one leaderboard.
    for (person, output) in people.iter_mut().zip([10.0, 20.0, 5.0]) {
        let reply = person
            .socket
            .request(
                3,
                "live.metric",
                json!({ "class_id": class, "output": output }),
            )
            .await;
        assert_eq!(reply["ok"], true, "{reply}");
    }
    let expected: Vec<String> = [1, 0, 2]
        .iter()
        .map(|&i| people[i].user.to_string())
        .collect();
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        let board = watcher.socket.event("live.leaderboard").await;
        let top: Vec<String> = board["data"]["top"]
            .as_array()
            .expect("top")
            .iter()
            .map(|e| e["user_id"].as_str().expect("user").to_owned())
            .filter(|u| *u != coach_id.to_string())
            .collect();
        if top == expected {
            break;
        }
        assert!(tokio::time::Instant::now() < deadline, "{board}");
    }

    // Drain the node holding the class (it runs only there).
    let mut holders = Vec::new();
    for n in 0..3 {
        if cluster.load(n, "classes").await == 1 {
            holders.push(n);
        }
    }
    assert_eq!(
        holders.len(),
        1,
        "exactly one node runs the class: {holders:?}"
    );
    let holder = holders[0];
    cluster.node(holder).lifecycle.request_shutdown();
    let up: Vec<usize> = (0..3).filter(|n| *n != holder).collect();
    let seq = cue(cluster.node(up[0]), &coach, &class, "cool down").await;
    assert_eq!(seq, 4, "the class went on from where it was");
    for person in people.iter_mut() {
        person.read_cues(3, &nodes, &up).await;
        assert_eq!(
            person.cues,
            ["warm up", "sprint", "cool down"],
            "{}",
            person.user
        );
    }
    assert!(
        people.iter().any(|p| p.node != holder),
        "participants on the other nodes stayed"
    );
}

on_both_buses!(a_class_on_three_nodes_gets_every_cue_and_survives_draining_its_holder);
