//! What `docker compose up -d --wait` needs in order to succeed, on the
//! first start and on every later one, as rules over the compose file and
//! the image build. No Docker engine runs here; each rule names the Compose
//! or image behaviour it stands for.

use std::collections::{HashMap, HashSet};

mod support;

use support::{compose, depends_on, one_shot, read, text};

#[test]
fn long_running_services_are_health_checked_and_every_pulled_image_is_pinned() {
    let services = compose();
    let built: HashSet<&str> = services
        .values()
        .filter(|s| !s["build"].is_null())
        .filter_map(|s| s["image"].as_str())
        .collect();
    for (name, s) in &services {
        assert!(
            one_shot(s) || s["healthcheck"]["test"].is_sequence(),
            "{name} has no healthcheck"
        );
        if let Some(image) = s["image"].as_str().filter(|i| !built.contains(i)) {
            let (_, tag) = image
                .rsplit_once(':')
                .unwrap_or_else(|| panic!("{name}: {image} has no tag"));
            assert!(
                tag != "latest" && tag.chars().any(|c| c.is_ascii_digit()),
                "{name}: {image} is not pinned"
            );
        }
        for (dep, condition) in depends_on(s) {
            assert!(
                s["depends_on"][dep.as_str()]["condition"].is_string(),
                "{name} depends on {dep} without a condition ({condition} by default)"
            );
        }
    }
}

/// `--wait` fails on an exited container unless some running service waits
/// for it with `service_completed_successfully` (Compose then waits for it
/// to complete instead: `getDependencyCondition` in compose's start.go).
#[test]
fn every_one_shot_is_adopted_by_a_long_running_service() {
    let services = compose();
    for name in services.keys().filter(|n| one_shot(&services[n.as_str()])) {
        let adopters: Vec<&String> = services
            .iter()
            .filter(|(_, other)| !one_shot(other))
            .filter(|(_, other)| {
                depends_on(other)
                    .iter()
                    .any(|(dep, c)| dep == name && c == "service_completed_successfully")
            })
            .map(|(n, _)| n)
            .collect();
        assert!(
            !adopters.is_empty(),
            "one-shot {name} is waited for by no long-running service: `up --wait` would exit 1"
        );
    }
}

/// Two services with a `build:` for one tag build it twice, in parallel
/// under Bake ("image already exists"); the others reuse the tag and never
/// try to pull what exists only locally.
#[test]
fn exactly_one_service_builds_each_image_and_the_others_never_pull_it() {
    let services = compose();
    let mut builders: HashMap<&str, Vec<&String>> = HashMap::new();
    for (name, s) in services.iter().filter(|(_, s)| !s["build"].is_null()) {
        let image = s["image"]
            .as_str()
            .unwrap_or_else(|| panic!("{name} builds an image without naming it"));
        builders.entry(image).or_default().push(name);
    }
    assert!(!builders.is_empty(), "Prism's image is built somewhere");
    for (image, names) in &builders {
        assert_eq!(names.len(), 1, "{image} is built by {names:?}");
        for (name, s) in &services {
            if s["image"].as_str() == Some(image) && s["build"].is_null() {
                assert_eq!(
                    s["pull_policy"], "never",
                    "{name} would try to pull {image}"
                );
            }
        }
    }
}

/// A service's healthcheck may need other services to be up (the datanode's
/// counts live datanodes and asks whether safe mode is over, which needs a
/// block report). If one of those starts only once this service is healthy,
/// neither ever starts: on a restart the namenode stays in safe mode.
#[test]
fn no_healthcheck_needs_a_service_that_waits_for_it() {
    let services = compose();
    // What a check's command needs besides its own service: another
    // service's host name in it, or HDFS facts only a datanode can make true.
    let needs = |name: &str, check: &str| -> Vec<String> {
        let mut needed: Vec<String> = services
            .keys()
            .filter(|other| *other != name)
            .filter(|other| {
                check.contains(&format!("//{other}:")) || check.contains(&format!(" {other}:"))
            })
            .cloned()
            .collect();
        if ["Safe mode is OFF", "Live datanodes"]
            .iter()
            .any(|fact| check.contains(fact))
        {
            needed.extend(
                services
                    .iter()
                    .filter(|(_, s)| text(&s["command"]).contains("datanode"))
                    .map(|(n, _)| n.clone()),
            );
        }
        needed.retain(|n| n != name);
        needed
    };
    // An edge a -> b: a cannot become healthy (or start) before b does.
    let mut edges: HashMap<String, Vec<String>> = HashMap::new();
    for (name, s) in &services {
        let out = edges.entry(name.clone()).or_default();
        out.extend(needs(name, &text(&s["healthcheck"]["test"])));
        out.extend(
            depends_on(s)
                .into_iter()
                .filter(|(_, c)| c != "service_started")
                .map(|(dep, _)| dep),
        );
    }
    // Depth-first search for a cycle.
    fn visit(
        n: &str,
        edges: &HashMap<String, Vec<String>>,
        path: &mut Vec<String>,
        done: &mut HashSet<String>,
    ) {
        if done.contains(n) {
            return;
        }
        if let Some(at) = path.iter().position(|p| p == n) {
            panic!("start-up cycle: {} -> {n}", path[at..].join(" -> "));
        }
        path.push(n.to_owned());
        for next in edges.get(n).into_iter().flatten() {
            visit(next, edges, path, done);
        }
        path.pop();
        done.insert(n.to_owned());
    }
    let mut done = HashSet::new();
    for name in edges.keys() {
        visit(name, &edges, &mut Vec::new(), &mut done);
    }
}

