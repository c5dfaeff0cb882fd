//! One module per scenario; each takes its arguments and answers a report.

pub mod connect;
pub mod live;
mod ramp;
