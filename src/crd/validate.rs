//! The Rust side of a profile's validation, from the same intent as the admission
//! schema: profiles that never went through an API server (`scan --profile FILE`) are
//! held to the same rules, and what CEL cannot check (glob syntax) is checked here. The
//! controller runs it too and reports a failure as `Stalled`.

use std::time::Duration;

use crate::controls;
use crate::model::arn::{is_region_code, parse_role_arn};

use super::settings::{MAX_CHANGES_PER_SCAN_LIMIT, MAX_INTERVAL, MIN_INTERVAL};
use super::spec::{
    ComplianceProfile, ComplianceProfileSpec, NameFilter, OrganizationScope, Scope, TagFilter,
};

/// A profile the API server would refuse, or that cannot work as written. The message
/// names the field, like the API server's would.
#[derive(Debug, thiserror::Error, PartialEq)]
pub enum SpecError {
    #[error("spec.{field}: {message}")]
    Invalid { field: String, message: String },
    /// A key under `spec.remediation` that no setting has: a typo the API server would
    /// refuse (strict field validation) and serde would silently ignore.
    #[error("spec.{field} is not a remediation setting (see docs/remediation.md)")]
    UnknownRemediationField { field: String },
}

impl SpecError {
    fn invalid(field: impl Into<String>, message: impl Into<String>) -> Self {
        SpecError::Invalid {
            field: field.into(),
            message: message.into(),
        }
    }
}

/// A profile manifest that could not be read.
#[derive(Debug, thiserror::Error)]
pub enum ManifestError {
    #[error("cannot read profile {path}: {source}")]
    Read {
        path: String,
        source: std::io::Error,
    },
    #[error("{path} is not a ComplianceProfile manifest: {source} (see examples/ for the shape)")]
    Parse {
        path: String,
        source: serde_yaml::Error,
    },
    #[error(
        "{path} has apiVersion {api_version:?} and kind {kind:?}; expected apigwcompliance.io/v1alpha1 ComplianceProfile"
    )]
    WrongKind {
        path: String,
        api_version: String,
        kind: String,
    },
    #[error("{path}: {source}")]
    Invalid { path: String, source: SpecError },
}

impl ComplianceProfile {
    /// Reads a ComplianceProfile manifest, the same YAML a user applies to the cluster,
    /// and checks it as the API server would (see [`ComplianceProfileSpec::validate`]).
    pub fn from_manifest_file(path: &std::path::Path) -> Result<Self, ManifestError> {
        let shown = path.display().to_string();
        let text = std::fs::read_to_string(path).map_err(|source| ManifestError::Read {
            path: shown.clone(),
            source,
        })?;
        Self::from_manifest(&text).map_err(|e| match e {
            ManifestError::Parse { source, .. } => ManifestError::Parse {
                path: shown.clone(),
                source,
            },
            ManifestError::WrongKind {
                api_version, kind, ..
            } => ManifestError::WrongKind {
                path: shown.clone(),
                api_version,
                kind,
            },
            ManifestError::Invalid { source, .. } => ManifestError::Invalid {
                path: shown.clone(),
                source,
            },
            other => other,
        })
    }

    /// Parses and checks a manifest held in memory (`path` in errors is `<manifest>`).
    pub fn from_manifest(text: &str) -> Result<Self, ManifestError> {
        let path = "<manifest>".to_string();
        let parse_error = |source| ManifestError::Parse {
            path: path.clone(),
            source,
        };
        let value: serde_yaml::Value = serde_yaml::from_str(text).map_err(parse_error)?;
        let field = |name: &str| {
            value
                .get(name)
                .and_then(serde_yaml::Value::as_str)
                .unwrap_or_default()
                .to_string()
        };
        let (api_version, kind) = (field("apiVersion"), field("kind"));
        if api_version != "apigwcompliance.io/v1alpha1" || kind != "ComplianceProfile" {
            return Err(ManifestError::WrongKind {
                path,
                api_version,
                kind,
            });
        }
        let given_remediation = value
            .get("spec")
            .and_then(|spec| spec.get("remediation"))
            .cloned();
        let profile: ComplianceProfile = serde_yaml::from_value(value).map_err(parse_error)?;
        if let Some(given) = given_remediation {
            // Serialised back, the settings name every field they have (none is skipped),
            // so a given key missing there is one serde ignored.
            let known = serde_yaml::to_value(&profile.spec.remediation).map_err(parse_error)?;
            if let Some(field) = unknown_fields(&given, &known, "remediation")
                .into_iter()
                .next()
            {
                return Err(ManifestError::Invalid {
                    path,
                    source: SpecError::UnknownRemediationField { field },
                });
            }
        }
        profile
            .spec
            .validate()
            .map_err(|source| ManifestError::Invalid { path, source })?;
        Ok(profile)
    }
}

