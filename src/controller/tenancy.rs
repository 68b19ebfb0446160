//! Tenancy: which AWS identities a profile may make the operator use.
//!
//! A profile in any namespace must not be able to make the operator act in any AWS
//! account it likes. The operator's own configuration (a YAML or JSON file given with
//! `run --tenancy-config FILE`, usually mounted from a ConfigMap) maps namespaces to the
//! IAM roles their profiles may assume, and says where the operator's own identity may
//! be used. Everything not granted is denied, including everything when no file is
//! given. The check runs before any AWS call.
//!
//! ```yaml
//! namespaces:
//!   - namespace: team-payments          # a name or a glob (team-*)
//!     allowedRoleArns:                  # exact ARNs or globs
//!       - arn:aws:iam::111122223333:role/apigw-compliance-audit
//!   - namespace: platform
//!     allowOperatorIdentity: true       # profiles without roleArn use the operator's identity
//! ```
//!
//! A namespace matched by several entries gets the union of their grants. The file is
//! read once at start; change it and restart the operator (the Helm chart does so
//! through a checksum annotation).

use globset::GlobMatcher;
use serde::Deserialize;

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
    allowed_role_arns: Vec<String>,
    #[serde(default)]
    allow_operator_identity: bool,
}

#[derive(Debug)]
struct Grant {
    namespace: GlobMatcher,
    roles: Vec<GlobMatcher>,
    operator_identity: bool,
}

/// The compiled tenancy configuration.
#[derive(Debug, Default)]
pub struct Tenancy {
    grants: Vec<Grant>,
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
        "the tenancy configuration {path} is not valid: {source} (expected `namespaces:` entries with `namespace`, `allowedRoleArns`, `allowOperatorIdentity`; see docs/operator.md)"
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
}

/// Why a profile may not be scanned with the identity it asks for. The message is
/// shown in the profile's `Stalled` condition.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Denial {
    #[error(
        "namespace {namespace} may not assume role {role}: ask the operator's administrator to add it to allowedRoleArns for this namespace in the tenancy configuration, or use a role that is listed"
    )]
    Role { namespace: String, role: String },
    #[error(
        "namespace {namespace} may not use the operator's own AWS identity: set spec.scope.roleArn to a role allowed for this namespace, or ask the operator's administrator to set allowOperatorIdentity for it in the tenancy configuration"
    )]
    OperatorIdentity { namespace: String },
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
        let grants = file
            .namespaces
            .iter()
            .enumerate()
            .map(|(index, g)| {
                Ok(Grant {
                    namespace: compile(index, "namespace", &g.namespace)?,
                    roles: g
                        .allowed_role_arns
                        .iter()
                        .map(|r| compile(index, "role ARN", r))
                        .collect::<Result<_, _>>()?,
                    operator_identity: g.allow_operator_identity,
                })
            })
            .collect::<Result<_, TenancyError>>()?;
        Ok(Tenancy { grants })
    }

    /// Whether a profile in `namespace` may be scanned as `role` (or, when `None`, with
    /// the operator's own identity).
    pub fn check(&self, namespace: &str, role: Option<&str>) -> Result<(), Denial> {
        let mut grants = self
            .grants
            .iter()
            .filter(|g| g.namespace.is_match(namespace));
        let allowed = match role {
            Some(role) => grants.any(|g| g.roles.iter().any(|r| r.is_match(role))),
            None => grants.any(|g| g.operator_identity),
        };
        if allowed {
            return Ok(());
        }
        Err(match role {
            Some(role) => Denial::Role {
                namespace: namespace.to_string(),
                role: role.to_string(),
            },
            None => Denial::OperatorIdentity {
                namespace: namespace.to_string(),
            },
        })
    }

    /// Whether nothing at all is granted (the operator will stall every profile).
    pub fn denies_everything(&self) -> bool {
        self.grants
            .iter()
            .all(|g| g.roles.is_empty() && !g.operator_identity)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const CONFIG: &str = r#"
namespaces:
  - namespace: team-payments
    allowedRoleArns:
      - arn:aws:iam::111122223333:role/apigw-audit
  - namespace: "team-*"
    allowedRoleArns:
      - "arn:aws:iam::444455556666:role/shared-*"
  - namespace: platform
    allowOperatorIdentity: true
"#;

    fn tenancy() -> Tenancy {
        Tenancy::parse("test", CONFIG).expect("test config parses")
    }

    #[test]
    fn a_listed_role_is_allowed_in_its_namespace_only() {
        let t = tenancy();
        let role = "arn:aws:iam::111122223333:role/apigw-audit";
        assert_eq!(t.check("team-payments", Some(role)), Ok(()));
        assert_eq!(
            t.check("team-billing", Some(role)),
            Err(Denial::Role {
                namespace: "team-billing".into(),
                role: role.into()
            })
        );
    }

    #[test]
    fn globs_match_namespaces_and_roles_and_grants_add_up() {
        let t = tenancy();
        let shared = "arn:aws:iam::444455556666:role/shared-readonly";
        assert_eq!(t.check("team-billing", Some(shared)), Ok(()));
        assert_eq!(t.check("team-payments", Some(shared)), Ok(()));
        assert!(t.check("platform", Some(shared)).is_err());
    }

    #[test]
    fn the_operator_identity_is_denied_unless_granted() {
        let t = tenancy();
        assert_eq!(t.check("platform", None), Ok(()));
        assert_eq!(
            t.check("team-payments", None),
            Err(Denial::OperatorIdentity {
                namespace: "team-payments".into()
            })
        );
    }

    #[test]
    fn no_configuration_denies_everything() {
        let t = Tenancy::default();
        assert!(t.denies_everything());
        assert!(t.check("default", None).is_err());
        assert!(
            t.check("default", Some("arn:aws:iam::111122223333:role/x"))
                .is_err()
        );
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
    }

    #[test]
    fn the_denial_message_says_what_to_do() {
        let msg = tenancy()
            .check("team-payments", None)
            .expect_err("denied")
            .to_string();
        assert!(msg.contains("spec.scope.roleArn"), "{msg}");
        assert!(msg.contains("allowOperatorIdentity"), "{msg}");
    }
}
