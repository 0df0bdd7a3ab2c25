//! Reading the compose stack's files as data: no Docker engine runs here.

#![allow(dead_code)] // each test file uses its own part

use std::collections::HashMap;
use std::path::PathBuf;

use serde_yaml::Value as Yaml;

pub fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..")
}

pub fn read(path: &str) -> String {
    std::fs::read_to_string(root().join(path)).unwrap_or_else(|e| panic!("{path}: {e}"))
}

/// The services of compose/docker-compose.yml, YAML anchors merged.
pub fn compose() -> HashMap<String, Yaml> {
    let mut doc: Yaml = serde_yaml::from_str(&read("compose/docker-compose.yml")).unwrap();
    doc.apply_merge().unwrap();
    let services = doc["services"].as_mapping().expect("services").clone();
    services
        .into_iter()
        .map(|(k, v)| (k.as_str().unwrap().to_owned(), v))
        .collect()
}

pub fn env(service: &Yaml, key: &str) -> String {
    let mut env = service["environment"].clone();
    env.apply_merge().unwrap();
    match &env[key] {
        Yaml::String(s) => s.clone(),
        Yaml::Number(n) => n.to_string(),
        Yaml::Bool(b) => b.to_string(),
        _ => String::new(),
    }
}

pub fn text(v: &Yaml) -> String {
    serde_yaml::to_string(v).unwrap()
}

/// A container that runs once and exits (`restart: "no"`).
pub fn one_shot(service: &Yaml) -> bool {
    service["restart"].as_str() == Some("no")
}

/// `(dependency, condition)` for each entry of a service's `depends_on`.
pub fn depends_on(service: &Yaml) -> Vec<(String, String)> {
    service["depends_on"]
        .as_mapping()
        .into_iter()
        .flatten()
        .map(|(k, v)| {
            (
                k.as_str().unwrap_or_default().to_owned(),
                v["condition"]
                    .as_str()
                    .unwrap_or("service_started")
                    .to_owned(),
            )
        })
        .collect()
}
