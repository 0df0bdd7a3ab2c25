package dev.prism.engines;

import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;

import org.opensearch.analysis.common.CommonAnalysisPlugin;
import org.opensearch.common.logging.LogConfigurator;
import org.opensearch.common.settings.Settings;
import org.opensearch.env.Environment;
import org.opensearch.index.reindex.ReindexPlugin;
import org.opensearch.node.InternalSettingsPreparer;
import org.opensearch.node.Node;
import org.opensearch.transport.Netty4Plugin;

/**
 * One OpenSearch node from the jars on the classpath, for scripts/engine
 * search: SearchNode HOME reads HOME/config/opensearch.yml and
 * log4j2.properties, runs until SIGTERM, then closes the node (flushing
 * its shards) before the JVM exits.
 *
 * A distribution starts through Bootstrap, which loads modules from
 * modules/ (plugin descriptors and their jars) and runs the production
 * checks; from Maven jars there is no modules/ directory, so the modules
 * are given to the node as classes. Node's constructor that takes them is
 * protected, hence the subclass.
 */
public final class SearchNode {
    private static final List<Class<? extends org.opensearch.plugins.Plugin>> MODULES =
        List.of(Netty4Plugin.class, CommonAnalysisPlugin.class, ReindexPlugin.class);

    private static final class WithModules extends Node {
        WithModules(Environment environment) {
            super(environment, MODULES, true);
        }
    }

    public static void main(String[] args) throws Exception {
        if (args.length != 1) {
            System.err.println("usage: SearchNode HOME");
            System.exit(2);
        }
        Path home = Path.of(args[0]).toAbsolutePath();
        Settings given = Settings.builder().put("path.home", home.toString()).build();
        Environment environment = InternalSettingsPreparer.prepareEnvironment(
            given, Map.of(), home.resolve("config"), () -> "prism-search");
        LogConfigurator.setNodeName(Node.NODE_NAME_SETTING.get(environment.settings()));
        LogConfigurator.configure(environment);

        Node node = new WithModules(environment);
        CountDownLatch closed = new CountDownLatch(1);
        Runtime.getRuntime().addShutdownHook(new Thread(() -> {
            try {
                node.close();
                node.awaitClose(30, TimeUnit.SECONDS);
            } catch (Exception e) {
                e.printStackTrace();
            } finally {
                closed.countDown();
            }
        }, "prism-search-shutdown"));
        node.start();
        closed.await();
    }
}
