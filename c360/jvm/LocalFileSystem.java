package c360.hadoop;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.attribute.PosixFilePermission;
import java.util.EnumSet;
import java.util.Set;

import org.apache.hadoop.fs.Path;
import org.apache.hadoop.fs.permission.FsPermission;

/**
 * Hadoop's local file system (checksums included), setting permissions with a system call.
 *
 * <p>Without Hadoop's native library, which pyspark does not ship, Hadoop's RawLocalFileSystem
 * sets a permission by starting a {@code chmod} process: for every folder and every file a
 * Spark write creates, its checksum files included. A year's sanitize started 11,045 of them,
 * at about 4 ms each (docs/benchmarks.md, "Spark's writes without a chmod process per file").
 * Here the same mode is set through {@code java.nio}; a mode with a sticky, setuid or setgid
 * bit, which {@code java.nio} cannot express, still goes through Hadoop's own way, as does a
 * file on a store without POSIX permissions.
 */
public class LocalFileSystem extends org.apache.hadoop.fs.LocalFileSystem {
    public LocalFileSystem() {
        super(new Raw());
    }

    /** The raw (checksum-less) file system under {@link LocalFileSystem}. */
    public static class Raw extends org.apache.hadoop.fs.RawLocalFileSystem {
        // Bit i of a POSIX mode, from the lowest (others' execute) up.
        private static final PosixFilePermission[] BITS = {
            PosixFilePermission.OTHERS_EXECUTE, PosixFilePermission.OTHERS_WRITE, PosixFilePermission.OTHERS_READ,
            PosixFilePermission.GROUP_EXECUTE, PosixFilePermission.GROUP_WRITE, PosixFilePermission.GROUP_READ,
            PosixFilePermission.OWNER_EXECUTE, PosixFilePermission.OWNER_WRITE, PosixFilePermission.OWNER_READ,
        };

        @Override
        public void setPermission(Path p, FsPermission permission) throws IOException {
            short mode = permission.toShort();
            if ((mode & ~0777) != 0) {
                super.setPermission(p, permission);
                return;
            }
            Set<PosixFilePermission> bits = EnumSet.noneOf(PosixFilePermission.class);
            for (int i = 0; i < BITS.length; i++) {
                if ((mode & (1 << i)) != 0) {
                    bits.add(BITS[i]);
                }
            }
            try {
                Files.setPosixFilePermissions(pathToFile(p).toPath(), bits);
            } catch (UnsupportedOperationException e) {
                super.setPermission(p, permission); // a file store without POSIX permissions
            }
        }
    }
}
