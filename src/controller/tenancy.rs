//! Tenancy: which AWS identities a profile may make the operator use, with which
//! external id, and whether it may change anything.
//!
//! A profile in any namespace must not be able to make the operator act in any AWS
//! account it likes, nor stretch a grant meant for reading into writing. The operator's
//! own configuration (a YAML or JSON file given with `run --tenancy-config FILE`,
//! usually mounted from a ConfigMap) grants namespaces the IAM roles their profiles may
//! assume, each with the external id they must use with it and whether they may run
//! `Enforce`, and says where the operator's own identity may be used. Everything not
//! granted is denied, including everything when no file is given. The check runs
//! before any AWS call.
//!
//! ```yaml
//! namespaces:
//!   - namespace: team-payments          # a name or a glob (team-*)
//!     roles:
//!       - roleArn: arn:aws:iam::111122223333:role/apigw-compliance-scan   # exact, or a glob
//!         externalId: team-payments-7f3c9a   # the profile's spec.scope.externalId must be this
//!         enforce: true                      # may run Enforce; Observe and DryRun otherwise
//!   - namespace: platform
//!     operatorIdentity:                 # profiles without roleArn use the operator's identity
//!       enforce: false
//! ```
//!
//! A role grant without `externalId` admits only profiles without one; `anyExternalId:
//! true` admits any (said explicitly, since it lets the namespace use the role with
//! whatever external id another team's trust policy names). The keys of before
//! external ids and Enforce were granted, `allowedRoleArns` and `allowOperatorIdentity`,
//! still work with the safe meaning: no external id, no Enforce.
//!
//! A namespace matched by several entries gets the union of their grants. The file is
//! read once at start; change it and restart the operator (the Helm chart does so
//! through a checksum annotation).

use globset::GlobMatcher;
use serde::Deserialize;

use crate::crd::{ComplianceProfileSpec, RemediationMode};

/// The file's shape.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct TenancyFile {
    #[serde(default)]
    namespaces: Vec<NamespaceGrant>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct NamespaceGrant {
    namespace: String,
    #[serde(default)]
    roles: Vec<RoleGrantEntry>,
    #[serde(default)]
    operator_identity: Option<OperatorIdentityEntry>,
    /// Role ARNs granted without an external id and without Enforce (the key of before
    /// `roles`).
    #[serde(default)]
    allowed_role_arns: Vec<String>,
    /// `operatorIdentity: {}` (the key of before `operatorIdentity`).
    #[serde(default)]
    allow_operator_identity: bool,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct RoleGrantEntry {
    role_arn: String,
    #[serde(default)]
    external_id: Option<String>,
    #[serde(default)]
    any_external_id: bool,
    #[serde(default)]
    enforce: bool,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct OperatorIdentityEntry {
    #[serde(default)]
    enforce: bool,
}

/// The external ids a role grant admits.
#[derive(Debug, Clone, PartialEq, Eq)]
enum ExternalIds {
    /// Only profiles without an external id.
    None,
    /// Only this one.
    Exactly(String),
    /// Any, or none (granted explicitly).
    Any,
}

impl ExternalIds {
    fn admit(&self, given: Option<&str>) -> bool {
        match self {
            ExternalIds::None => given.is_none(),
            ExternalIds::Exactly(id) => given == Some(id.as_str()),
            ExternalIds::Any => true,
        }
    }
}

#[derive(Debug)]
struct RoleGrant {
    role: GlobMatcher,
    external_ids: ExternalIds,
    enforce: bool,
}

#[derive(Debug)]
struct Grant {
    namespace: GlobMatcher,
    roles: Vec<RoleGrant>,
    /// `Some(enforce)` when profiles without a role may use the operator's identity.
    operator_identity: Option<bool>,
}

/// The compiled tenancy configuration.
#[derive(Debug, Default)]
pub struct Tenancy {
    grants: Vec<Grant>,
    /// How many entries use the keys of before external ids and Enforce were granted.
    legacy_entries: usize,
}

/// Why a tenancy file could not be used.
#[derive(Debug, thiserror::Error)]
pub enum TenancyError {
    #[error("cannot read the tenancy configuration {path}: {source}")]
    Read {
        path: String,
        source: std::io::Error,
    },
    #[error(
        "the tenancy configuration {path} is not valid: {source} (expected `namespaces:` entries with `namespace`, `roles` (`roleArn`, `externalId` or `anyExternalId`, `enforce`), `operatorIdentity` (`enforce`); see docs/operator.md)"
    )]
    Parse {
        path: String,
        source: serde_yaml::Error,
    },
    #[error(
        "the tenancy configuration {path}: entry {index}: {what} {glob:?} is not a valid glob: {message}"
    )]
    Glob {
        path: String,
        index: usize,
        what: &'static str,
        glob: String,
        message: String,
    },
    #[error("the tenancy configuration {path}: entry {index}, role {role}: {message}")]
    RoleGrant {
        path: String,
        index: usize,
        role: String,
        message: String,
    },
}

