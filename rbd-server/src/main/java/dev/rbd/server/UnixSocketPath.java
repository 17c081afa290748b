package dev.rbd.server;

import java.io.IOException;
import java.net.ConnectException;
import java.net.StandardProtocolFamily;
import java.net.UnixDomainSocketAddress;
import java.nio.channels.SocketChannel;
import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.nio.file.attribute.BasicFileAttributes;
import java.util.Objects;

/**
 * The path of {@code --unix}: a server takes it only when nothing is there or a stale socket is (one no server
 * answers on), never a live server's socket or a file that is not a socket; and on stopping it removes the path
 * only while it is still its own socket, not one a later server bound there.
 */
final class UnixSocketPath {
    /** {@code S_IFMT} and {@code S_IFSOCK} of {@code st_mode}. */
    private static final int TYPE_MASK = 0170000;
    private static final int SOCKET = 0140000;

    private UnixSocketPath() {
    }

    /** Makes the path free to bind: refuses a live socket or a non-socket, removes a stale socket. */
    static void claim(Path path) throws IOException {
        Object mode;
        try {
            mode = Files.getAttribute(path, "unix:mode", LinkOption.NOFOLLOW_LINKS);
        } catch (NoSuchFileException e) {
            return;
        }
        if (!(mode instanceof Integer m) || (m & TYPE_MASK) != SOCKET) {
            throw new IOException(path + ": exists and is not a socket; not replacing it");
        }
        try (SocketChannel probe = SocketChannel.open(StandardProtocolFamily.UNIX)) {
            probe.connect(UnixDomainSocketAddress.of(path));
            throw new IOException(path + ": a server is listening there already");
        } catch (ConnectException stale) {
            Files.deleteIfExists(path); // no one answers: what is left of a server that died
        }
    }

    /** What tells this socket file from another at the same path later (its device and inode). */
    static Object key(Path path) throws IOException {
        return Files.readAttributes(path, BasicFileAttributes.class, LinkOption.NOFOLLOW_LINKS).fileKey();
    }

    /** Removes the path if it is still the socket {@code key} names; true when it did. */
    static boolean removeIfOurs(Path path, Object key) throws IOException {
        try {
            if (key != null && Objects.equals(key(path), key)) {
                return Files.deleteIfExists(path);
            }
            return false;
        } catch (NoSuchFileException e) {
            return false;
        }
    }
}
