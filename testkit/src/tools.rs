//! Kafka's own command-line tools (`scripts/kafka`), as an operator runs
//! them: what a test asserts about the cluster comes from Kafka, not from
//! our client code.

use std::process::Command;

/// Runs `scripts/kafka TOOL ARGS...`; its standard output. Panics with the
/// tool's own words when it fails.
pub fn kafka_tool(tool: &str, args: &[&str]) -> String {
    let script = crate::broker::script("kafka");
    let out = Command::new(&script)
        .arg(tool)
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("cannot run {}: {e}", script.display()));
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "scripts/kafka {tool} {args:?} failed ({}):\n{stdout}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    stdout
}

/// One partition as `kafka-topics --describe` shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PartitionState {
    pub partition: i32,
    /// The leader's node id; `None` while the partition has no leader.
    pub leader: Option<usize>,
    pub replicas: Vec<usize>,
    pub isr: Vec<usize>,
}

/// A topic as Kafka's `TopicCommand --describe` reports it.
#[derive(Debug, Clone)]
pub struct TopicState {
    pub partition_count: usize,
    pub replication_factor: usize,
    pub partitions: Vec<PartitionState>,
}

impl TopicState {
    /// Whether every replica of every partition is in sync and led.
    pub fn fully_replicated(&self) -> bool {
        self.partitions
            .iter()
            .all(|p| p.leader.is_some() && p.isr.len() == p.replicas.len())
    }

    pub fn leader_of(&self, partition: i32) -> Option<usize> {
        self.partitions
            .iter()
            .find(|p| p.partition == partition)
            .and_then(|p| p.leader)
    }
}

/// `scripts/kafka topics --describe --topic TOPIC`, parsed.
pub fn describe_topic(brokers: &str, topic: &str) -> TopicState {
    let out = kafka_tool(
        "topics",
        &[
            "--bootstrap-server",
            brokers,
            "--describe",
            "--topic",
            topic,
        ],
    );
    parse_describe(&out).unwrap_or_else(|| panic!("cannot read the description:\n{out}"))
}

/// The tool prints one summary line, then one line per partition, each a
/// tab-separated list of `Key: value`.
fn parse_describe(out: &str) -> Option<TopicState> {
    let fields = |line: &str| -> Vec<(String, String)> {
        line.split('\t')
            .filter_map(|f| f.split_once(": "))
            .map(|(k, v)| (k.trim().to_owned(), v.trim().to_owned()))
            .collect()
    };
    let get = |fs: &[(String, String)], key: &str| {
        fs.iter().find(|(k, _)| k == key).map(|(_, v)| v.clone())
    };
    let nodes = |v: Option<String>| -> Vec<usize> {
        v.unwrap_or_default()
            .split(',')
            .filter_map(|n| n.trim().parse().ok())
            .collect()
    };
    let mut lines = out.lines().filter(|l| l.contains("Topic: "));
    let summary = fields(lines.next()?);
    let mut state = TopicState {
        partition_count: get(&summary, "PartitionCount")?.parse().ok()?,
        replication_factor: get(&summary, "ReplicationFactor")?.parse().ok()?,
        partitions: Vec::new(),
    };
    for line in lines {
        let f = fields(line);
        state.partitions.push(PartitionState {
            partition: get(&f, "Partition")?.parse().ok()?,
            leader: get(&f, "Leader")?.parse().ok(),
            replicas: nodes(get(&f, "Replicas")),
            isr: nodes(get(&f, "Isr")),
        });
    }
    Some(state)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn it_reads_the_topic_tool_s_description() {
        let out = "Topic: t3\tTopicId: GRvKpEibSnmMnAxgpMTEbw\tPartitionCount: 2\tReplicationFactor: 2\tConfigs: min.insync.replicas=1\n\
                   \tTopic: t3\tPartition: 0\tLeader: 3\tReplicas: 3,1\tIsr: 3,1\tElr: \tLastKnownElr: \n\
                   \tTopic: t3\tPartition: 1\tLeader: none\tReplicas: 1,2\tIsr: 2\tElr: \tLastKnownElr: \n";
        let s = parse_describe(out).unwrap();
        assert_eq!((s.partition_count, s.replication_factor), (2, 2));
        assert_eq!(s.leader_of(0), Some(3));
        assert_eq!(s.partitions[1].leader, None);
        assert_eq!(s.partitions[1].isr, vec![2]);
        assert!(!s.fully_replicated());
    }
}
