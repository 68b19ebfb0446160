//! What a change event says to re-read: one resource (or one API's children) of one
//! region, instead of the whole region.

/// One part of a region's inventory to re-read after a change to it.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Target {
    /// A REST API as a whole: its name and tags, its stages (and whatever else the
    /// read needs for it). Also what a created, imported, re-imported or deleted API
    /// costs.
    RestApi { api_id: String },
    /// One REST stage (GetStage).
    RestStage { api_id: String, stage: String },
    /// A v2 (HTTP or WebSocket) API as a whole.
    V2Api { api_id: String },
    /// One v2 stage (GetStage).
    V2Stage { api_id: String, stage: String },
    /// A v2 API's routes (GetRoutes).
    V2Routes { api_id: String },
    /// A v2 API's integrations (GetIntegrations).
    V2Integrations { api_id: String },
    /// A custom domain name (GetDomainName).
    DomainName { name: String },
    /// API Gateway's account settings of the region (UpdateAccount): nothing in the
    /// inventory holds them, but remediation's CloudWatch role precondition does, so
    /// the profiles covering the region re-evaluate without a read.
    Account,
}

impl Target {
    /// The API a target belongs to, when it is one API or part of one.
    pub fn api_id(&self) -> Option<&str> {
        match self {
            Target::RestApi { api_id }
            | Target::RestStage { api_id, .. }
            | Target::V2Api { api_id }
            | Target::V2Stage { api_id, .. }
            | Target::V2Routes { api_id }
            | Target::V2Integrations { api_id } => Some(api_id),
            Target::DomainName { .. } | Target::Account => None,
        }
    }

    /// Whether re-reading `self` also re-reads `other` (a whole API covers its stages,
    /// routes and integrations), so a burst of events on one API makes one read.
    pub fn covers(&self, other: &Target) -> bool {
        self == other
            || match self {
                Target::RestApi { api_id } => {
                    matches!(other, Target::RestStage { api_id: a, .. } if a == api_id)
                }
                Target::V2Api { api_id } => matches!(
                    other,
                    Target::V2Stage { api_id: a, .. }
                        | Target::V2Routes { api_id: a }
                        | Target::V2Integrations { api_id: a } if a == api_id
                ),
                _ => false,
            }
    }
}

/// The fewest targets that re-read everything `targets` name: duplicates go, and so do
/// parts of an API that is re-read whole. Sorted, so the reads go in a stable order.
pub fn coalesce(targets: impl IntoIterator<Item = Target>) -> Vec<Target> {
    let mut all: Vec<Target> = targets.into_iter().collect();
    all.sort();
    all.dedup();
    let wholes: Vec<Target> = all
        .iter()
        .filter(|t| matches!(t, Target::RestApi { .. } | Target::V2Api { .. }))
        .cloned()
        .collect();
    all.retain(|t| !wholes.iter().any(|whole| whole != t && whole.covers(t)));
    all
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rest_stage(api: &str, stage: &str) -> Target {
        Target::RestStage {
            api_id: api.into(),
            stage: stage.into(),
        }
    }

    #[test]
    fn a_burst_on_one_stage_is_one_read() {
        let burst = std::iter::repeat_n(rest_stage("a1", "prod"), 100);
        assert_eq!(coalesce(burst), vec![rest_stage("a1", "prod")]);
    }

    #[test]
    fn a_whole_api_covers_its_parts_and_nothing_else() {
        let targets = vec![
            rest_stage("a1", "prod"),
            Target::RestApi {
                api_id: "a1".into(),
            },
            rest_stage("a2", "prod"),
            Target::V2Routes {
                api_id: "v1".into(),
            },
            Target::V2Api {
                api_id: "v1".into(),
            },
            Target::V2Stage {
                api_id: "v2".into(),
                stage: "dev".into(),
            },
            Target::Account,
        ];
        assert_eq!(
            coalesce(targets),
            vec![
                Target::RestApi {
                    api_id: "a1".into()
                },
                rest_stage("a2", "prod"),
                Target::V2Api {
                    api_id: "v1".into()
                },
                Target::V2Stage {
                    api_id: "v2".into(),
                    stage: "dev".into()
                },
                Target::Account,
            ]
        );
    }
}
