//! Resources remediation must not write to, whatever the profile says: those that opt
//! out with the tag `apigwcompliance.io/remediate: "false"`, and those an
//! infrastructure-as-code tool owns (a tag such as `aws:cloudformation:stack-name`): a
//! change made there would be reverted by the stack's next update, and the stack would
//! then be drifted, so the fix belongs in the template. The changes on them are still
//! planned, so the plan shows what to change there, and held back (pure; both shells).
//!
//! The tags are read with the resource (GetStages, GetRestApis, GetApis and
//! GetDomainNames return them), so this costs no call. A stage is held back when the
//! stage or its API carries such a tag.

use std::collections::BTreeMap;

use crate::controls::planning::Resource;
use crate::model::plan::{Hold, HoldReason};

/// The tag a resource (or its API) opts out of remediation with, set to `"false"`.
pub const OPT_OUT_TAG: &str = "apigwcompliance.io/remediate";

/// The tag CloudFormation (and so SAM, CDK and the Serverless Framework) puts on every
/// resource of a stack, naming the stack.
pub const CLOUDFORMATION_STACK_TAG: &str = "aws:cloudformation:stack-name";

/// The tag keys that say infrastructure as code owns a resource. Default: CloudFormation's
/// stack tag.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OwnershipTags(Vec<String>);

impl Default for OwnershipTags {
    fn default() -> Self {
        OwnershipTags(vec![CLOUDFORMATION_STACK_TAG.to_string()])
    }
}

impl OwnershipTags {
    /// The given keys, trimmed, empty ones dropped (an empty flag value turns the
    /// check off), each once.
    pub fn new(keys: impl IntoIterator<Item = String>) -> Self {
        let mut kept: Vec<String> = Vec::new();
        for key in keys {
            let key = key.trim();
            if !key.is_empty() && !kept.iter().any(|k| k == key) {
                kept.push(key.to_string());
            }
        }
        OwnershipTags(kept)
    }

    pub fn keys(&self) -> &[String] {
        &self.0
    }

    /// Whether remediation must leave `resource` alone, and why: its opt-out tag
    /// first (the resource's, then its API's), then the ownership tags in the order
    /// given.
    pub fn owner(&self, resource: &Resource<'_>) -> Option<Hold> {
        let tagged = tagged_parts(resource);
        for (part, tags) in &tagged {
            if tags
                .get(OPT_OUT_TAG)
                .is_some_and(|v| v.trim().eq_ignore_ascii_case("false"))
            {
                return Some(Hold {
                    reason: HoldReason::OptedOut,
                    owner: format!("tag {OPT_OUT_TAG}=false on {part}"),
                    message: format!(
                        "remediation is turned off for {part} by its tag {OPT_OUT_TAG}=false: fix it by hand, or remove the tag to let remediation fix it"
                    ),
                });
            }
        }
        for key in &self.0 {
            for (part, tags) in &tagged {
                let Some(value) = tags.get(key) else {
                    continue;
                };
                return Some(if key == CLOUDFORMATION_STACK_TAG {
                    Hold {
                        reason: HoldReason::OwnedElsewhere,
                        owner: format!("CloudFormation stack {value}"),
                        message: format!(
                            "owned by CloudFormation stack {value} (tag {key} on {part}): the stack would revert a change made here; fix it in the template"
                        ),
                    }
                } else {
                    Hold {
                        reason: HoldReason::OwnedElsewhere,
                        owner: format!("{key}={value}"),
                        message: format!(
                            "owned by infrastructure as code (tag {key}={value} on {part}): its next apply would revert a change made here; fix it in its source"
                        ),
                    }
                });
            }
        }
        None
    }
}