impl ComplianceProfileSpec {
    /// Checks what the API server checks at admission (so a manifest used without a
    /// cluster is held to the same rules) plus what it cannot: glob syntax.
    pub fn validate(&self) -> Result<(), SpecError> {
        self.scope.validate()?;
        if let Some(enabled) = &self.controls.enabled {
            if enabled.is_empty() {
                return Err(SpecError::invalid(
                    "controls.enabled",
                    "list at least one control, or leave the field out for every control",
                ));
            }
            if let Some(dup) = first_duplicate(enabled) {
                return Err(SpecError::invalid(
                    "controls.enabled",
                    format!("{dup} is listed twice"),
                ));
            }
        }
        controls::validate(
            &self.controls.parameters,
            &self.remediation.settings.controls,
        )
        .map_err(|e| SpecError::invalid(e.field, e.message))?;
        self.validate_exemptions()?;
        parse_interval(&self.interval)?;
        let max_changes = self.remediation.settings.max_changes_per_scan;
        if !(1..=MAX_CHANGES_PER_SCAN_LIMIT).contains(&max_changes) {
            return Err(SpecError::invalid(
                "remediation.maxChangesPerScan",
                format!(
                    "must be between 1 and {MAX_CHANGES_PER_SCAN_LIMIT} (use mode Observe or DryRun to change nothing)"
                ),
            ));
        }
        Ok(())
    }

    /// The re-check interval (validated: within [`MIN_INTERVAL`, `MAX_INTERVAL`]).
    pub fn interval(&self) -> Result<Duration, SpecError> {
        parse_interval(&self.interval)
    }

    fn validate_exemptions(&self) -> Result<(), SpecError> {
        for (i, e) in self.exemptions.iter().enumerate() {
            let field = format!("exemptions[{i}]");
            if e.reason.trim().is_empty() {
                return Err(SpecError::invalid(
                    format!("{field}.reason"),
                    "every exemption needs a non-empty reason",
                ));
            }
            if !e.resource_arn_glob.starts_with("arn:") {
                return Err(SpecError::invalid(
                    format!("{field}.resourceArnGlob"),
                    "must be an ARN glob such as arn:aws:apigateway:us-east-1::/restapis/a1b2c3/stages/*",
                ));
            }
            compile_glob(&format!("{field}.resourceArnGlob"), &e.resource_arn_glob)?;
            if let Some(expires) = &e.expires
                && expires
                    .trim()
                    .parse::<k8s_openapi::jiff::Timestamp>()
                    .is_err()
            {
                return Err(SpecError::invalid(
                    format!("{field}.expires"),
                    format!("{expires:?} is not an RFC 3339 time such as 2026-06-30T00:00:00Z"),
                ));
            }
        }
        Ok(())
    }
}

