//! Plan changes as the user's session receives them: a `PlanOp` with whether the caller
//! may pick premium items, as JSON, so a change made through any node can be applied by
//! the node holding the user's session. Rejections travel back as JSON `PlanError`s.

use std::sync::Arc;

use fitpulse_actors::session::{PlanChange, PlanEditor};
use serde::{Deserialize, Serialize};

use super::Content;
use super::plan::{self, PlanError, PlanOp};

#[derive(Debug, Serialize, Deserialize)]
pub struct PlanCommand {
    pub op: PlanOp,
    pub premium: bool,
}

impl PlanCommand {
    pub fn to_json(&self) -> String {
        serde_json::to_string(self).expect("a plan command serializes")
    }
}

/// Reads a rejection sent back by `PlanCommands`.
pub fn rejection(json: &str) -> PlanError {
    serde_json::from_str(json).unwrap_or(PlanError::Corrupt)
}

/// Applies plan commands against the catalog of this node.
pub struct PlanCommands(pub Arc<Content>);

impl PlanEditor for PlanCommands {
    fn apply(&self, command: &str, current: Option<&str>) -> Result<PlanChange, String> {
        let to_json = |err: PlanError| serde_json::to_string(&err).expect("an error serializes");
        let command: PlanCommand =
            serde_json::from_str(command).map_err(|_| to_json(PlanError::Corrupt))?;
        plan::apply(command.op, current, &self.0.catalog, command.premium).map_err(to_json)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn commands_and_rejections_survive_the_trip() {
        let command = PlanCommand {
            op: PlanOp::Check {
                week: 2,
                line_id: "oats".into(),
                checked: true,
            },
            premium: true,
        };
        let back: PlanCommand = serde_json::from_str(&command.to_json()).expect("json");
        assert!(back.premium);
        assert!(matches!(
            back.op,
            PlanOp::Check {
                week: 2,
                checked: true,
                ..
            }
        ));
        let err = PlanError::WeekOutOfRange { week: 9, weeks: 4 };
        let json = serde_json::to_string(&err).expect("json");
        assert_eq!(rejection(&json), err);
        assert_eq!(rejection("not json"), PlanError::Corrupt);
    }
}