/// Why a profile may not be scanned as it asks. The message is shown in the profile's
/// `Stalled` condition.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Denial {
    #[error(
        "namespace {namespace} may not assume role {role}: ask the operator's administrator to grant it to this namespace (roles in the tenancy configuration), or use a role that is granted"
    )]
    Role { namespace: String, role: String },
    #[error(
        "namespace {namespace} may not assume role {role} {}: the tenancy configuration grants this role to the namespace with another external id; set spec.scope.externalId to the one granted to this namespace, or ask the operator's administrator to grant the role with this one (roles[].externalId in the tenancy configuration)",
        match external_id { Some(id) => format!("with external id {id:?}"), None => "without an external id".to_string() }
    )]
    ExternalId {
        namespace: String,
        role: String,
        external_id: Option<String>,
    },
    #[error(
        "namespace {namespace} may not use the operator's own AWS identity: set spec.scope.roleArn to a role granted to this namespace, or ask the operator's administrator to grant operatorIdentity to it in the tenancy configuration"
    )]
    OperatorIdentity { namespace: String },
    #[error(
        "namespace {namespace} may not run Enforce with {identity}: its tenancy grant allows Observe and DryRun only; set spec.remediation.mode to DryRun (to see the changes) or Observe, or ask the operator's administrator to set enforce: true on the grant in the tenancy configuration"
    )]
    Enforce { namespace: String, identity: String },
}

/// The longest external id STS accepts, and the characters it accepts (the same as the
/// profile's `spec.scope.externalId`): a grant with another could never be used.
const EXTERNAL_ID_MAX_LENGTH: usize = 1224;

fn check_external_id(id: &str) -> Result<(), String> {
    let allowed = |c: char| c.is_ascii_alphanumeric() || "+=,.@:/_-".contains(c);
    if (2..=EXTERNAL_ID_MAX_LENGTH).contains(&id.len()) && id.chars().all(allowed) {
        Ok(())
    } else {
        Err(format!(
            "externalId {id:?} is not an external id STS accepts (2 to {EXTERNAL_ID_MAX_LENGTH} of A-Z a-z 0-9 + = , . @ : / _ -)"
        ))
    }
}

impl Tenancy {
    /// Reads and compiles a tenancy file (YAML, or JSON, which is YAML too).
    pub fn load(path: &std::path::Path) -> Result<Self, TenancyError> {
        let shown = path.display().to_string();
        let text = std::fs::read_to_string(path).map_err(|source| TenancyError::Read {
            path: shown.clone(),
            source,
        })?;
        Self::parse(&shown, &text)
    }