impl Scope {
    fn validate(&self) -> Result<(), SpecError> {
        if self.regions.is_empty() {
            return Err(SpecError::invalid(
                "scope.regions",
                "list at least one region, e.g. us-east-1",
            ));
        }
        for (i, region) in self.regions.iter().enumerate() {
            if !is_region_code(region) {
                return Err(SpecError::invalid(
                    format!("scope.regions[{i}]"),
                    format!("{region:?} is not an AWS region code such as us-east-1"),
                ));
            }
        }
        if let Some(dup) = first_duplicate(&self.regions) {
            return Err(SpecError::invalid(
                "scope.regions",
                format!("{dup} is listed twice"),
            ));
        }
        if let Some(role) = &self.role_arn
            && parse_role_arn(role).is_none()
        {
            return Err(SpecError::invalid(
                "scope.roleArn",
                format!(
                    "{role:?} is not an IAM role ARN such as arn:aws:iam::123456789012:role/name"
                ),
            ));
        }
        if let Some(external_id) = &self.external_id {
            if self.role_arn.is_none() {
                return Err(SpecError::invalid(
                    "scope.externalId",
                    "only used with spec.scope.roleArn",
                ));
            }
            if !is_external_id(external_id) {
                return Err(SpecError::invalid(
                    "scope.externalId",
                    "must be 2 to 1224 characters of letters, digits and +=,.@:/_-",
                ));
            }
        }
        if let Some(types) = &self.api_types {
            if types.is_empty() {
                return Err(SpecError::invalid(
                    "scope.apiTypes",
                    "list at least one API type, or leave the field out for all three",
                ));
            }
            if let Some(dup) = first_duplicate(types) {
                return Err(SpecError::invalid(
                    "scope.apiTypes",
                    format!("{dup:?} is listed twice"),
                ));
            }
        }
        self.apis.validate("scope.apis")?;
        self.stages.validate("scope.stages")?;
        self.tags.validate()?;
        if let Some(organization) = &self.organization {
            organization.validate()?;
        }
        Ok(())
    }
}

impl OrganizationScope {
    fn validate(&self) -> Result<(), SpecError> {
        if !is_role_name(&self.role_name) {
            return Err(SpecError::invalid(
                "scope.organization.roleName",
                format!(
                    "{:?} is not an IAM role name (with an optional path) such as apigw-compliance-audit",
                    self.role_name
                ),
            ));
        }
        if let Some(external_id) = &self.external_id
            && !is_external_id(external_id)
        {
            return Err(SpecError::invalid(
                "scope.organization.externalId",
                "must be 2 to 1224 characters of letters, digits and +=,.@:/_-",
            ));
        }
        for (i, unit) in self.organizational_units.iter().enumerate() {
            if !is_organizational_unit_id(unit) {
                return Err(SpecError::invalid(
                    format!("scope.organization.organizationalUnits[{i}]"),
                    format!(
                        "{unit:?} is not an organizational unit id such as ou-ab12-cd34ef56 (or a root id such as r-ab12)"
                    ),
                ));
            }
        }
        if let Some(dup) = first_duplicate(&self.organizational_units) {
            return Err(SpecError::invalid(
                "scope.organization.organizationalUnits",
                format!("{dup} is listed twice"),
            ));
        }
        for (list, ids) in [
            ("include", &self.accounts.include),
            ("exclude", &self.accounts.exclude),
        ] {
            for (i, id) in ids.iter().enumerate() {
                if !is_account_id(id) {
                    return Err(SpecError::invalid(
                        format!("scope.organization.accounts.{list}[{i}]"),
                        format!("{id:?} is not a 12-digit AWS account id"),
                    ));
                }
            }
            if let Some(dup) = first_duplicate(ids) {
                return Err(SpecError::invalid(
                    format!("scope.organization.accounts.{list}"),
                    format!("{dup} is listed twice"),
                ));
            }
        }
        if let Some(both) = self
            .accounts
            .include
            .iter()
            .find(|a| self.accounts.exclude.contains(a))
        {
            return Err(SpecError::invalid(
                "scope.organization.accounts",
                format!("{both} is both included and excluded"),
            ));
        }
        Ok(())
    }
}

/// An IAM role name with an optional path (`audit/apigw-compliance`), at most 512
/// characters: what `spec.scope.organization.roleName` (and a tenancy grant of it)
/// accepts.
pub(crate) fn is_role_name(name: &str) -> bool {
    let allowed = |c: char| c.is_ascii_alphanumeric() || "+=,.@_-".contains(c);
    !name.is_empty()
        && name.len() <= 512
        && name
            .split('/')
            .all(|part| !part.is_empty() && part.chars().all(allowed))
}

fn is_external_id(id: &str) -> bool {
    (2..=1224).contains(&id.len())
        && id
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "+=,.@:/_-".contains(c))
}

fn is_account_id(id: &str) -> bool {
    id.len() == 12 && id.chars().all(|c| c.is_ascii_digit())
}

