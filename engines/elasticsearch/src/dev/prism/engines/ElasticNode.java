package dev.prism.engines;

import java.util.concurrent.CountDownLatch;

import org.codelibs.elasticsearch.runner.ElasticsearchClusterRunner;

/**
 * One Elasticsearch 7.10 node for scripts/engine elasticsearch, through
 * CodeLibs' cluster runner (which gives the node its modules as classes):
 * ElasticNode HOME HTTP_PORT TRANSPORT_PORT [KEY=VALUE...] runs until
 * SIGTERM, then closes the node before the JVM exits.
 *
 * The runner picks ports itself (the first free one above a base, up to
 * 9299) unless the settings name them; these settings are given before its
 * own, so ours win: the ports, single-node discovery on 127.0.0.1, no disk
 * watermarks (a nearly full disk would otherwise turn indices read-only),
 * and each KEY=VALUE.
 */
public final class ElasticNode {
    public static void main(String[] args) throws Exception {
        if (args.length < 3) {
            System.err.println("usage: ElasticNode HOME HTTP_PORT TRANSPORT_PORT [KEY=VALUE...]");
            System.exit(2);
        }
        String home = args[0];
        ElasticsearchClusterRunner runner = new ElasticsearchClusterRunner();
        runner.onBuild((number, settings) -> {
            settings.put("http.port", args[1]);
            settings.put("transport.port", args[2]);
            settings.put("network.host", "127.0.0.1");
            settings.put("discovery.type", "single-node");
            settings.put("node.name", "prism-elasticsearch");
            settings.put("cluster.routing.allocation.disk.threshold_enabled", false);
            for (int i = 3; i < args.length; i++) {
                int eq = args[i].indexOf('=');
                if (eq < 1) {
                    throw new IllegalArgumentException("not KEY=VALUE: " + args[i]);
                }
                settings.put(args[i].substring(0, eq), args[i].substring(eq + 1));
            }
        });
        CountDownLatch closed = new CountDownLatch(1);
        Runtime.getRuntime().addShutdownHook(new Thread(() -> {
            try {
                runner.close();
            } catch (Exception e) {
                e.printStackTrace();
            } finally {
                closed.countDown();
            }
        }, "prism-elasticsearch-shutdown"));
        runner.build("-numOfNode", "1", "-basePath", home, "-clusterName", "prism");
        closed.await();
    }
}