/// The tags that speak for a resource, each with what carries them: the resource's
/// own, then its API's.
fn tagged_parts<'a>(resource: &Resource<'a>) -> Vec<(String, &'a BTreeMap<String, String>)> {
    match resource {
        Resource::RestStage(api, stage) => vec![
            (format!("stage {}", stage.name), &stage.tags),
            (format!("API {}", api.id), &api.tags),
        ],
        Resource::V2Stage(api, stage) => vec![
            (format!("stage {}", stage.name), &stage.tags),
            (format!("API {}", api.id), &api.tags),
        ],
        Resource::Route(api, _) | Resource::Integration(api, _) => {
            vec![(format!("API {}", api.id), &api.tags)]
        }
        Resource::DomainName(domain) => {
            vec![(format!("domain name {}", domain.name), &domain.tags)]
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::inventory::{DomainName, RestApi, RestStage};

    fn tags(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    fn api(pairs: &[(&str, &str)]) -> RestApi {
        RestApi {
            id: "a1b2c3".into(),
            tags: tags(pairs),
            ..RestApi::default()
        }
    }

    fn stage(pairs: &[(&str, &str)]) -> RestStage {
        RestStage {
            name: "prod".into(),
            tags: tags(pairs),
            ..RestStage::default()
        }
    }

    #[test]
    fn an_untagged_stage_is_remediated() {
        let (api, stage) = (api(&[("team", "orders")]), stage(&[]));
        assert_eq!(
            OwnershipTags::default().owner(&Resource::RestStage(&api, &stage)),
            None
        );
    }

    #[test]
    fn the_opt_out_tag_on_the_stage_or_its_api_holds_it_back() {
        let bare = api(&[]);
        let opted = stage(&[(OPT_OUT_TAG, "false")]);
        let hold = OwnershipTags::default()
            .owner(&Resource::RestStage(&bare, &opted))
            .expect("held");
        assert_eq!(hold.reason, HoldReason::OptedOut);
        assert!(hold.message.contains("stage prod"), "{}", hold.message);

        let opted_api = api(&[(OPT_OUT_TAG, " FALSE ")]);
        let hold = OwnershipTags::default()
            .owner(&Resource::RestStage(&opted_api, &stage(&[])))
            .expect("held");
        assert_eq!(
            (hold.reason, hold.owner.as_str()),
            (
                HoldReason::OptedOut,
                "tag apigwcompliance.io/remediate=false on API a1b2c3"
            )
        );

        // Any other value leaves remediation on.
        let explicit = stage(&[(OPT_OUT_TAG, "true")]);
        assert_eq!(
            OwnershipTags::default().owner(&Resource::RestStage(&bare, &explicit)),
            None
        );
    }

    #[test]
    fn a_cloudformation_stack_owns_its_stages_and_the_message_names_it() {
        let stack = api(&[(CLOUDFORMATION_STACK_TAG, "orders-prod")]);
        let hold = OwnershipTags::default()
            .owner(&Resource::RestStage(&stack, &stage(&[])))
            .expect("held");
        assert_eq!(hold.reason, HoldReason::OwnedElsewhere);
        assert_eq!(hold.owner, "CloudFormation stack orders-prod");
        assert_eq!(
            hold.message,
            "owned by CloudFormation stack orders-prod (tag aws:cloudformation:stack-name on API a1b2c3): the stack would revert a change made here; fix it in the template"
        );
    }

    #[test]
    fn the_opt_out_tag_wins_over_an_ownership_tag() {
        let both = stage(&[
            (CLOUDFORMATION_STACK_TAG, "orders-prod"),
            (OPT_OUT_TAG, "false"),
        ]);
        let hold = OwnershipTags::default()
            .owner(&Resource::RestStage(&api(&[]), &both))
            .expect("held");
        assert_eq!(hold.reason, HoldReason::OptedOut);
    }

    #[test]
    fn ownership_tags_are_configurable_and_can_be_turned_off() {
        let terraform = stage(&[("managed-by", "terraform")]);
        let bare = api(&[]);
        let resource = Resource::RestStage(&bare, &terraform);
        assert_eq!(OwnershipTags::default().owner(&resource), None);
        let configured = OwnershipTags::new(["managed-by".to_string(), " ".to_string()]);
        assert_eq!(configured.keys(), ["managed-by"]);
        let hold = configured.owner(&resource).expect("held");
        assert_eq!(hold.owner, "managed-by=terraform");
        assert!(
            hold.message.contains("fix it in its source"),
            "{}",
            hold.message
        );

        let stack = stage(&[(CLOUDFORMATION_STACK_TAG, "s")]);
        let off = OwnershipTags::new([String::new()]);
        assert!(off.keys().is_empty());
        assert_eq!(off.owner(&Resource::RestStage(&bare, &stack)), None);
    }

    #[test]
    fn a_domain_name_speaks_for_itself() {
        let domain = DomainName {
            name: "api.example.com".into(),
            tags: tags(&[(OPT_OUT_TAG, "false")]),
            ..DomainName::default()
        };
        let hold = OwnershipTags::default()
            .owner(&Resource::DomainName(&domain))
            .expect("held");
        assert!(hold.owner.ends_with("on domain name api.example.com"));
    }
}