/// `ou-<root part>-<unit part>` or a root `r-<part>`, lowercase letters and digits.
pub(crate) fn is_organizational_unit_id(id: &str) -> bool {
    let part = |p: &str, min: usize| {
        (min..=32).contains(&p.len())
            && p.chars()
                .all(|c| c.is_ascii_digit() || c.is_ascii_lowercase())
    };
    if let Some(rest) = id.strip_prefix("ou-") {
        rest.split_once('-')
            .is_some_and(|(root, unit)| part(root, 4) && part(unit, 8))
    } else if let Some(rest) = id.strip_prefix("r-") {
        part(rest, 4)
    } else {
        false
    }
}

impl NameFilter {
    fn validate(&self, field: &str) -> Result<(), SpecError> {
        for (list, globs) in [("include", &self.include), ("exclude", &self.exclude)] {
            for (i, glob) in globs.iter().enumerate() {
                compile_glob(&format!("{field}.{list}[{i}]"), glob)?;
            }
        }
        if let Some(both) = self.include.iter().find(|g| self.exclude.contains(g)) {
            return Err(SpecError::invalid(
                field,
                format!("{both:?} is both included and excluded"),
            ));
        }
        Ok(())
    }
}

impl TagFilter {
    fn validate(&self) -> Result<(), SpecError> {
        for (list, tags) in [("include", &self.include), ("exclude", &self.exclude)] {
            for (key, value) in tags {
                compile_glob(&format!("scope.tags.{list}.{key}"), value)?;
            }
        }
        if let Some((key, value)) = self
            .include
            .iter()
            .find(|(k, v)| self.exclude.get(*k) == Some(*v))
        {
            return Err(SpecError::invalid(
                "scope.tags",
                format!("tag {key}={value} is both included and excluded"),
            ));
        }
        Ok(())
    }
}

/// Compiles a glob as the scope filter will, so a bad one is reported with its field.
pub(crate) fn compile_glob(field: &str, glob: &str) -> Result<globset::GlobMatcher, SpecError> {
    globset::Glob::new(glob)
        .map(|g| g.compile_matcher())
        .map_err(|e| {
            SpecError::invalid(field, format!("{glob:?} is not a valid glob: {}", e.kind()))
        })
}

fn first_duplicate<T: PartialEq>(items: &[T]) -> Option<&T> {
    items
        .iter()
        .enumerate()
        .find(|(i, item)| items[..*i].contains(item))
        .map(|(_, item)| item)
}

/// Parses a Go-style duration (`90s`, `15m`, `1h30m`) and checks it is within the
/// allowed interval range.
pub fn parse_interval(text: &str) -> Result<Duration, SpecError> {
    let field = "interval";
    let parsed: kube::core::Duration = text.parse().map_err(|_| {
        SpecError::invalid(
            field,
            format!("{text:?} is not a duration such as 90s, 15m or 1h30m"),
        )
    })?;
    if parsed.is_negative() {
        return Err(SpecError::invalid(field, "must not be negative"));
    }
    let duration: Duration = parsed.into();
    if duration < MIN_INTERVAL || duration > MAX_INTERVAL {
        return Err(SpecError::invalid(field, "must be between 1m and 24h"));
    }
    Ok(duration)
}

