package c360.hadoop;

import org.apache.hadoop.conf.Configuration;

/**
 * Drops the shipped defaults of Hadoop services c360 never talks to from a configuration, in
 * the JVM: {@code c360.spark.drop_unused_hadoop_defaults} asks once, instead of five Py4J round
 * trips for each of the ~730 properties (3,600 commands, about half a second of every new
 * session; docs/benchmarks.md, "Small jobs and the size of Hadoop's configuration").
 */
public final class HadoopDefaults {
    private HadoopDefaults() {}

    /**
     * Unsets every property whose name {@code names} finds (Java's {@code Matcher.find}, as
     * {@link Configuration#getValByRegex} matches) and whose every source is one of Hadoop's
     * {@code *-default.xml} files; a value set on purpose stays, whatever its name. Returns how
     * many properties went.
     */
    public static int dropUnused(Configuration conf, String names) {
        int dropped = 0;
        for (String name : conf.getValByRegex(names).keySet()) {
            String[] sources = conf.getPropertySources(name);
            if (sources != null && fromDefaults(sources)) {
                conf.unset(name);
                dropped++;
            }
        }
        return dropped;
    }

    private static boolean fromDefaults(String[] sources) {
        for (String source : sources) {
            if (!source.endsWith("-default.xml")) {
                return false;
            }
        }
        return true;
    }
}
