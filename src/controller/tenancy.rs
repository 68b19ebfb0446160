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
//!     roles:
//!       - roleArn: arn:aws:iam::111122223333:role/apigw-compliance-org-reader
//!         externalId: platform-lister-1      # the role that lists the organization
//!     organizations:                    # profiles with spec.scope.organization
//!       - listWith: arn:aws:iam::111122223333:role/apigw-compliance-org-reader
//!         memberRoleName: apigw-compliance-audit   # spec.scope.organization.roleName
//!         externalId: platform-audit-9d2e          # spec.scope.organization.externalId
//!         organizationalUnits: [ou-ab12-cd34ef56]  # absent: the whole organization
//!         enforce: false                           # Enforce in the member accounts
//! ```
//!
//! A profile with `spec.scope.organization` lists an organization's accounts (as its
//! `roleArn`, or the operator's identity) and assumes a member role in each of them: a
//! role grant must not stretch into that. Such a profile is admitted only when an
//! `organizations` entry of its namespace grants all of it: the listing identity
//! (`listWith`, an exact ARN or a glob; absent: the operator's identity), which pins the
//! organization; the member role name and its external id; the organizational units
//! (each unit the profile names must be one the entry lists, exactly: telling a unit's
//! ancestors needs AWS calls, and this check makes none, so a unit below a granted one
//! must be granted itself); and, in `Enforce`, `enforce: true`. The listing identity
//! must also be granted as usual (`roles`, or `operatorIdentity`, with its external
//! id), but not its `enforce`: nothing is changed through the identity that lists.
//! `organizations` entries grant profiles without `organization` nothing.
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