/// Keys of `given` that `known` (the same settings serialised back) does not have:
/// what serde silently ignored, i.e. typos. A key given as null sets nothing, like an
/// absent one (and absent settings are not serialised), so it is not reported. Paths
/// start with `prefix`. The profile manifest reader (`ComplianceProfile::from_manifest`)
/// uses it on `spec.remediation`.
fn unknown_fields(
    given: &serde_yaml::Value,
    known: &serde_yaml::Value,
    prefix: &str,
) -> Vec<String> {
    let (serde_yaml::Value::Mapping(given), serde_yaml::Value::Mapping(known)) = (given, known)
    else {
        return Vec::new();
    };
    let mut unknown = Vec::new();
    for (key, value) in given.iter().filter(|(_, value)| !value.is_null()) {
        let name = key
            .as_str()
            .map(str::to_string)
            .unwrap_or_else(|| format!("{key:?}"));
        let path = if prefix.is_empty() {
            name
        } else {
            format!("{prefix}.{name}")
        };
        match known.get(key) {
            Some(known_value) => unknown.extend(unknown_fields(value, known_value, &path)),
            None => unknown.push(path),
        }
    }
    unknown
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    /// Whatever bytes a profile file holds, reading and checking it returns (an error
    /// or a profile), never panics: the sample profiles cut at every character and with
    /// bytes changed at random (a fixed xorshift sequence).
    #[test]
    fn arbitrary_bytes_never_panic_the_profile_reader() {
        let samples = [
            include_str!("../../examples/profile.yaml"),
            include_str!("../../examples/profile-remediate.yaml"),
        ];
        let check = |text: &str| {
            if let Ok(profile) = ComplianceProfile::from_manifest(text) {
                let _ = profile.spec.validate();
            }
        };
        let mut state: u64 = 0x9e37_79b9_7f4a_7c15;
        let mut next = move || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state
        };
        for sample in samples {
            for (cut, _) in sample.char_indices() {
                check(&sample[..cut]);
            }
            for _ in 0..2_000 {
                let mut bytes = sample.as_bytes().to_vec();
                for _ in 0..=(next() % 8) {
                    let at = (next() % bytes.len() as u64) as usize;
                    bytes[at] = (next() & 0xff) as u8;
                }
                check(&String::from_utf8_lossy(&bytes));
            }
        }
    }
    use crate::crd::schema::INTERVAL_FLOOR_RULE;
    use crate::crd::settings::{DEFAULT_INTERVAL, RemediationMode, RemediationSettings};
    use crate::crd::spec::ControlSelection;
    use crate::model::LoggingLevel;

    fn examples_dir() -> std::path::PathBuf {
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("examples")
    }

    /// The `# rust:` marker of a bad example: what the Rust-side error must mention.
    fn marker(text: &str, name: &str) -> Option<String> {
        text.lines()
            .find_map(|l| l.strip_prefix(&format!("# {name}: ")))
            .map(|s| s.trim().to_string())
    }

    fn spec(yaml: &str) -> Result<ComplianceProfileSpec, String> {
        ComplianceProfile::from_manifest(&format!(
            "apiVersion: apigwcompliance.io/v1alpha1\nkind: ComplianceProfile\nmetadata: {{name: p}}\nspec:\n  scope: {{regions: [us-east-1]}}\n{yaml}"
        ))
        .map(|p| p.spec)
        .map_err(|e| e.to_string())
    }

    const MANIFEST: &str = r#"
apiVersion: apigwcompliance.io/v1alpha1
kind: ComplianceProfile
metadata: {name: p}
spec:
  scope: {regions: [us-east-1]}
  remediation:
    mode: Enforce
    maxChangesPerScan: 5
    controls:
      executionLogging: {loggingLevel: INFO}
      clientCertificate: {generate: true}
      xrayTracing: {enabled: false}
      waf: {webAclArn: "arn:aws:wafv2:us-east-1:123456789012:regional/webacl/api/0a1b"}
      accessLogging:
        destinationArn: arn:aws:logs:us-east-1:123456789012:log-group:/apigw/access
        format: '{"id":"$context.requestId"}'