    /// Compiles tenancy configuration text; `path` only names it in errors.
    pub fn parse(path: &str, text: &str) -> Result<Self, TenancyError> {
        let file: TenancyFile = if text.trim().is_empty() {
            TenancyFile::default()
        } else {
            serde_yaml::from_str(text).map_err(|source| TenancyError::Parse {
                path: path.to_string(),
                source,
            })?
        };
        let compile = |index: usize, what: &'static str, glob: &str| {
            globset::Glob::new(glob)
                .map(|g| g.compile_matcher())
                .map_err(|e| TenancyError::Glob {
                    path: path.to_string(),
                    index,
                    what,
                    glob: glob.to_string(),
                    message: e.kind().to_string(),
                })
        };
        let role_grant = |index: usize, entry: &RoleGrantEntry| {
            let invalid = |message: String| TenancyError::RoleGrant {
                path: path.to_string(),
                index,
                role: entry.role_arn.clone(),
                message,
            };
            let external_ids = match (&entry.external_id, entry.any_external_id) {
                (Some(_), true) => {
                    return Err(invalid(
                        "externalId and anyExternalId: true contradict each other; keep one"
                            .to_string(),
                    ));
                }
                (Some(id), false) => {
                    check_external_id(id).map_err(invalid)?;
                    ExternalIds::Exactly(id.clone())
                }
                (None, true) => ExternalIds::Any,
                (None, false) => ExternalIds::None,
            };
            Ok(RoleGrant {
                role: compile(index, "role ARN", &entry.role_arn)?,
                external_ids,
                enforce: entry.enforce,
            })
        };
        let mut grants = Vec::with_capacity(file.namespaces.len());
        let mut legacy_entries = 0;
        for (index, entry) in file.namespaces.iter().enumerate() {
            let mut roles = entry
                .roles
                .iter()
                .map(|r| role_grant(index, r))
                .collect::<Result<Vec<_>, _>>()?;
            for arn in &entry.allowed_role_arns {
                roles.push(RoleGrant {
                    role: compile(index, "role ARN", arn)?,
                    external_ids: ExternalIds::None,
                    enforce: false,
                });
            }
            let operator_identity = match (&entry.operator_identity, entry.allow_operator_identity)
            {
                (Some(grant), _) => Some(grant.enforce),
                (None, true) => Some(false),
                (None, false) => None,
            };
            if !entry.allowed_role_arns.is_empty() || entry.allow_operator_identity {
                legacy_entries += 1;
            }
            grants.push(Grant {
                namespace: compile(index, "namespace", &entry.namespace)?,
                roles,
                operator_identity,
            });
        }
        Ok(Tenancy {
            grants,
            legacy_entries,
        })
    }

    /// Whether a profile in `namespace` may be scanned as its spec asks: with its role
    /// and external id (or, without a role, the operator's own identity), and, in
    /// `Enforce`, with a grant that allows changes.
    pub fn check(&self, namespace: &str, spec: &ComplianceProfileSpec) -> Result<(), Denial> {
        let scope = &spec.scope;
        let enforce = spec.remediation.mode == RemediationMode::Enforce;
        let grants = self
            .grants
            .iter()
            .filter(|g| g.namespace.is_match(namespace));
        let enforce_denied = |identity: String| Denial::Enforce {
            namespace: namespace.to_string(),
            identity,
        };
        let Some(role) = scope.role_arn.as_deref() else {
            let modes: Vec<bool> = grants.filter_map(|g| g.operator_identity).collect();
            if modes.is_empty() {
                return Err(Denial::OperatorIdentity {
                    namespace: namespace.to_string(),
                });
            }
            if enforce && !modes.contains(&true) {
                return Err(enforce_denied(
                    "the operator's own AWS identity".to_string(),
                ));
            }
            return Ok(());
        };
        let granted: Vec<&RoleGrant> = grants
            .flat_map(|g| &g.roles)
            .filter(|r| r.role.is_match(role))
            .collect();
        if granted.is_empty() {
            return Err(Denial::Role {
                namespace: namespace.to_string(),
                role: role.to_string(),
            });
        }
        let external_id = scope.external_id.as_deref();
        let admitted: Vec<&&RoleGrant> = granted
            .iter()
            .filter(|r| r.external_ids.admit(external_id))
            .collect();
        if admitted.is_empty() {
            return Err(Denial::ExternalId {
                namespace: namespace.to_string(),
                role: role.to_string(),
                external_id: external_id.map(str::to_string),
            });
        }
        if enforce && !admitted.iter().any(|r| r.enforce) {
            return Err(enforce_denied(format!("role {role}")));
        }
        Ok(())
    }

    /// Whether nothing at all is granted (the operator will stall every profile).
    pub fn denies_everything(&self) -> bool {
        self.grants
            .iter()
            .all(|g| g.roles.is_empty() && g.operator_identity.is_none())
    }

    /// How many entries still use `allowedRoleArns` or `allowOperatorIdentity`, which
    /// grant no external id and no Enforce.
    pub fn legacy_entries(&self) -> usize {
        self.legacy_entries
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const AUDIT: &str = "arn:aws:iam::111122223333:role/apigw-audit";
    const SCAN: &str = "arn:aws:iam::444455556666:role/apigw-compliance-scan";

    const CONFIG: &str = r#"
namespaces:
  - namespace: team-payments
    roles:
      - roleArn: arn:aws:iam::111122223333:role/apigw-audit
        externalId: payments-7f3c
      - roleArn: arn:aws:iam::444455556666:role/apigw-compliance-scan
        externalId: payments-7f3c
        enforce: true
  - namespace: "team-*"
    roles:
      - roleArn: "arn:aws:iam::444455556666:role/shared-*"
        externalId: teams-shared
  - namespace: platform
    operatorIdentity:
      enforce: true
    roles:
      - roleArn: "arn:aws:iam::444455556666:role/*"
        anyExternalId: true
  - namespace: observers
    operatorIdentity: {}
"#;

    fn tenancy() -> Tenancy {
        Tenancy::parse("test", CONFIG).expect("test config parses")
    }

    fn spec(
        role: Option<&str>,
        external_id: Option<&str>,
        mode: RemediationMode,
    ) -> ComplianceProfileSpec {
        let mut spec: ComplianceProfileSpec =
            serde_json::from_value(serde_json::json!({"scope": {"regions": ["us-east-1"]}}))
                .expect("a minimal spec");
        spec.scope.role_arn = role.map(str::to_string);
        spec.scope.external_id = external_id.map(str::to_string);
        spec.remediation.mode = mode;
        spec
    }

    fn observe(role: Option<&str>, external_id: Option<&str>) -> ComplianceProfileSpec {
        spec(role, external_id, RemediationMode::Observe)
    }

    fn enforce(role: Option<&str>, external_id: Option<&str>) -> ComplianceProfileSpec {
        spec(role, external_id, RemediationMode::Enforce)
    }

    #[test]
    fn a_granted_role_is_allowed_in_its_namespace_only() {
        let t = tenancy();
        let granted = observe(Some(AUDIT), Some("payments-7f3c"));
        assert_eq!(t.check("team-payments", &granted), Ok(()));
        assert_eq!(
            t.check("team-billing", &granted),
            Err(Denial::Role {
                namespace: "team-billing".into(),
                role: AUDIT.into()
            })
        );
    }

    #[test]
    fn a_granted_role_with_another_external_id_or_none_is_refused() {
        let t = tenancy();
        for given in [Some("billing-1234"), None] {
            assert_eq!(
                t.check("team-payments", &observe(Some(AUDIT), given)),
                Err(Denial::ExternalId {
                    namespace: "team-payments".into(),
                    role: AUDIT.into(),
                    external_id: given.map(str::to_string),
                }),
                "{given:?}"
            );
        }
        let message = t
            .check("team-payments", &observe(Some(AUDIT), Some("billing-1234")))
            .expect_err("refused")
            .to_string();
        assert!(message.contains("\"billing-1234\""), "{message}");
        assert!(message.contains("spec.scope.externalId"), "{message}");
        // The id granted is not shown to whoever reads the profile's status.
        assert!(!message.contains("payments-7f3c"), "{message}");
    }

    #[test]
    fn enforce_needs_a_grant_that_says_so() {
        let t = tenancy();
        // The audit role is granted for Observe and DryRun only.
        for mode in [RemediationMode::Observe, RemediationMode::DryRun] {
            assert_eq!(
                t.check(
                    "team-payments",
                    &spec(Some(AUDIT), Some("payments-7f3c"), mode)
                ),
                Ok(())
            );
        }
        let denied = t
            .check(
                "team-payments",
                &enforce(Some(AUDIT), Some("payments-7f3c")),
            )
            .expect_err("no Enforce grant");
        assert_eq!(
            denied,
            Denial::Enforce {
                namespace: "team-payments".into(),
                identity: format!("role {AUDIT}"),
            }
        );
        let message = denied.to_string();
        assert!(message.contains("spec.remediation.mode"), "{message}");
        assert!(message.contains("enforce: true"), "{message}");
        // The scan role's grant allows Enforce, with its external id only.
        assert_eq!(
            t.check("team-payments", &enforce(Some(SCAN), Some("payments-7f3c"))),
            Ok(())
        );
        assert!(matches!(
            t.check("team-payments", &enforce(Some(SCAN), Some("other"))),
            Err(Denial::ExternalId { .. })
        ));
    }

    #[test]
    fn globs_match_namespaces_and_roles_and_grants_add_up() {
        let t = tenancy();
        let shared = observe(
            Some("arn:aws:iam::444455556666:role/shared-readonly"),
            Some("teams-shared"),
        );
        assert_eq!(t.check("team-billing", &shared), Ok(()));
        // team-payments is also a team-*: it gets the shared grant besides its own.
        assert_eq!(t.check("team-payments", &shared), Ok(()));
        assert!(t.check("observers", &shared).is_err());
    }

    #[test]
    fn any_external_id_is_granted_only_explicitly() {
        let t = tenancy();
        for given in [Some("whatever-id"), None] {
            assert_eq!(t.check("platform", &observe(Some(SCAN), given)), Ok(()));
        }
        // No Enforce with that grant either.
        assert!(matches!(
            t.check("platform", &enforce(Some(SCAN), None)),
            Err(Denial::Enforce { .. })
        ));
    }

    #[test]
    fn the_operator_identity_is_denied_unless_granted_and_enforce_only_when_said() {
        let t = tenancy();
        assert_eq!(t.check("platform", &enforce(None, None)), Ok(()));
        assert_eq!(t.check("observers", &observe(None, None)), Ok(()));
        assert_eq!(
            t.check("observers", &enforce(None, None)),
            Err(Denial::Enforce {
                namespace: "observers".into(),
                identity: "the operator's own AWS identity".into(),
            })
        );
        assert_eq!(
            t.check("team-payments", &observe(None, None)),
            Err(Denial::OperatorIdentity {
                namespace: "team-payments".into()
            })
        );
    }

    #[test]
    fn the_keys_of_before_grant_no_external_id_and_no_enforce() {
        let t = Tenancy::parse(
            "old.yaml",
            &format!(
                "namespaces:\n  - namespace: team-a\n    allowedRoleArns: [\"{AUDIT}\"]\n  - namespace: demo\n    allowOperatorIdentity: true\n"
            ),
        )
        .expect("the old keys still parse");
        assert_eq!(t.legacy_entries(), 2);
        assert_eq!(t.check("team-a", &observe(Some(AUDIT), None)), Ok(()));
        assert!(matches!(
            t.check("team-a", &observe(Some(AUDIT), Some("team-a-id"))),
            Err(Denial::ExternalId { .. })
        ));
        assert!(matches!(
            t.check("team-a", &enforce(Some(AUDIT), None)),
            Err(Denial::Enforce { .. })
        ));
        assert_eq!(
            t.check("demo", &spec(None, None, RemediationMode::DryRun)),
            Ok(())
        );
        assert!(matches!(
            t.check("demo", &enforce(None, None)),
            Err(Denial::Enforce { .. })
        ));
        assert_eq!(tenancy().legacy_entries(), 0);
    }

    #[test]
    fn a_grant_that_could_never_be_used_or_contradicts_itself_is_refused() {
        let both = format!(
            "namespaces:\n  - namespace: a\n    roles:\n      - roleArn: {AUDIT}\n        externalId: x1\n        anyExternalId: true\n"
        );
        let err = Tenancy::parse("t.yaml", &both).expect_err("contradiction");
        assert!(err.to_string().contains("anyExternalId"), "{err}");
        let bad_id = format!(
            "namespaces:\n  - namespace: a\n    roles:\n      - roleArn: {AUDIT}\n        externalId: \"has spaces\"\n"
        );
        let err = Tenancy::parse("t.yaml", &bad_id).expect_err("not an external id");
        assert!(err.to_string().contains("entry 0, role"), "{err}");
    }

    #[test]
    fn no_configuration_denies_everything() {
        let t = Tenancy::default();
        assert!(t.denies_everything());
        assert!(t.check("default", &observe(None, None)).is_err());
        assert!(t.check("default", &observe(Some(AUDIT), None)).is_err());
        assert!(
            Tenancy::parse("empty", "")
                .expect("empty is valid")
                .denies_everything()
        );
        assert!(!tenancy().denies_everything());
    }

    #[test]
    fn unknown_fields_are_refused_so_typos_do_not_grant_or_deny_silently() {
        let err = Tenancy::parse(
            "t.yaml",
            "namespaces:\n  - namespace: a\n    allowedRoles: [x]\n",
        )
        .expect_err("typo");
        assert!(err.to_string().contains("allowedRoles"), "{err}");
        let err = Tenancy::parse(
            "t.yaml",
            &format!("namespaces:\n  - namespace: a\n    roles:\n      - roleArn: {AUDIT}\n        enforced: true\n"),
        )
        .expect_err("typo in a role grant");
        assert!(err.to_string().contains("enforced"), "{err}");
    }

    /// The yaml block of `text` that follows `after` and holds `namespaces:`, as a
    /// tenancy file (a chart values block loses its `tenancy:` level).
    fn documented(text: &str, after: &str) -> Tenancy {
        let from = text.find(after).expect("the section");
        let block = text[from..]
            .split("```yaml\n")
            .nth(1)
            .and_then(|rest| rest.split("```").next())
            .expect("a yaml block");
        let value: serde_yaml::Value = serde_yaml::from_str(block).expect("yaml");
        let file = value.get("tenancy").cloned().unwrap_or(value);
        Tenancy::parse(after, &serde_yaml::to_string(&file).expect("yaml")).expect("valid")
    }

    /// What the docs show a team grants exactly what it says: each role by its exact
    /// ARN (no glob, so no other account's role of that name) with one external id.
    #[test]
    fn the_documented_examples_grant_nothing_broader_than_they_say() {
        let examples = [
            Tenancy::parse("tenancy.yaml", include_str!("../../examples/tenancy.yaml"))
                .expect("the example parses"),
            documented(include_str!("../../docs/operator.md"), "## Tenancy"),
            documented(
                include_str!("../../docs/operations.md"),
                "3. **Tenancy** (chart values)",
            ),
            documented(
                include_str!("../../charts/apigw-compliance/README.md"),
                "with `tenancy-values.yaml`",
            ),
        ];
        for tenancy in &examples {
            assert_eq!(tenancy.legacy_entries(), 0);
            for grant in &tenancy.grants {
                for role in &grant.roles {
                    let arn = role.role.glob().glob();
                    assert!(!arn.contains(['*', '?', '[', '{']), "a glob: {arn}");
                    assert!(
                        matches!(role.external_ids, ExternalIds::Exactly(_)),
                        "{arn}: {:?}",
                        role.external_ids
                    );
                }
            }
        }
        // And the example admits what its comments say, nothing more.
        let example = &examples[0];
        let audit = "arn:aws:iam::111122223333:role/apigw-compliance-audit";
        let readonly = "arn:aws:iam::444455556666:role/apigw-readonly";
        let billing = Some("billing-apigw-compliance");
        assert_eq!(
            example.check(
                "team-payments",
                &enforce(Some(audit), Some("payments-apigw-compliance"))
            ),
            Ok(())
        );
        assert!(
            example
                .check(
                    "team-billing",
                    &spec(Some(readonly), billing, RemediationMode::DryRun)
                )
                .is_ok()
        );
        assert!(
            example
                .check("team-billing", &enforce(Some(readonly), billing))
                .is_err()
        );
        assert!(
            example
                .check("team-billing", &observe(Some(audit), billing))
                .is_err()
        );
        assert!(example.check("apigw-demo", &enforce(None, None)).is_ok());
        assert!(
            example
                .check("team-payments", &observe(None, None))
                .is_err()
        );
    }

    #[test]
    fn the_denial_message_says_what_to_do() {
        let msg = tenancy()
            .check("team-payments", &observe(None, None))
            .expect_err("denied")
            .to_string();
        assert!(msg.contains("spec.scope.roleArn"), "{msg}");
        assert!(msg.contains("operatorIdentity"), "{msg}");
    }
}
