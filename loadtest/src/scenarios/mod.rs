//! One module per scenario; each takes its arguments and answers a report. `rest` and
//! `spike` share one open-loop engine (`open_loop`) driven by a rate `profile`; `workload`
//! prepares their requests in the proportions of a `mix`, and `checks` judges every answer.

mod checks;
pub mod connect;
pub mod live;
pub mod mix;
pub mod open_loop;
pub mod profile;
mod ramp;
pub mod rest;
pub mod spike;
pub mod workload;