"#;

    /// The settings of a profile manifest, read as `scan --profile` and the CRD read them.
    fn from_manifest(text: &str) -> Result<RemediationSettings, String> {
        crate::crd::ComplianceProfile::from_manifest(text)
            .map(|profile| profile.spec.remediation.settings)
            .map_err(|e| e.to_string())
    }

    #[test]
    fn sample_profiles_are_valid() {
        for name in [
            "profile.yaml",
            "profile-team.yaml",
            "profile-remediate.yaml",
        ] {
            let path = examples_dir().join(name);
            let profile = ComplianceProfile::from_manifest_file(&path)
                .unwrap_or_else(|e| panic!("{name}: {e}"));
            assert!(!profile.spec.scope.regions.is_empty());
        }
    }

    #[test]
    fn every_bad_example_is_refused_naming_its_field() {
        let dir = examples_dir().join("invalid");
        let mut seen = 0;
        for entry in std::fs::read_dir(&dir).expect("examples/invalid exists") {
            let path = entry.expect("readable entry").path();
            let text = std::fs::read_to_string(&path).expect("readable example");
            let expected = marker(&text, "rust")
                .unwrap_or_else(|| panic!("{} has no `# rust:` marker", path.display()));
            assert!(
                marker(&text, "admission").is_some(),
                "{} has no `# admission:` marker",
                path.display()
            );
            let err = ComplianceProfile::from_manifest(&text)
                .map(|_| ())
                .expect_err(&format!("{} must be refused", path.display()));
            assert!(
                err.to_string().contains(&expected),
                "{}: error {err:?} does not mention {expected:?}",
                path.display()
            );
            seen += 1;
        }
        assert!(seen >= 8, "only {seen} bad examples");
    }

    #[test]
    fn a_manifest_of_another_kind_is_refused() {
        let err = ComplianceProfile::from_manifest("apiVersion: v1\nkind: ConfigMap\n")
            .expect_err("not a profile");
        assert!(matches!(err, ManifestError::WrongKind { .. }), "{err}");
    }

    #[test]
    fn interval_bounds_match_the_cel_rule() {
        assert_eq!(parse_interval("1m"), Ok(MIN_INTERVAL));
        assert_eq!(parse_interval("24h"), Ok(MAX_INTERVAL));
        assert_eq!(parse_interval("1h30m"), Ok(Duration::from_secs(5400)));
        assert!(parse_interval("59s").is_err());
        assert!(parse_interval("25h").is_err());
        assert!(parse_interval("soon").is_err());
        assert!(INTERVAL_FLOOR_RULE.contains("duration('1m')"));
        assert!(INTERVAL_FLOOR_RULE.contains("duration('24h')"));
        assert_eq!(
            parse_interval(DEFAULT_INTERVAL),
            Ok(Duration::from_secs(900))
        );
    }

    #[test]
    fn remediation_settings_sit_beside_the_mode_with_their_defaults() {
        let spec = spec("  remediation: {mode: DryRun, maxChangesPerScan: 3}\n").expect("valid");
        assert_eq!(spec.remediation.mode, RemediationMode::DryRun);
        assert_eq!(spec.remediation.settings.max_changes_per_scan, 3);
        assert_eq!(
            spec.remediation.settings.controls,
            crate::controls::ControlRemediations::default()
        );
        // Absent settings are not written back, so the CRD's defaults hold no nulls.
        let json = serde_json::to_value(&spec.remediation).expect("serialises");
        assert_eq!(
            json,
            json!({"mode": "DryRun", "maxChangesPerScan": 3, "controls": {
                "executionLogging": {"enabled": true},
                "xrayTracing": {"enabled": true},
                "cacheEncryption": {"enabled": true}}})
        );
    }

    #[test]
    fn remediation_that_contradicts_the_parameters_is_refused_naming_the_field() {
        let acl = "arn:aws:wafv2:us-east-1:111122223333:regional/webacl/a/1";
        let other = "arn:aws:wafv2:us-east-1:111122223333:regional/webacl/b/2";
        for (yaml, field) in [
            (
                "  controls: {parameters: {executionLogging: {acceptedLevels: [INFO]}}}\n  remediation: {controls: {executionLogging: {loggingLevel: ERROR}}}\n".to_string(),
                "spec.remediation.controls.executionLogging.loggingLevel: ",
            ),
            (
                format!("  controls: {{parameters: {{waf: {{acceptedWebAclArns: [{acl}]}}}}}}\n  remediation: {{controls: {{waf: {{webAclArn: {other}}}}}}}\n"),
                "spec.remediation.controls.waf.webAclArn: ",
            ),
            (
                "  controls: {parameters: {clientCertificate: {acceptedCertificateIds: [abc]}}}\n  remediation: {controls: {clientCertificate: {generate: true}}}\n".to_string(),
                "spec.remediation.controls.clientCertificate: ",
            ),
            (
                "  controls: {parameters: {clientCertificate: {acceptedCertificateIds: [abc]}}}\n  remediation: {controls: {clientCertificate: {certificateId: def}}}\n".to_string(),
                "spec.remediation.controls.clientCertificate: ",
            ),
            (
                "  remediation: {maxChangesPerScan: 1001}\n".to_string(),
                "spec.remediation.maxChangesPerScan: ",
            ),
        ] {
            let err = spec(&yaml).expect_err(&yaml);
            assert!(err.contains(field), "{yaml}: {err}");
        }
        // The same settings agree with the parameters when they name what is accepted.
        spec(&format!(
            "  controls: {{parameters: {{executionLogging: {{acceptedLevels: [INFO]}}, waf: {{acceptedWebAclArns: [{acl}]}}, clientCertificate: {{acceptedCertificateIds: [abc]}}}}}}\n  remediation: {{controls: {{executionLogging: {{loggingLevel: INFO}}, waf: {{webAclArn: {acl}}}, clientCertificate: {{certificateId: abc}}}}}}\n"
        ))
        .expect("consistent settings");
    }

    #[test]
    fn settings_are_read_from_a_profile_manifest_beside_the_mode() {
        let settings = from_manifest(MANIFEST).expect("valid");
        assert_eq!(settings.max_changes_per_scan, 5);
        assert_eq!(
            settings.controls.execution_logging.logging_level,
            Some(LoggingLevel::Info)
        );
        assert!(!settings.controls.xray_tracing.enabled);
        assert!(settings.controls.cache_encryption.enabled);
        assert_eq!(
            settings.controls.client_certificate,
            Some(
                crate::controls::client_certificate::CertificateRemediation {
                    generate: true,
                    certificate_id: None
                }
            )
        );
        let json = serde_json::to_value(&settings).expect("serialises");
        assert_eq!(
            json["controls"]["accessLogging"]["destinationArn"],
            "arn:aws:logs:us-east-1:123456789012:log-group:/apigw/access"
        );
        assert_eq!(json["maxChangesPerScan"], 5);
    }

    #[test]
    fn a_manifest_without_remediation_settings_gets_the_defaults() {
        let text = "apiVersion: apigwcompliance.io/v1alpha1\nkind: ComplianceProfile\nmetadata: {name: p}\nspec:\n  scope: {regions: [us-east-1]}\n  remediation: {mode: DryRun}\n";
        assert_eq!(
            from_manifest(text).expect("valid"),
            RemediationSettings::default()
        );
    }

    #[test]
    fn a_misspelt_field_is_refused_with_its_path() {
        let text = MANIFEST.replace("xrayTracing", "xrayTraceing");
        let err = from_manifest(&text).expect_err("typo");
        assert_eq!(
            err,
            "<manifest>: spec.remediation.controls.xrayTraceing is not a remediation setting (see docs/remediation.md)"
        );
        let nested = MANIFEST.replace("loggingLevel: INFO", "loggingLevel: INFO, level: INFO");
        let err = from_manifest(&nested).expect_err("typo");
        assert!(
            err.contains("spec.remediation.controls.executionLogging.level is not"),
            "{err}"
        );
    }

    #[test]
    fn a_format_without_the_request_id_is_refused() {
        let text = MANIFEST.replace("$context.requestId", "$context.status");
        let err = from_manifest(&text).expect_err("bad format");
        assert!(
            err.contains("spec.remediation.controls.accessLogging.format: "),
            "{err}"
        );
    }

    #[test]
    fn controls_default_to_the_security_hub_controls_in_catalog_order() {
        assert_eq!(ControlSelection::default().ids(), controls::default_ids());
        assert!(controls::default_ids().iter().all(|id| {
            controls::control(*id).is_some_and(|c| c.meta.source == controls::Source::SecurityHub)
        }));
        let all = controls::all_ids();
        let (first, last) = (all[0], all[all.len() - 1]);
        let some = ControlSelection {
            enabled: Some(vec![last, first]),
            ..Default::default()
        };
        assert_eq!(some.ids(), vec![first, last]);
    }

    #[test]
    fn defaults_turn_on_only_what_needs_no_target_and_no_opt_in() {
        let settings = RemediationSettings::default();
        assert_eq!(settings.max_changes_per_scan, 25);
        let json = serde_json::to_value(&settings.controls).expect("serialises");
        assert_eq!(
            json,
            json!({
                "executionLogging": {"enabled": true},
                "xrayTracing": {"enabled": true},
                "cacheEncryption": {"enabled": true}})
        );
    }

    #[test]
    fn max_changes_per_scan_must_allow_at_least_one_change() {
        for bad in ["0", "1001"] {
            let err =
                spec(&format!("  remediation: {{maxChangesPerScan: {bad}}}\n")).expect_err(bad);
            assert!(
                err.contains("spec.remediation.maxChangesPerScan: "),
                "{err}"
            );
        }
    }
}
