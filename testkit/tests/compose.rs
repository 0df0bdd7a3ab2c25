//! The compose stack cannot start here (no Docker engine), so its contract
//! is checked as data: what each service is and how Prism is wired into it,
//! and the Kibana saved objects. `compose_startup.rs` checks what
//! `docker compose up -d --wait` needs to succeed.

use std::collections::HashSet;

use serde_json::Value as Json;

mod support;

use support::{compose, env, read, root, text};

#[test]
fn the_compose_file_has_three_kraft_kafka_nodes_and_the_topics_with_rf_2() {
    let services = compose();
    let kafka: Vec<_> = services
        .iter()
        .filter(|(n, _)| n.starts_with("kafka-") && *n != "kafka-init" && *n != "kafka-ui")
        .collect();
    assert_eq!(kafka.len(), 3);
    for (name, s) in &kafka {
        assert!(
            s["image"]
                .as_str()
                .unwrap()
                .starts_with("apache/kafka:4.1."),
            "{name}"
        );
        assert_eq!(env(s, "KAFKA_PROCESS_ROLES"), "broker,controller", "{name}");
        assert_eq!(
            env(s, "KAFKA_CONTROLLER_QUORUM_VOTERS").split(',').count(),
            3,
            "{name}"
        );
        // KRaft wants a base64-encoded UUID: 16 bytes, 22 characters.
        let cluster = env(s, "CLUSTER_ID");
        assert!(
            cluster.len() == 22
                && cluster
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_'),
            "{cluster}"
        );
        assert_eq!(env(s, "KAFKA_DEFAULT_REPLICATION_FACTOR"), "2");
        assert_eq!(env(s, "KAFKA_MIN_INSYNC_REPLICAS"), "1");
        assert_eq!(env(s, "KAFKA_OFFSETS_TOPIC_REPLICATION_FACTOR"), "2");
    }
    let init = text(&services["kafka-init"]["command"]);
    assert!(
        init.contains("--partitions 2 --replication-factor 2") && init.contains("--if-not-exists"),
        "{init}"
    );
    assert!(init.contains("select-color select-color-dlq"), "{init}");
}

