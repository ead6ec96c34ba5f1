package datagateway.opensearch;

import java.nio.file.Path;
import java.nio.file.Paths;
import java.util.ArrayList;
import java.util.Collection;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;

import org.opensearch.common.settings.Settings;
import org.opensearch.env.Environment;
import org.opensearch.node.InternalSettingsPreparer;
import org.opensearch.node.Node;
import org.opensearch.plugins.Plugin;

/**
 * A single OpenSearch node for tests, built from Maven Central jars instead of a distribution.
 *
 * <p>The distribution's launcher (Bootstrap) installs a security manager, runs the production
 * bootstrap checks and loads plugins from zip-installed folders. None of that applies here:
 * {@link Node}'s protected constructor takes plugin classes that are already on the classpath,
 * and the plain {@code Node} skips bootstrap checks. All node settings come from
 * {@code <path.home>/config/opensearch.yml}, written by scripts/svc/opensearch.py.
 */
public final class TestNode extends Node {

    /** Modules a distribution ships and the data gateway may use; absent ones are skipped. */
    private static final List<String> PLUGIN_CLASSES = List.of(
            "org.opensearch.transport.Netty4Plugin",
            "org.opensearch.index.reindex.ReindexPlugin",
            "org.opensearch.analysis.common.CommonAnalysisPlugin",
            "org.opensearch.painless.PainlessPlugin",
            "org.opensearch.index.mapper.MapperExtrasPlugin");

    private TestNode(Environment environment, Collection<Class<? extends Plugin>> plugins) {
        super(environment, plugins, true);
    }

    /** Loads the plugin classes by name so that trimming the pom does not need a code change. */
    private static List<Class<? extends Plugin>> classpathPlugins() {
        List<Class<? extends Plugin>> plugins = new ArrayList<>();
        for (String name : PLUGIN_CLASSES) {
            try {
                plugins.add(Class.forName(name).asSubclass(Plugin.class));
            } catch (ClassNotFoundException e) {
                System.err.println("test node: plugin not on classpath, skipped: " + name);
            }
        }
        return plugins;
    }

    public static void main(String[] args) throws Exception {
        String home = System.getProperty("opensearch.path.home");
        if (home == null) {
            System.err.println("test node: -Dopensearch.path.home=<dir> is required");
            System.exit(2);
        }
        Path homePath = Paths.get(home).toAbsolutePath();
        Settings base = Settings.builder().put("path.home", homePath.toString()).build();
        Environment environment = InternalSettingsPreparer.prepareEnvironment(
                base, Map.of(), homePath.resolve("config"), () -> "test-node");

        TestNode node = new TestNode(environment, classpathPlugins());
        CountDownLatch closed = new CountDownLatch(1);
        // SIGTERM from `scripts/services stop` lands here: close the node so Lucene commits and
        // the data directory's lock is released before the JVM exits.
        Runtime.getRuntime().addShutdownHook(new Thread(() -> {
            try {
                node.close();
                node.awaitClose(20, TimeUnit.SECONDS);
            } catch (Exception e) {
                e.printStackTrace();
            } finally {
                closed.countDown();
            }
        }, "test-node-shutdown"));

        try {
            node.start();
        } catch (Exception e) {
            e.printStackTrace();
            System.exit(1);
        }
        System.out.println("test node: started");
        // Node threads may all be daemons; keep the JVM alive until the shutdown hook ran.
        closed.await();
    }
}
