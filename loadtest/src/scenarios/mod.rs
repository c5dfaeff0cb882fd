//! One module per scenario; each takes its arguments and answers a report. `rest`,
//! `spike` and `drop` share one open-loop engine (`open_loop`, recording into `tally`)
//! driven by a rate `profile`. `rest` and `spike` send a browsing app's requests
//! (`browse`): `workload` prepares them in the proportions of a `mix`, and `checks` judges
//! every answer. `drop` sends `buyers`' orders and `drop_audit` checks the drop's books;
//! with a waiting room, `drop_queue` takes each buyer through the queue to its order.
//! `login_burst` measures what a burst of strangers' logins costs the server; `push` what
//! a pushed feature message to many stored devices costs, through fake providers. `live`
//! can have its participants send metrics (`live_metrics`) and time the pushes they get.

pub mod broadcast;
mod browse;
mod buyers;
mod checks;
pub mod connect;
mod cue_latency;
pub mod drop;
mod drop_audit;
mod drop_queue;
pub mod live;
mod live_metrics;
pub mod login_burst;
pub mod mix;
pub mod open_loop;
pub mod profile;
pub mod push;
mod ramp;
pub mod rest;
pub mod spike;
mod tally;
pub mod workload;

pub use browse::LoadArgs;
pub use tally::Run;