use crate::crd::validate::{is_organizational_unit_id, is_role_name};
use crate::crd::{ComplianceProfileSpec, OrganizationScope, RemediationMode, Scope};

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
    #[serde(default)]
    organizations: Vec<OrganizationGrantEntry>,
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

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct OrganizationGrantEntry {
    /// The role (ARN or glob) the accounts are listed with; absent: the operator's own
    /// identity.
    #[serde(default)]
    list_with: Option<String>,
    member_role_name: String,
    #[serde(default)]
    external_id: Option<String>,
    #[serde(default)]
    any_external_id: bool,
    /// Absent: the whole organization.
    #[serde(default)]
    organizational_units: Option<Vec<String>>,
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

/// May list an organization's accounts with one identity and assume one member role in
/// them.
#[derive(Debug)]
struct OrganizationGrant {
    /// `None`: the operator's own identity lists.
    list_with: Option<GlobMatcher>,
    member_role_name: String,
    external_ids: ExternalIds,
    /// `None`: the whole organization; otherwise the units a profile may name.
    organizational_units: Option<Vec<String>>,
    enforce: bool,
}

impl OrganizationGrant {
    fn lists_with(&self, role: Option<&str>) -> bool {
        match (&self.list_with, role) {
            (Some(granted), Some(role)) => granted.is_match(role),
            (None, None) => true,
            _ => false,
        }
    }

    /// Whether the profile's units are all granted (a profile without units asks for
    /// the whole organization).
    fn admits_units(&self, units: &[String]) -> bool {
        match &self.organizational_units {
            None => true,
            Some(granted) => !units.is_empty() && units.iter().all(|u| granted.contains(u)),
        }
    }
}

#[derive(Debug)]
struct Grant {
    namespace: GlobMatcher,
    roles: Vec<RoleGrant>,
    /// `Some(enforce)` when profiles without a role may use the operator's identity.
    operator_identity: Option<bool>,
    organizations: Vec<OrganizationGrant>,
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
        "the tenancy configuration {path} is not valid: {source} (expected `namespaces:` entries with `namespace`, `roles` (`roleArn`, `externalId` or `anyExternalId`, `enforce`), `operatorIdentity` (`enforce`), `organizations` (`listWith`, `memberRoleName`, `externalId` or `anyExternalId`, `organizationalUnits`, `enforce`); see docs/operator.md)"
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
    #[error(
        "the tenancy configuration {path}: entry {index}, organizations[{position}] (memberRoleName {member_role_name:?}): {message}"
    )]
    OrganizationGrant {
        path: String,
        index: usize,
        position: usize,
        member_role_name: String,
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
    #[error(
        "namespace {namespace} may not scan the accounts of an AWS organization: remove spec.scope.organization to scan one account, or ask the operator's administrator to grant the organization to this namespace (organizations in the tenancy configuration, with listWith, memberRoleName, externalId and organizationalUnits)"
    )]
    Organization { namespace: String },
    #[error(
        "namespace {namespace} may not list an organization's accounts {}: the organizations granted to this namespace are listed with another identity; set spec.scope.roleArn to the role the grant names (or remove it when the grant lists with the operator's identity), or ask the operator's administrator to grant this one (organizations[].listWith in the tenancy configuration)",
        match listed_with { Some(role) => format!("with role {role}"), None => "with the operator's own AWS identity".to_string() }
    )]
    OrganizationListing {
        namespace: String,
        listed_with: Option<String>,
    },
    #[error(
        "namespace {namespace} may not assume the member role {role_name} in an organization's accounts: set spec.scope.organization.roleName to the member role granted to this namespace, or ask the operator's administrator to grant this one (organizations[].memberRoleName in the tenancy configuration)"
    )]
    MemberRole {
        namespace: String,
        role_name: String,
    },
    #[error(
        "namespace {namespace} may not assume the member role {role_name} {}: the tenancy configuration grants this member role to the namespace with another external id; set spec.scope.organization.externalId to the one granted to this namespace, or ask the operator's administrator to grant it with this one (organizations[].externalId in the tenancy configuration)",
        match external_id { Some(id) => format!("with external id {id:?}"), None => "without an external id".to_string() }
    )]
    MemberExternalId {
        namespace: String,
        role_name: String,
        external_id: Option<String>,
    },
    #[error(
        "namespace {namespace} may scan only some organizational units of this organization, not all of it: list them in spec.scope.organization.organizationalUnits, or ask the operator's administrator to grant the whole organization (an organizations entry without organizationalUnits in the tenancy configuration)"
    )]
    WholeOrganization { namespace: String },
    #[error(
        "namespace {namespace} {}",
        if units.is_empty() {
            "may scan each of these organizational units, but no single grant covers them all: split the profile into one per grant, or ask the operator's administrator to grant them in one organizations entry of the tenancy configuration".to_string()
        } else {
            format!("may not scan the organizational units {}: remove them from spec.scope.organization.organizationalUnits (a unit below a granted one is granted only when named itself), or ask the operator's administrator to add them to organizations[].organizationalUnits in the tenancy configuration", units.join(", "))
        }
    )]
    OrganizationalUnits {
        namespace: String,
        /// The units no grant names; empty when each is granted, by different grants.
        units: Vec<String>,
    },
    #[error(
        "namespace {namespace} may not run Enforce in an organization's accounts with the member role {role_name}: its organization grant allows Observe and DryRun only; set spec.remediation.mode to DryRun (to see the changes) or Observe, or ask the operator's administrator to set enforce: true on the grant (organizations[].enforce in the tenancy configuration)"
    )]
    OrganizationEnforce {
        namespace: String,
        role_name: String,
    },
    #[error(
        "namespace {namespace} may not assume role {role} to list an organization's accounts: its organization grant lists with this role, but the role itself is not granted to the namespace; ask the operator's administrator to grant it (roles in the tenancy configuration, with the external id of spec.scope.externalId; enforce is not needed, nothing is changed through the role that lists)"
    )]
    ListingRole { namespace: String, role: String },
    #[error(
        "namespace {namespace} may not use the operator's own AWS identity to list an organization's accounts: its organization grant lists with it, but operatorIdentity is not granted to the namespace; ask the operator's administrator to grant operatorIdentity to it in the tenancy configuration (enforce is not needed, nothing is changed through the identity that lists)"
    )]
    ListingOperatorIdentity { namespace: String },
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

/// The external ids a grant with `externalId` and `anyExternalId` admits.
fn external_ids(external_id: Option<&str>, any: bool) -> Result<ExternalIds, String> {
    match (external_id, any) {
        (Some(_), true) => {
            Err("externalId and anyExternalId: true contradict each other; keep one".to_string())
        }
        (Some(id), false) => {
            check_external_id(id)?;
            Ok(ExternalIds::Exactly(id.to_string()))
        }
        (None, true) => Ok(ExternalIds::Any),
        (None, false) => Ok(ExternalIds::None),
    }
}

/// An IAM role name, with an optional path (`audit/apigw-compliance`), as the profile's
/// `spec.scope.organization.roleName` accepts it: a grant of another could never be
/// used.
fn check_role_name(name: &str) -> Result<(), String> {
    if is_role_name(name) {
        Ok(())
    } else {
        Err(format!(
            "memberRoleName {name:?} is not an IAM role name such as apigw-compliance-audit (letters, digits and +=,.@_-, with an optional path: audit/apigw-compliance)"
        ))
    }
}