#[test]
fn hdfs_elasticsearch_kibana_and_prism_are_wired_as_the_contract_says() {
    let s = compose();
    assert!(
        s["namenode"]["image"]
            .as_str()
            .unwrap()
            .starts_with("apache/hadoop:3.4.")
    );
    assert_eq!(s["datanode"]["image"], s["namenode"]["image"]);
    assert!(
        text(&s["datanode"]["healthcheck"]).contains("Safe mode is OFF"),
        "HDFS counts as healthy only once it takes writes"
    );
    assert_eq!(
        env(
            &s["elasticsearch"],
            "cluster.routing.allocation.disk.threshold_enabled"
        ),
        "false",
        "a full disk must not make the indices read-only"
    );
    let kibana = text(&s["kibana"]["healthcheck"]["test"]);
    assert!(
        kibana.contains(r#"grep -o '"overall":{[^}]*}'"#),
        "Kibana is healthy by its overall level, not a plugin's: {kibana}"
    );
    assert_eq!(
        env(&s["namenode"], "HDFS-SITE.XML_dfs.webhdfs.enabled"),
        "true"
    );
    assert_eq!(env(&s["namenode"], "HDFS-SITE.XML_dfs.replication"), "1");
    assert_eq!(
        env(&s["namenode"], "HDFS-SITE.XML_dfs.permissions.enabled"),
        "false"
    );

    let tag = |n: &str| {
        s[n]["image"]
            .as_str()
            .unwrap()
            .rsplit(':')
            .next()
            .unwrap()
            .to_owned()
    };
    assert!(tag("elasticsearch").starts_with("9."));
    assert_eq!(
        tag("elasticsearch"),
        tag("kibana"),
        "Elasticsearch and Kibana of the same version"
    );
    assert_eq!(env(&s["elasticsearch"], "xpack.security.enabled"), "false");
    assert!(
        env(&s["elasticsearch"], "ES_JAVA_OPTS").contains("-Xmx"),
        "heap capped"
    );

    assert_eq!(
        s["prism-server"]["build"]["context"], "..",
        "prism:local is built from the workspace"
    );
    assert_eq!(
        s["prism-server"]["build"]["dockerfile"],
        "compose/Dockerfile"
    );
    for name in [
        "prism-server",
        "prism-hdfs-sink",
        "prism-es-sink",
        "prism-lake",
    ] {
        assert_eq!(s[name]["image"], "prism:local", "{name}");
        assert!(
            env(&s[name], "PRISM_KAFKA_BROKERS").split(',').count() == 3,
            "{name}"
        );
    }
    for name in ["prism-hdfs-sink", "prism-lake"] {
        assert_eq!(
            env(&s[name], "PRISM_HDFS_TARGET"),
            "hdfs://namenode:8020/",
            "{name}"
        );
    }
    assert_eq!(
        env(&s["prism-es-sink"], "PRISM_ES_URL"),
        "http://elasticsearch:9200"
    );
    assert!(text(&s["prism-server"]["ports"]).contains("8080:8080"));
    assert!(text(&s["kibana-setup"]["command"]).contains("_import?overwrite=true"));
    assert!(
        text(&s["kibana-setup"]["command"]).contains("\"success\":true"),
        "fails loudly"
    );
}

/// Every object in compose/kibana/*.ndjson.
fn saved_objects() -> Vec<Json> {
    let dir = root().join("compose/kibana");
    let mut objects = Vec::new();
    for entry in std::fs::read_dir(&dir).unwrap().flatten() {
        let path = entry.path();
        if path.extension().and_then(|e| e.to_str()) != Some("ndjson") {
            continue;
        }
        for (n, line) in std::fs::read_to_string(&path).unwrap().lines().enumerate() {
            let o: Json = serde_json::from_str(line)
                .unwrap_or_else(|e| panic!("{}:{}: {e}", path.display(), n + 1));
            objects.push(o);
        }
    }
    assert!(!objects.is_empty());
    objects
}

#[test]
fn every_saved_object_carries_the_markers_kibana_9_needs() {
    let mut seen = HashSet::new();
    for o in saved_objects() {
        let (kind, id) = (o["type"].as_str().unwrap(), o["id"].as_str().unwrap());
        assert!(
            seen.insert((kind.to_owned(), id.to_owned())),
            "{kind}/{id} twice"
        );
        assert!(
            o["attributes"].is_object() && o["references"].is_array(),
            "{id}"
        );
        assert_eq!(o["coreMigrationVersion"], "8.8.0", "{id}");
        assert_eq!(o["managed"], false, "{id}");
        let expected = match kind {
            "index-pattern" => "8.0.0",
            "lens" => "8.9.0",
            "dashboard" => "10.2.0",
            other => panic!("unexpected type {other}"),
        };
        assert_eq!(o["typeMigrationVersion"], expected, "{id}");
        for forbidden in ["migrationVersion", "version", "namespaces", "created_at"] {
            assert!(o.get(forbidden).is_none(), "{id} sets {forbidden}");
        }
    }
}

#[test]
fn dashboard_panels_and_references_resolve_and_charts_use_keyword_fields() {
    let objects = saved_objects();
    let ids: HashSet<(String, String)> = objects
        .iter()
        .map(|o| {
            (
                o["type"].as_str().unwrap().to_owned(),
                o["id"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    let template: Json =
        serde_json::from_str(&read("sinks/src/elasticsearch/template.json")).unwrap();
    let keyword = |field: &str| {
        let mut node = &template["template"]["mappings"];
        for part in field.split('.') {
            node = &node["properties"][part];
        }
        node["type"] == "keyword"
    };
    let data_view = objects
        .iter()
        .find(|o| o["type"] == "index-pattern")
        .unwrap();
    assert_eq!(data_view["attributes"]["title"], "select-color-*");
    assert_eq!(data_view["attributes"]["timeFieldName"], "@timestamp");

    for o in &objects {
        for r in o["references"].as_array().unwrap() {
            let target = (
                r["type"].as_str().unwrap().to_owned(),
                r["id"].as_str().unwrap().to_owned(),
            );
            assert!(
                ids.contains(&target),
                "{} refers to missing {target:?}",
                o["id"]
            );
        }
        if o["type"] == "lens" {
            let state = &o["attributes"]["state"];
            assert!(state.is_object(), "lens state is an object");
            for (layer, body) in state["datasourceStates"]["formBased"]["layers"]
                .as_object()
                .unwrap()
            {
                let name = format!("indexpattern-datasource-layer-{layer}");
                assert!(
                    o["references"]
                        .as_array()
                        .unwrap()
                        .iter()
                        .any(|r| r["name"] == name.as_str()),
                    "{}: {name}",
                    o["id"]
                );
                for column in body["columns"].as_object().unwrap().values() {
                    if matches!(
                        column["operationType"].as_str(),
                        Some("terms" | "unique_count")
                    ) {
                        let field = column["sourceField"].as_str().unwrap();
                        assert!(
                            keyword(field),
                            "{}: {field} is not a keyword in the index template",
                            o["id"]
                        );
                    }
                }
            }
        }
        if o["type"] == "dashboard" {
            let a = &o["attributes"];
            let parse = |v: &Json| -> Json {
                serde_json::from_str(v.as_str().expect("a JSON string")).expect("valid JSON")
            };
            let panels = parse(&a["panelsJSON"]);
            parse(&a["optionsJSON"]);
            parse(&a["kibanaSavedObjectMeta"]["searchSourceJSON"]);
            assert!(a["timeRestore"].is_boolean());
            assert_eq!(a["title"], "Prism — favourite colours");
            for p in panels.as_array().unwrap() {
                let index = p["panelIndex"].as_str().unwrap();
                assert_eq!(p["gridData"]["i"], index);
                let (x, w) = (
                    p["gridData"]["x"].as_u64().unwrap(),
                    p["gridData"]["w"].as_u64().unwrap(),
                );
                assert!(x + w <= 48, "panel {index} is off the 48-column grid");
                let ref_name = format!("{index}:{}", p["panelRefName"].as_str().unwrap());
                assert!(
                    o["references"]
                        .as_array()
                        .unwrap()
                        .iter()
                        .any(|r| r["name"] == ref_name.as_str() && r["type"] == "lens"),
                    "panel {index} has no reference {ref_name}"
                );
            }
        }
    }
}
