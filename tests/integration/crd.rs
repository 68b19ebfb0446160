//! The checked-in CRD (`crds/`) is exactly what the code generates: users apply
//! `crds/` with kubectl, so a type change that is not regenerated would ship a schema
//! that disagrees with the operator.

use std::path::Path;

const CHECKED_IN: &str = "crds/apigwcompliance.io_complianceprofiles.yaml";

#[test]
fn checked_in_crd_matches_the_generated_one() {
    let generated = apigw_compliance::crd::crd_yaml().expect("the CRD renders as YAML");
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join(CHECKED_IN);
    let checked_in = std::fs::read_to_string(&path).unwrap_or_else(|e| {
        panic!("cannot read {CHECKED_IN}: {e}; run `cargo run -- crd > {CHECKED_IN}` to create it")
    });
    if checked_in != generated {
        let first_difference = checked_in
            .lines()
            .zip(generated.lines())
            .position(|(a, b)| a != b)
            .map(|i| i + 1)
            .unwrap_or_else(|| checked_in.lines().count().min(generated.lines().count()) + 1);
        panic!(
            "{CHECKED_IN} is out of date (first difference at line {first_difference}); run `cargo run -- crd > {CHECKED_IN}` to regenerate it and commit the result"
        );
    }
}