#[test]
fn the_image_is_built_by_scripts_build_release_with_the_toolchain_the_test_command_uses() {
    let dockerfile = read("compose/Dockerfile");
    let lib = read("scripts/lib.sh");
    let pinned = |var: &str| -> String {
        lib.lines()
            .find_map(|l| l.strip_prefix(&format!("{var}=\"")))
            .and_then(|rest| rest.split('"').next())
            .unwrap_or_else(|| panic!("{var} in scripts/lib.sh"))
            .to_owned()
    };
    let rustc =
        std::process::Command::new(std::env::var("RUSTC").unwrap_or_else(|_| "rustc".into()))
            .arg("--version")
            .output()
            .unwrap();
    let version = String::from_utf8(rustc.stdout).unwrap();
    let minor: String = version
        .split_whitespace()
        .nth(1)
        .unwrap()
        .split('.')
        .take(2)
        .collect::<Vec<_>>()
        .join(".");
    assert!(
        dockerfile.contains(&format!("FROM rust:{minor}-")),
        "builder image is not rust {minor}"
    );
    assert!(dockerfile.contains(&format!(
        "cargo install trunk --version {} --locked",
        pinned("TRUNK_VERSION")
    )));
    assert!(dockerfile.contains(&format!("binaryen@{}", pinned("BINARYEN_VERSION"))));
    assert!(
        dockerfile.contains("wasm-bindgen-cli --version") && dockerfile.contains("Cargo.lock"),
        "wasm-bindgen-cli from Cargo.lock"
    );
    assert!(dockerfile.contains("rustup target add wasm32-unknown-unknown"));
    assert!(
        dockerfile.contains("RUN scripts/build-release"),
        "the image builds with the script scripts/test runs in an empty CARGO_HOME"
    );
    assert!(
        !dockerfile.contains("trunk build") && !dockerfile.contains("cargo build"),
        "build steps live in scripts/build-release only"
    );
    assert!(
        dockerfile.contains("USER prism"),
        "the runtime runs as a non-root user"
    );
}

/// Trunk.toml's `offline = true` makes trunk run `cargo build --offline`
/// (trunk 0.21.14, src/pipelines/rust/mod.rs): the image's cargo cache must
/// hold every locked crate before the page build, not only what the tool
/// installs pulled.
#[test]
fn the_page_crates_are_fetched_before_an_offline_page_build() {
    let script = read("scripts/build-release");
    let steps: Vec<&str> = script
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .collect();
    let at = |what: &str| {
        steps
            .iter()
            .position(|l| l.contains(what))
            .unwrap_or_else(|| panic!("scripts/build-release has no `{what}`"))
    };
    let offline = read("Trunk.toml")
        .lines()
        .any(|l| l.replace(' ', "") == "offline=true");
    if offline {
        assert!(
            at("cargo fetch --locked") < at("trunk build --release"),
            "an offline page build needs its crates fetched first"
        );
    }
    assert!(at("trunk build --release") < at("--profile release-native --locked"));
}

/// Nothing in the stack authenticates, so nothing but the page may be
/// reachable from another machine: every published port names 127.0.0.1.
#[test]
fn every_published_port_but_the_page_is_bound_to_loopback() {
    let mut published = 0;
    for (name, service) in compose() {
        let Some(ports) = service["ports"].as_sequence() else {
            continue;
        };
        for port in ports {
            let port = port.as_str().expect("ports as strings");
            published += 1;
            if name == "prism-server" && port == "8080:8080" {
                continue;
            }
            assert!(
                port.starts_with("127.0.0.1:"),
                "{name} publishes {port} on every interface; write 127.0.0.1:{port}"
            );
        }
    }
    assert!(published >= 9, "only {published} published ports found");
}
