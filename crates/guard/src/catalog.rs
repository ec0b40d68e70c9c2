//! The action catalog: every write pagerless can make, with its risk.

use pagerless_model::ActionKind;
use serde::{Deserialize, Serialize};

/// How much harm a write can do if it is wrong.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Risk {
    /// Undone by itself or by a controller (a pod restart, a PR that a human reviews).
    Low,
    /// Changes capacity or state a controller keeps (scale, clear a cache).
    Medium,
    /// Changes what runs or where (rollback, cordon, ending sessions).
    High,
    /// Can lose data or cut traffic: never automatic, whatever the policy says.
    Critical,
}

/// The risk of each kind of write.
pub fn risk(kind: ActionKind) -> Risk {
    match kind {
        ActionKind::RestartPod | ActionKind::OpenPullRequest | ActionKind::Uncordon => Risk::Low,
        ActionKind::Scale
        | ActionKind::ClearCache
        | ActionKind::RolloutRestart
        | ActionKind::RunCommand => Risk::Medium,
        ActionKind::Rollback
        | ActionKind::Cordon
        | ActionKind::RaiseLimit
        | ActionKind::TerminateIdleSessions => Risk::High,
        ActionKind::DeleteVolume | ActionKind::ChangeNetworkPolicy | ActionKind::ChangeRoutes => {
            Risk::Critical
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_kind_has_a_risk_and_destructive_ones_are_critical() {
        let critical: Vec<ActionKind> = ActionKind::ALL
            .into_iter()
            .filter(|k| risk(*k) == Risk::Critical)
            .collect();
        assert_eq!(
            critical,
            [
                ActionKind::DeleteVolume,
                ActionKind::ChangeNetworkPolicy,
                ActionKind::ChangeRoutes
            ]
        );
        assert_eq!(risk(ActionKind::RestartPod), Risk::Low);
        assert_eq!(risk(ActionKind::Scale), Risk::Medium);
        assert_eq!(risk(ActionKind::Rollback), Risk::High);
    }
}
