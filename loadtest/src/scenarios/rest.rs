//! `rest`: catalog reads, likes, plan reads and plan edits at a constant arrival rate, open loop (see
//! `open_loop`): latency percentiles overall and per kind, answers by class, and every
//! body checked (the bar is 100% correct).

use serde_json::json;

use super::browse::{self, LoadArgs};
use super::profile::Profile;
use crate::LoadError;
use crate::report::Report;

#[derive(Debug, Clone, clap::Args)]
pub struct RestArgs {
    /// Requests per second, each due at a fixed time whatever earlier answers do.
    #[arg(long, default_value_t = 1000)]
    pub rate: u32,
    #[arg(long, default_value = "30s")]
    pub duration: humantime::Duration,
    #[command(flatten)]
    pub load: LoadArgs,
}

pub async fn run(args: RestArgs) -> Result<Report, LoadError> {
    let profile = Profile::steady(args.rate, args.duration.into())?;
    let mut parameters = args.load.parameters();
    parameters.insert("rate".into(), json!(args.rate));
    parameters.insert("duration".into(), json!(args.duration.to_string()));
    browse::run("rest", &args.load, profile, parameters).await
}