/// An organizational unit id (`ou-ab12-cd34ef56`) or a root id (`r-ab12`), as the
/// profile's `spec.scope.organization.organizationalUnits` accepts them.
fn check_organizational_unit(id: &str) -> Result<(), String> {
    if is_organizational_unit_id(id) {
        Ok(())
    } else {
        Err(format!(
            "organizationalUnits: {id:?} is not an organizational unit id such as ou-ab12-cd34ef56 (or a root id such as r-ab12)"
        ))
    }
}

/// Whether the namespace's `grants` admit the profile's own identity (its role and
/// external id, or the operator's identity), and whether one admitting it allows
/// Enforce.
fn identity(namespace: &str, grants: &[&Grant], scope: &Scope) -> Result<bool, Denial> {
    let Some(role) = scope.role_arn.as_deref() else {
        let modes: Vec<bool> = grants.iter().filter_map(|g| g.operator_identity).collect();
        if modes.is_empty() {
            return Err(Denial::OperatorIdentity {
                namespace: namespace.to_string(),
            });
        }
        return Ok(modes.contains(&true));
    };
    let granted: Vec<&RoleGrant> = grants
        .iter()
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
    Ok(admitted.iter().any(|r| r.enforce))
}

/// Whether one `organizations` entry of the namespace's `grants` admits all of the
/// profile's organization: how it is listed, the member role and its external id, the
/// units, and Enforce. Each step keeps the entries that admit what the steps before
/// checked, so the denial names the first field no entry admits.
fn check_organization(
    namespace: &str,
    grants: &[&Grant],
    scope: &Scope,
    organization: &OrganizationScope,
    enforce: bool,
) -> Result<(), Denial> {
    let namespace_owned = || namespace.to_string();
    let mut admitted: Vec<&OrganizationGrant> =
        grants.iter().flat_map(|g| &g.organizations).collect();
    if admitted.is_empty() {
        return Err(Denial::Organization {
            namespace: namespace_owned(),
        });
    }
    let listed_with = scope.role_arn.as_deref();
    admitted.retain(|o| o.lists_with(listed_with));
    if admitted.is_empty() {
        return Err(Denial::OrganizationListing {
            namespace: namespace_owned(),
            listed_with: listed_with.map(str::to_string),
        });
    }
    let role_name = &organization.role_name;
    admitted.retain(|o| &o.member_role_name == role_name);
    if admitted.is_empty() {
        return Err(Denial::MemberRole {
            namespace: namespace_owned(),
            role_name: role_name.clone(),
        });
    }
    let external_id = organization.external_id.as_deref();
    admitted.retain(|o| o.external_ids.admit(external_id));
    if admitted.is_empty() {
        return Err(Denial::MemberExternalId {
            namespace: namespace_owned(),
            role_name: role_name.clone(),
            external_id: external_id.map(str::to_string),
        });
    }
    let units = &organization.organizational_units;
    let before_units: Vec<&OrganizationGrant> = admitted.clone();
    admitted.retain(|o| o.admits_units(units));
    if admitted.is_empty() {
        if units.is_empty() {
            return Err(Denial::WholeOrganization {
                namespace: namespace_owned(),
            });
        }
        // No entry here grants the whole organization (it would have admitted them).
        let not_granted = units
            .iter()
            .filter(|u| {
                !before_units
                    .iter()
                    .filter_map(|o| o.organizational_units.as_ref())
                    .any(|granted| granted.contains(u))
            })
            .cloned()
            .collect();
        return Err(Denial::OrganizationalUnits {
            namespace: namespace_owned(),
            units: not_granted,
        });
    }
    if enforce && !admitted.iter().any(|o| o.enforce) {
        return Err(Denial::OrganizationEnforce {
            namespace: namespace_owned(),
            role_name: role_name.clone(),
        });
    }
    Ok(())
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
            let external_ids = external_ids(entry.external_id.as_deref(), entry.any_external_id)
                .map_err(invalid)?;
            Ok(RoleGrant {
                role: compile(index, "role ARN", &entry.role_arn)?,
                external_ids,
                enforce: entry.enforce,
            })
        };
        let organization_grant = |index: usize, position: usize, entry: &OrganizationGrantEntry| {
            let invalid = |message: String| TenancyError::OrganizationGrant {
                path: path.to_string(),
                index,
                position,
                member_role_name: entry.member_role_name.clone(),
                message,
            };
            check_role_name(&entry.member_role_name).map_err(invalid)?;
            let external_ids = external_ids(entry.external_id.as_deref(), entry.any_external_id)
                .map_err(invalid)?;
            if let Some(units) = &entry.organizational_units {
                if units.is_empty() {
                    return Err(invalid(
                        "organizationalUnits: [] would admit no profile; list the units, or leave the key out to grant the whole organization".to_string(),
                    ));
                }
                for unit in units {
                    check_organizational_unit(unit).map_err(invalid)?;
                }
            }
            Ok(OrganizationGrant {
                list_with: entry
                    .list_with
                    .as_deref()
                    .map(|role| compile(index, "listWith role ARN", role))
                    .transpose()?,
                member_role_name: entry.member_role_name.clone(),
                external_ids,
                organizational_units: entry.organizational_units.clone(),
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
            let organizations = entry
                .organizations
                .iter()
                .enumerate()
                .map(|(position, o)| organization_grant(index, position, o))
                .collect::<Result<Vec<_>, _>>()?;
            grants.push(Grant {
                namespace: compile(index, "namespace", &entry.namespace)?,
                roles,
                operator_identity,
                organizations,
            });
        }
        Ok(Tenancy {
            grants,
            legacy_entries,
        })
    }

    /// Whether a profile in `namespace` may be scanned as its spec asks: with its role
    /// and external id (or, without a role, the operator's own identity), and, in
    /// `Enforce`, with a grant that allows changes. A profile of an organization needs
    /// an `organizations` grant besides the grant of the identity that lists.
    pub fn check(&self, namespace: &str, spec: &ComplianceProfileSpec) -> Result<(), Denial> {
        let grants: Vec<&Grant> = self
            .grants
            .iter()
            .filter(|g| g.namespace.is_match(namespace))
            .collect();
        let enforce = spec.remediation.mode == RemediationMode::Enforce;
        let scope = &spec.scope;
        let Some(organization) = &scope.organization else {
            let may_enforce = identity(namespace, &grants, scope)?;
            if enforce && !may_enforce {
                return Err(Denial::Enforce {
                    namespace: namespace.to_string(),
                    identity: match &scope.role_arn {
                        Some(role) => format!("role {role}"),
                        None => "the operator's own AWS identity".to_string(),
                    },
                });
            }
            return Ok(());
        };
        check_organization(namespace, &grants, scope, organization, enforce)?;
        // Nothing is written through the identity that lists: its Enforce is not needed.
        identity(namespace, &grants, scope)
            .map(|_| ())
            .map_err(|denial| match denial {
                Denial::Role { namespace, role } => Denial::ListingRole { namespace, role },
                Denial::OperatorIdentity { namespace } => {
                    Denial::ListingOperatorIdentity { namespace }
                }
                other => other,
            })
    }

    /// Whether nothing at all is granted (the operator will stall every profile).
    /// `organizations` entries alone grant nothing: the identity that lists must be
    /// granted too.
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
    /// ARN (no glob, so no other account's role of that name) with one external id, and
    /// each organization by its exact listing role, with the member role's external id.
    #[test]
    fn the_documented_examples_grant_nothing_broader_than_they_say() {
        let examples = [
            Tenancy::parse("tenancy.yaml", include_str!("../../examples/tenancy.yaml"))
                .expect("the example parses"),
            documented(include_str!("../../docs/operator.md"), "## Tenancy"),
            documented(include_str!("../../docs/operator.md"), "### Organizations"),
            documented(
                include_str!("../../docs/iam/organization.md"),
                "## 4. The tenancy grant",
            ),
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
                for organization in &grant.organizations {
                    let lister = organization
                        .list_with
                        .as_ref()
                        .map(|l| l.glob().glob())
                        .expect("the examples list with a role");
                    assert!(!lister.contains(['*', '?', '[', '{']), "a glob: {lister}");
                    assert!(
                        matches!(organization.external_ids, ExternalIds::Exactly(_)),
                        "{lister}: {:?}",
                        organization.external_ids
                    );
                }
            }
        }
        for documented_organization in &examples[2..=3] {
            assert!(
                documented_organization
                    .grants
                    .iter()
                    .any(|g| !g.organizations.is_empty())
            );
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
        // The platform team's organization: its unit, DryRun, as granted; not the whole
        // organization, not Enforce, not from another namespace.
        let lister = "arn:aws:iam::222233334444:role/apigw-compliance-org-reader";
        let platform = |units: &[&str], mode| {
            org_spec(
                Some((lister, "org-list-5e6f7a")),
                "apigw-compliance-audit",
                Some("org-audit-1234"),
                units,
                mode,
            )
        };
        let unit = ["ou-ab12-cd34ef56"];
        assert_eq!(
            example.check("platform", &platform(&unit, RemediationMode::DryRun)),
            Ok(())
        );
        assert!(
            example
                .check("platform", &platform(&[], RemediationMode::Observe))
                .is_err()
        );
        assert!(
            example
                .check("platform", &platform(&unit, RemediationMode::Enforce))
                .is_err()
        );
        assert!(
            example
                .check("team-payments", &platform(&unit, RemediationMode::Observe))
                .is_err()
        );
    }

    const LISTER: &str = "arn:aws:iam::111122223333:role/apigw-compliance-org-reader";
    const MEMBER: &str = "apigw-compliance-audit";
    const OU_A: &str = "ou-ab12-cd34ef56";
    const OU_B: &str = "ou-ab12-aaaa1111";
    const OU_C: &str = "ou-ab12-bbbb2222";

    const ORG_CONFIG: &str = r#"
namespaces:
  - namespace: platform
    roles:
      - roleArn: arn:aws:iam::111122223333:role/apigw-compliance-org-reader
        externalId: platform-lister-1
    organizations:
      - listWith: arn:aws:iam::111122223333:role/apigw-compliance-org-reader
        memberRoleName: apigw-compliance-audit
        externalId: platform-audit-9d2e
        organizationalUnits: [ou-ab12-cd34ef56, ou-ab12-aaaa1111]
      - listWith: arn:aws:iam::111122223333:role/apigw-compliance-org-reader
        memberRoleName: apigw-compliance-audit
        externalId: platform-audit-9d2e
        organizationalUnits: [ou-ab12-bbbb2222]
        enforce: true
  - namespace: security
    operatorIdentity: {}
    organizations:
      - memberRoleName: audit/apigw-compliance
        enforce: true
  - namespace: lister-only
    roles:
      - roleArn: arn:aws:iam::111122223333:role/apigw-compliance-org-reader
        externalId: lister-only-1
    organizations:
      - listWith: arn:aws:iam::111122223333:role/apigw-compliance-org-reader
        memberRoleName: apigw-compliance-audit
        externalId: lister-only-audit
  - namespace: unlisted
    organizations:
      - listWith: arn:aws:iam::111122223333:role/apigw-compliance-org-reader
        memberRoleName: apigw-compliance-audit
        externalId: unlisted-audit
      - memberRoleName: apigw-compliance-audit
        externalId: unlisted-audit
  - namespace: everything
    roles:
      - roleArn: "*"
        anyExternalId: true
        enforce: true
    operatorIdentity:
      enforce: true
"#;

    fn org_tenancy() -> Tenancy {
        Tenancy::parse("org", ORG_CONFIG).expect("the organization config parses")
    }

    /// A profile of an organization listed as `lister` (with `lister_id`), assuming
    /// `member` with `member_id` in the accounts of `units` (the whole organization
    /// when empty).
    fn org_spec(
        lister: Option<(&str, &str)>,
        member: &str,
        member_id: Option<&str>,
        units: &[&str],
        mode: RemediationMode,
    ) -> ComplianceProfileSpec {
        let mut spec = spec(lister.map(|l| l.0), lister.map(|l| l.1), mode);
        spec.scope.organization = Some(OrganizationScope {
            role_name: member.to_string(),
            external_id: member_id.map(str::to_string),
            organizational_units: units.iter().map(|u| u.to_string()).collect(),
            ..OrganizationScope::default()
        });
        spec
    }

    /// A platform profile as granted, in `mode`, over `units`.
    fn platform(units: &[&str], mode: RemediationMode) -> ComplianceProfileSpec {
        org_spec(
            Some((LISTER, "platform-lister-1")),
            MEMBER,
            Some("platform-audit-9d2e"),
            units,
            mode,
        )
    }

    #[test]
    fn an_organization_is_scanned_only_as_its_grant_says() {
        let t = org_tenancy();
        assert_eq!(
            t.check("platform", &platform(&[OU_A], RemediationMode::Observe)),
            Ok(())
        );
        assert_eq!(
            t.check(
                "platform",
                &platform(&[OU_A, OU_B], RemediationMode::DryRun)
            ),
            Ok(())
        );
        // Listed by the operator's identity, member role with a path, no external id.
        let security = org_spec(
            None,
            "audit/apigw-compliance",
            None,
            &[],
            RemediationMode::Enforce,
        );
        assert_eq!(t.check("security", &security), Ok(()));
        // The grant is the namespace's own.
        assert_eq!(
            t.check(
                "team-payments",
                &platform(&[OU_A], RemediationMode::Observe)
            ),
            Err(Denial::Organization {
                namespace: "team-payments".into()
            })
        );
    }

    #[test]
    fn another_member_external_id_or_none_is_refused_without_showing_the_granted_one() {
        let t = org_tenancy();
        for given in [Some("billing-audit-1"), None] {
            let profile = org_spec(
                Some((LISTER, "platform-lister-1")),
                MEMBER,
                given,
                &[OU_A],
                RemediationMode::Observe,
            );
            assert_eq!(
                t.check("platform", &profile),
                Err(Denial::MemberExternalId {
                    namespace: "platform".into(),
                    role_name: MEMBER.into(),
                    external_id: given.map(str::to_string),
                }),
                "{given:?}"
            );
        }
        let message = t
            .check(
                "platform",
                &org_spec(
                    Some((LISTER, "platform-lister-1")),
                    MEMBER,
                    Some("billing-audit-1"),
                    &[OU_A],
                    RemediationMode::Observe,
                ),
            )
            .expect_err("refused")
            .to_string();
        assert!(
            message.contains("spec.scope.organization.externalId"),
            "{message}"
        );
        assert!(message.contains("organizations[].externalId"), "{message}");
        assert!(!message.contains("platform-audit-9d2e"), "{message}");
        // The security grant has no externalId: a profile with one is refused.
        let with_id = org_spec(
            None,
            "audit/apigw-compliance",
            Some("security-1"),
            &[],
            RemediationMode::Observe,
        );
        assert!(matches!(
            t.check("security", &with_id),
            Err(Denial::MemberExternalId { .. })
        ));
    }

    #[test]
    fn another_member_role_name_is_refused() {
        let t = org_tenancy();
        let profile = org_spec(
            Some((LISTER, "platform-lister-1")),
            "OrganizationAccountAccessRole",
            Some("platform-audit-9d2e"),
            &[OU_A],
            RemediationMode::Observe,
        );
        let denied = t.check("platform", &profile).expect_err("another role");
        assert_eq!(
            denied,
            Denial::MemberRole {
                namespace: "platform".into(),
                role_name: "OrganizationAccountAccessRole".into(),
            }
        );
        let message = denied.to_string();
        assert!(
            message.contains("spec.scope.organization.roleName"),
            "{message}"
        );
        assert!(
            message.contains("organizations[].memberRoleName"),
            "{message}"
        );
    }

    #[test]
    fn enforce_in_member_accounts_needs_the_organization_grant_to_say_so() {
        let t = org_tenancy();
        // OU_A's grant allows Observe and DryRun only.
        for mode in [RemediationMode::Observe, RemediationMode::DryRun] {
            assert_eq!(t.check("platform", &platform(&[OU_A], mode)), Ok(()));
        }
        let denied = t
            .check("platform", &platform(&[OU_A], RemediationMode::Enforce))
            .expect_err("no Enforce grant");
        assert_eq!(
            denied,
            Denial::OrganizationEnforce {
                namespace: "platform".into(),
                role_name: MEMBER.into(),
            }
        );
        let message = denied.to_string();
        assert!(message.contains("spec.remediation.mode"), "{message}");
        assert!(message.contains("organizations[].enforce"), "{message}");
        // OU_C's grant allows Enforce, although the listing role's grant does not: nothing
        // is written through the role that lists.
        assert_eq!(
            t.check("platform", &platform(&[OU_C], RemediationMode::Enforce)),
            Ok(())
        );
        // Nor the operator identity's grant (operatorIdentity: {}) in security.
        assert_eq!(
            t.check(
                "security",
                &org_spec(
                    None,
                    "audit/apigw-compliance",
                    None,
                    &[],
                    RemediationMode::Enforce
                )
            ),
            Ok(())
        );
    }

    #[test]
    fn organizational_units_must_each_be_granted_by_one_entry() {
        let t = org_tenancy();
        let refused = |units: &[&str]| {
            t.check("platform", &platform(units, RemediationMode::Observe))
                .expect_err("refused")
        };
        // A unit not granted, even with granted ones beside it, and a unit below a
        // granted one (this check cannot tell that it is below).
        assert_eq!(
            refused(&[OU_A, "ou-ab12-dddd4444"]),
            Denial::OrganizationalUnits {
                namespace: "platform".into(),
                units: vec!["ou-ab12-dddd4444".into()],
            }
        );
        let message = refused(&["ou-ab12-dddd4444"]).to_string();
        assert!(message.contains("ou-ab12-dddd4444"), "{message}");
        assert!(
            message.contains("spec.scope.organization.organizationalUnits"),
            "{message}"
        );
        assert!(
            message.contains("organizations[].organizationalUnits"),
            "{message}"
        );
        // The root is not a granted unit either.
        assert_eq!(
            refused(&["r-ab12"]),
            Denial::OrganizationalUnits {
                namespace: "platform".into(),
                units: vec!["r-ab12".into()],
            }
        );
        // Granted by two entries, none of which grants both.
        assert_eq!(
            refused(&[OU_A, OU_C]),
            Denial::OrganizationalUnits {
                namespace: "platform".into(),
                units: vec![],
            }
        );
        assert!(
            refused(&[OU_A, OU_C])
                .to_string()
                .contains("no single grant covers them all")
        );
    }

    #[test]
    fn the_whole_organization_is_refused_when_the_grant_names_units() {
        let t = org_tenancy();
        let denied = t
            .check("platform", &platform(&[], RemediationMode::Observe))
            .expect_err("whole organization");
        assert_eq!(
            denied,
            Denial::WholeOrganization {
                namespace: "platform".into()
            }
        );
        assert!(
            denied
                .to_string()
                .contains("spec.scope.organization.organizationalUnits")
        );
        // Without units in the grant, the whole organization and any unit are admitted.
        let lister = |units: &[&str]| {
            org_spec(
                Some((LISTER, "lister-only-1")),
                MEMBER,
                Some("lister-only-audit"),
                units,
                RemediationMode::Observe,
            )
        };
        assert_eq!(t.check("lister-only", &lister(&[])), Ok(()));
        assert_eq!(t.check("lister-only", &lister(&[OU_A, "r-ab12"])), Ok(()));
    }

    #[test]
    fn a_role_grant_alone_grants_no_organization_not_even_a_glob_over_every_role() {
        let t = org_tenancy();
        for profile in [
            org_spec(
                Some((LISTER, "any-id")),
                MEMBER,
                None,
                &[],
                RemediationMode::Observe,
            ),
            org_spec(None, MEMBER, None, &[], RemediationMode::Observe),
        ] {
            assert_eq!(
                t.check("everything", &profile),
                Err(Denial::Organization {
                    namespace: "everything".into()
                })
            );
        }
        // The same namespace may scan that role's one account.
        assert_eq!(
            t.check("everything", &enforce(Some(LISTER), Some("any-id"))),
            Ok(())
        );
        let message = tenancy()
            .check(
                "platform",
                &org_spec(
                    Some((SCAN, "x1")),
                    MEMBER,
                    None,
                    &[],
                    RemediationMode::Observe,
                ),
            )
            .expect_err("role grants only")
            .to_string();
        assert!(message.contains("spec.scope.organization"), "{message}");
        assert!(message.contains("organizations"), "{message}");
    }

    #[test]
    fn the_listing_identity_must_be_the_granted_one_and_granted_itself() {
        let t = org_tenancy();
        // Another listing role than the grant's.
        let other = "arn:aws:iam::999988887777:role/apigw-compliance-org-reader";
        let profile = org_spec(
            Some((other, "platform-lister-1")),
            MEMBER,
            Some("platform-audit-9d2e"),
            &[OU_A],
            RemediationMode::Observe,
        );
        let denied = t.check("platform", &profile).expect_err("another lister");
        assert_eq!(
            denied,
            Denial::OrganizationListing {
                namespace: "platform".into(),
                listed_with: Some(other.into()),
            }
        );
        assert!(denied.to_string().contains("organizations[].listWith"));
        // The operator's identity where the grant names a role.
        let mut by_operator = platform(&[OU_A], RemediationMode::Observe);
        by_operator.scope.role_arn = None;
        by_operator.scope.external_id = None;
        assert_eq!(
            t.check("platform", &by_operator),
            Err(Denial::OrganizationListing {
                namespace: "platform".into(),
                listed_with: None,
            })
        );
        // A role where the grant says the operator's identity lists.
        let by_role = org_spec(
            Some((LISTER, "x1")),
            "audit/apigw-compliance",
            None,
            &[],
            RemediationMode::Observe,
        );
        assert!(matches!(
            t.check("security", &by_role),
            Err(Denial::OrganizationListing { .. })
        ));
        // The listing role with another external id than its role grant's.
        let profile = org_spec(
            Some((LISTER, "someone-else")),
            MEMBER,
            Some("platform-audit-9d2e"),
            &[OU_A],
            RemediationMode::Observe,
        );
        assert!(matches!(
            t.check("platform", &profile),
            Err(Denial::ExternalId { .. })
        ));
        // The organization grants alone, without the listing identity's grant.
        let listed = org_spec(
            Some((LISTER, "x1")),
            MEMBER,
            Some("unlisted-audit"),
            &[],
            RemediationMode::Observe,
        );
        let denied = t
            .check("unlisted", &listed)
            .expect_err("lister not granted");
        assert_eq!(
            denied,
            Denial::ListingRole {
                namespace: "unlisted".into(),
                role: LISTER.into(),
            }
        );
        assert!(
            denied
                .to_string()
                .contains("roles in the tenancy configuration")
        );
        let by_operator = org_spec(
            None,
            MEMBER,
            Some("unlisted-audit"),
            &[],
            RemediationMode::Observe,
        );
        let denied = t
            .check("unlisted", &by_operator)
            .expect_err("operator identity not granted");
        assert_eq!(
            denied,
            Denial::ListingOperatorIdentity {
                namespace: "unlisted".into()
            }
        );
        assert!(denied.to_string().contains("operatorIdentity"));
    }

    #[test]
    fn organization_grants_change_nothing_for_profiles_of_one_account() {
        let t = org_tenancy();
        // The member role's grant is no role grant, nor a grant of the operator's
        // identity.
        assert_eq!(
            t.check("unlisted", &observe(None, None)),
            Err(Denial::OperatorIdentity {
                namespace: "unlisted".into()
            })
        );
        assert_eq!(
            t.check("unlisted", &observe(Some(LISTER), Some("unlisted-audit"))),
            Err(Denial::Role {
                namespace: "unlisted".into(),
                role: LISTER.into()
            })
        );
        // The listing role scans its own account as its role grant says: no Enforce,
        // although an organization grant of the namespace allows Enforce.
        assert_eq!(
            t.check(
                "platform",
                &observe(Some(LISTER), Some("platform-lister-1"))
            ),
            Ok(())
        );
        assert!(matches!(
            t.check(
                "platform",
                &enforce(Some(LISTER), Some("platform-lister-1"))
            ),
            Err(Denial::Enforce { .. })
        ));
        assert!(matches!(
            t.check("security", &enforce(None, None)),
            Err(Denial::Enforce { .. })
        ));
        // And organization grants alone grant nothing at all.
        let only = Tenancy::parse(
            "only.yaml",
            "namespaces:\n  - namespace: a\n    organizations:\n      - memberRoleName: audit\n",
        )
        .expect("valid");
        assert!(only.denies_everything());
    }

    #[test]
    fn an_organization_grant_that_could_never_be_used_or_contradicts_itself_is_refused() {
        let entry = |body: &str| {
            format!("namespaces:\n  - namespace: a\n    organizations:\n      - {body}\n")
        };
        for (body, expected) in [
            ("listWith: x", "memberRoleName"),
            ("memberRoleName: \"\"", "not an IAM role name"),
            ("memberRoleName: \"audit role\"", "not an IAM role name"),
            ("memberRoleName: \"audit//x\"", "not an IAM role name"),
            (
                "memberRoleName: audit\n        externalId: x1\n        anyExternalId: true",
                "anyExternalId",
            ),
            (
                "memberRoleName: audit\n        externalId: \"has spaces\"",
                "not an external id",
            ),
            (
                "memberRoleName: audit\n        organizationalUnits: [OU-AB12-CD34EF56]",
                "not an organizational unit id",
            ),
            (
                "memberRoleName: audit\n        organizationalUnits: []",
                "leave the key out",
            ),
            ("memberRoleName: audit\n        enforced: true", "enforced"),
            (
                "memberRoleName: audit\n        listWith: \"[\"",
                "not a valid glob",
            ),
        ] {
            let err = Tenancy::parse("t.yaml", &entry(body)).expect_err(body);
            let message = err.to_string();
            assert!(message.contains(expected), "{body}: {message}");
        }
        let err = Tenancy::parse("t.yaml", &entry("memberRoleName: \"a b\""))
            .expect_err("invalid")
            .to_string();
        assert!(err.contains("entry 0, organizations[0]"), "{err}");
        // A role name with a path and a root id are valid.
        assert!(
            Tenancy::parse(
                "t.yaml",
                &entry("memberRoleName: audit/apigw-compliance\n        organizationalUnits: [r-ab12, ou-ab12-cd34ef56]")
            )
            .is_ok()
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
