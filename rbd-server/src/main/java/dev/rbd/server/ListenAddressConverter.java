package dev.rbd.server;

import dev.rbd.protocol.NbdConstants;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.UnknownHostException;
import picocli.CommandLine.ITypeConverter;
import picocli.CommandLine.TypeConversionException;

/**
 * Reads {@code --listen HOST:PORT}: {@code 127.0.0.1:10809}, {@code [::1]:10809}, {@code :10809} (every address),
 * or a host alone (NBD's port 10809); a bad address is a usage error.
 */
final class ListenAddressConverter implements ITypeConverter<InetSocketAddress> {
    @Override
    public InetSocketAddress convert(String s) {
        String host;
        String port;
        if (s.startsWith("[")) {
            int close = s.indexOf(']');
            if (close < 0) {
                throw new TypeConversionException("bad address '" + s + "' (expected [IPv6]:PORT)");
            }
            host = s.substring(1, close);
            if (s.length() > close + 1 && s.charAt(close + 1) != ':') {
                throw new TypeConversionException("bad address '" + s + "' (expected [IPv6]:PORT)");
            }
            port = s.length() > close + 1 ? s.substring(close + 2) : "";
        } else {
            int colon = s.lastIndexOf(':');
            host = colon >= 0 ? s.substring(0, colon) : s;
            port = colon >= 0 ? s.substring(colon + 1) : "";
        }
        try {
            return new InetSocketAddress(InetAddress.getByName(host.isEmpty() ? "0.0.0.0" : host), port(s, port));
        } catch (UnknownHostException e) {
            throw new TypeConversionException("unknown host '" + host + "' in '" + s + "'");
        }
    }

    private static int port(String address, String port) {
        if (port.isEmpty()) {
            return NbdConstants.DEFAULT_PORT;
        }
        int p = -1;
        if (port.length() <= 5 && port.chars().allMatch(c -> c >= '0' && c <= '9')) {
            p = Integer.parseInt(port);
        }
        if (p < 0 || p > 65535) {
            throw new TypeConversionException("bad port in '" + address + "' (expected: 0 to 65535)");
        }
        return p;
    }
}
