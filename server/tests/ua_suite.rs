//! Our user-agent parsing against uap-core's own test suite, read from the
//! `ua-parser` crate package that Cargo resolved for this build.

use std::path::PathBuf;
use std::process::Command;

use prism_server::ua::{UAP_CORE_REGEXES, UaParser};
use serde::Deserialize;

/// The `uap-core` directory inside the resolved `ua-parser` package.
fn uap_core_dir() -> PathBuf {
    let rustc = Command::new(std::env::var("RUSTC").unwrap_or_else(|_| "rustc".into()))
        .arg("-vV")
        .output()
        .expect("run rustc -vV");
    let host = String::from_utf8(rustc.stdout)
        .unwrap()
        .lines()
        .find_map(|l| l.strip_prefix("host: ").map(str::to_owned))
        .expect("host triple");
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    // Only this platform's dependencies: nothing to download for others.
    let out = Command::new(cargo)
        .args([
            "metadata",
            "--format-version",
            "1",
            "--filter-platform",
            &host,
        ])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .expect("run cargo metadata");
    assert!(
        out.status.success(),
        "cargo metadata: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let metadata: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let manifest = metadata["packages"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["name"] == "ua-parser")
        .and_then(|p| p["manifest_path"].as_str())
        .expect("ua-parser in cargo metadata");
    PathBuf::from(manifest).parent().unwrap().join("uap-core")
}

#[derive(Deserialize)]
struct Suite<T> {
    test_cases: Vec<T>,
}

#[derive(Deserialize)]
struct SoftwareCase {
    user_agent_string: String,
    family: String,
    major: Option<String>,
    minor: Option<String>,
    patch: Option<String>,
}

#[derive(Deserialize)]
struct DeviceCase {
    user_agent_string: String,
    family: String,
    brand: Option<String>,
    model: Option<String>,
}

fn load<T: for<'de> Deserialize<'de>>(name: &str) -> Vec<T> {
    let path = uap_core_dir().join("tests").join(name);
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_yaml::from_str::<Suite<T>>(&text).unwrap().test_cases
}

/// uap-core writes "no value" as either null or "".
fn norm(v: &Option<String>) -> Option<&str> {
    v.as_deref().filter(|s| !s.is_empty())
}

fn report(what: &str, passed: usize, failures: &[String]) {
    let total = passed + failures.len();
    let rate = 100.0 * passed as f64 / total as f64;
    eprintln!("uap-core {what}: {passed}/{total} passed ({rate:.2} %)");
    assert!(
        failures.is_empty(),
        "{what}: {} failures, first: {:#?}",
        failures.len(),
        &failures[..failures.len().min(5)]
    );
}

#[test]
fn the_embedded_rules_are_the_ones_the_crate_ships() {
    let shipped = std::fs::read_to_string(uap_core_dir().join("regexes.yaml")).unwrap();
    assert!(
        shipped == UAP_CORE_REGEXES,
        "server/data/uap-core/regexes.yaml differs from the ua-parser package's"
    );
}

/// Checks one of uap-core's browser or OS suites against the part of our
/// answer `pick` selects.
fn check_software(
    file: &str,
    what: &str,
    pick: fn(prism_event::UserAgent) -> prism_event::Software,
) {
    let parser = UaParser::new(1).unwrap();
    let cases: Vec<SoftwareCase> = load(file);
    let mut failures = Vec::new();
    for case in &cases {
        let got = pick(parser.parse_uncached(&case.user_agent_string));
        let want = (
            case.family.as_str(),
            norm(&case.major),
            norm(&case.minor),
            norm(&case.patch),
        );
        let have = (
            got.family.as_str(),
            got.major.as_deref(),
            got.minor.as_deref(),
            got.patch.as_deref(),
        );
        if want != have {
            failures.push(format!(
                "{}: want {want:?}, got {have:?}",
                case.user_agent_string
            ));
        }
    }
    report(what, cases.len() - failures.len(), &failures);
}

#[test]
fn browsers_match_uap_core_test_ua() {
    check_software("test_ua.yaml", "test_ua.yaml (browser)", |ua| ua.browser);
}

#[test]
fn operating_systems_match_uap_core_test_os() {
    check_software("test_os.yaml", "test_os.yaml (os)", |ua| ua.os);
}

#[test]
fn devices_match_uap_core_test_device() {
    let parser = UaParser::new(1).unwrap();
    let cases: Vec<DeviceCase> = load("test_device.yaml");
    let mut failures = Vec::new();
    for case in &cases {
        let got = parser.parse_uncached(&case.user_agent_string).device;
        let want = (case.family.as_str(), norm(&case.brand), norm(&case.model));
        let have = (
            got.family.as_str(),
            got.brand.as_deref(),
            got.model.as_deref(),
        );
        if want != have {
            failures.push(format!(
                "{}: want {want:?}, got {have:?}",
                case.user_agent_string
            ));
        }
    }
    report(
        "test_device.yaml (device)",
        cases.len() - failures.len(),
        &failures,
    );
}
