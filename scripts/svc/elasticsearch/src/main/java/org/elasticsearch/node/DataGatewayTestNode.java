package org.elasticsearch.node;

import java.nio.file.Path;
import java.nio.file.Paths;
import java.util.ArrayList;
import java.util.Collection;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;

import org.elasticsearch.common.logging.LogConfigurator;
import org.elasticsearch.common.settings.Settings;
import org.elasticsearch.env.Environment;
import org.elasticsearch.plugins.ClasspathPluginsService;
import org.elasticsearch.plugins.Plugin;
import org.elasticsearch.plugins.PluginsLoader;
import org.elasticsearch.plugins.PluginsService;

/**
 * A single Elasticsearch node for tests, built from Maven Central jars instead of a distribution.
 *
 * <p>The distribution's launcher (a CLI that starts {@code org.elasticsearch.bootstrap.Elasticsearch})
 * loads modules from folders, sets up entitlements (9.x replaces the security manager with an agent
 * that instruments the JDK) and runs the production bootstrap checks. None of that applies to a
 * loopback test node: this class builds the node the way Elasticsearch's own integration tests do
 * ({@code MockNode}), through {@link NodeConstruction} with a {@link NodeServiceProvider} whose
 * plugins are classes on the classpath, which is why it lives in Elasticsearch's package (both are
 * package-private). No security (X-Pack is not on the classpath). All node settings come from
 * {@code <path.home>/config/elasticsearch.yml}, written by scripts/svc/elasticsearch.py.
 */
public final class DataGatewayTestNode extends Node {

    /** Modules a distribution ships that the data gateway needs; absent ones are skipped. */
    private static final List<String> PLUGIN_CLASSES = List.of("org.elasticsearch.transport.netty4.Netty4Plugin");

    private DataGatewayTestNode(Environment environment, Collection<Class<? extends Plugin>> plugins) {
        super(NodeConstruction.prepareConstruction(environment, ClasspathPluginsService.emptyLoader(), new Provider(plugins), true));
    }

    /** Services as a distribution's node has them, with the classpath's plugins. */
    private static final class Provider extends NodeServiceProvider {
        private final Collection<Class<? extends Plugin>> plugins;

        Provider(Collection<Class<? extends Plugin>> plugins) {
            this.plugins = plugins;
        }

        @Override
        PluginsService newPluginService(Environment environment, PluginsLoader pluginsLoader) {
            return new ClasspathPluginsService(environment.settings(), environment.configDir(), plugins);
        }
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
        String home = System.getProperty("es.path.home");
        if (home == null) {
            System.err.println("test node: -Des.path.home=<dir> is required");
            System.exit(2);
        }
        Path homePath = Paths.get(home).toAbsolutePath();
        Settings base = Settings.builder().put("path.home", homePath.toString()).build();
        Environment environment = InternalSettingsPreparer.prepareEnvironment(
            base,
            Map.of(),
            homePath.resolve("config"),
            () -> "test-node"
        );
        // As the distribution's bootstrap does: Elasticsearch's logging API needs its factory, and
        // log4j reads config/log4j2.properties (console only; see that file).
        LogConfigurator.registerErrorListener();
        LogConfigurator.setNodeName(NODE_NAME_SETTING.get(environment.settings()));
        LogConfigurator.configure(environment, true);

        DataGatewayTestNode node = new DataGatewayTestNode(environment, classpathPlugins());
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
