//! Where remediation last wrote, so no shared read from before a write is reused
//! after it.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use crate::aws::identity::Identity;
use crate::crd::settings::MAX_INTERVAL;
use crate::inventory::cache::ReadKey;
use crate::model::outcome::{ApplyOutcome, ItemStatus};

/// When remediation last changed something, per identity and region.
///
/// Profiles share region reads for up to half their interval (see `inventory::cache`),
/// and a read that started before a change describes the stage as it was: reused after
/// it, the change would be planned again (a second write of the same value, a second
/// `Remediated` Event). So a profile's next scan reuses only reads that started after
/// the last write to its identity and regions. A read still running when the write
/// lands can still be joined; it is replaced by the next one.
#[derive(Debug, Default)]
pub struct Writes(Mutex<HashMap<ReadKey, Instant>>);

impl Writes {
    /// Notes the regions where `outcome` applied a setting, at `at` (after the calls).
    pub fn record(&self, identity: &Identity, outcome: &ApplyOutcome, at: Instant) {
        let mut writes = self.lock();
        for change in &outcome.changes {
            if change.items.iter().any(|i| i.status == ItemStatus::Applied) {
                writes.insert(
                    ReadKey {
                        identity: identity.clone(),
                        region: change.region.clone(),
                    },
                    at,
                );
            }
        }
    }

    /// `max_age`, shortened so that no read of `regions` started before the last write
    /// there is reused. Forgets writes older than any window can be.
    pub fn max_age(
        &self,
        identity: &Identity,
        regions: &[String],
        max_age: Duration,
        now: Instant,
    ) -> Duration {
        let mut writes = self.lock();
        writes.retain(|_, at| now.saturating_duration_since(*at) < MAX_INTERVAL);
        regions
            .iter()
            .filter_map(|region| {
                writes.get(&ReadKey {
                    identity: identity.clone(),
                    region: region.clone(),
                })
            })
            .map(|at| now.saturating_duration_since(*at))
            .fold(max_age, Duration::min)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<ReadKey, Instant>> {
        self.0
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::outcome::{ChangeOutcome, ItemOutcome};
    use crate::model::plan::Call;

    fn applied_in(region: &str, status: ItemStatus) -> ApplyOutcome {
        ApplyOutcome {
            changes: vec![ChangeOutcome {
                region: region.into(),
                resource_arn: format!("arn:aws:apigateway:{region}::/restapis/a/stages/prod"),
                call: Call {
                    operation: "apigateway:UpdateStage".into(),
                    http: "PATCH /restapis/a/stages/prod".into(),
                    request: serde_json::Value::Null,
                },
                items: vec![ItemOutcome {
                    control_id: crate::controls::xray_tracing::ID,
                    setting: "X-Ray tracing".into(),
                    before: "false".into(),
                    after: "true".into(),
                    status,
                    message: None,
                    kind: None,
                }],
                notes: Vec::new(),
            }],
            ..ApplyOutcome::default()
        }
    }

    #[test]
    fn a_read_from_before_a_write_is_not_reused_after_it() {
        let writes = Writes::default();
        let team = Identity::new(Some("arn:aws:iam::111122223333:role/a"), None);
        let regions = ["us-east-1".to_string(), "eu-west-1".to_string()];
        let window = Duration::from_secs(450);
        let start = Instant::now();
        assert_eq!(writes.max_age(&team, &regions, window, start), window);

        writes.record(&team, &applied_in("eu-west-1", ItemStatus::Applied), start);
        let later = start + Duration::from_secs(30);
        assert_eq!(
            writes.max_age(&team, &regions, window, later),
            Duration::from_secs(30),
            "only reads started after the write serve"
        );
        // Other identities and regions are not affected.
        assert_eq!(
            writes.max_age(&Identity::Operator, &regions, window, later),
            window
        );
        assert_eq!(writes.max_age(&team, &regions[..1], window, later), window);
        // Nothing applied (DryRun, refused): nothing to forget.
        writes.record(
            &team,
            &applied_in("us-east-1", ItemStatus::WouldApply),
            later,
        );
        assert_eq!(writes.max_age(&team, &regions[..1], window, later), window);
        // Old writes are forgotten.
        assert_eq!(
            writes.max_age(&team, &regions, window, start + MAX_INTERVAL),
            window
        );
    }
}
