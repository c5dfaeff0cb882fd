//! `spike`: the launch-day shape. The same requests and checks as `rest`, but the arrival
//! rate climbs linearly from `--from` to `--rate` over `--ramp` (under a minute), then
//! holds; latency is reported for the ramp and the hold apart as well.

use serde_json::json;

use super::browse::{self, LoadArgs};
use super::profile::Profile;
use crate::LoadError;
use crate::report::Report;

#[derive(Debug, Clone, clap::Args)]
pub struct SpikeArgs {
    /// Requests per second at the start of the ramp.
    #[arg(long, default_value_t = 0)]
    pub from: u32,
    /// Requests per second at the top, held after the ramp.
    #[arg(long, default_value_t = 1000)]
    pub rate: u32,
    #[arg(long, default_value = "30s")]
    pub ramp: humantime::Duration,
    #[arg(long, default_value = "30s")]
    pub hold: humantime::Duration,
    #[command(flatten)]
    pub load: LoadArgs,
}

pub async fn run(args: SpikeArgs) -> Result<Report, LoadError> {
    let profile = Profile::spike(args.from, args.rate, args.ramp.into(), args.hold.into())?;
    let mut parameters = args.load.parameters();
    parameters.insert("from".into(), json!(args.from));
    parameters.insert("rate".into(), json!(args.rate));
    parameters.insert("ramp".into(), json!(args.ramp.to_string()));
    parameters.insert("hold".into(), json!(args.hold.to_string()));
    browse::run("spike", &args.load, profile, parameters).await
}
