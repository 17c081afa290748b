package dev.rbd.server.handshake;

import dev.rbd.protocol.NbdOption;
import dev.rbd.protocol.NbdReplyType;
import dev.rbd.protocol.NbdString;
import dev.rbd.protocol.OptionReply;
import dev.rbd.protocol.codec.ServerHandshakeDecoder;
import dev.rbd.protocol.tls.TlsIdentity;
import dev.rbd.server.export.Connection;
import dev.rbd.server.export.ServerTls;
import io.netty.buffer.ByteBuf;
import io.netty.channel.Channel;
import io.netty.channel.ChannelFutureListener;
import io.netty.channel.ChannelHandlerContext;
import io.netty.channel.epoll.EpollChannelOption;
import io.netty.channel.epoll.EpollSocketChannel;
import io.netty.handler.ssl.SslHandler;
import io.netty.handler.ssl.SslHandshakeCompletionEvent;
import java.nio.channels.ClosedChannelException;
import java.util.Locale;
import javax.net.ssl.SSLException;
import javax.net.ssl.SSLSession;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * STARTTLS for one connection, as the NBD spec's "TLS support" section says: the ACK leaves in plaintext, the TLS
 * handshake follows at once, and nothing said before survives it. Bytes the client sent behind STARTTLS before the
 * handshake are dropped unread (nbdkit's CVE-2021-3716 processed them as options). With {@code --tls require}, every
 * option but STARTTLS and ABORT is refused with {@code ERR_TLS_REQD} until TLS is up, so no export is revealed.
 *
 * <pre>
 *   PLAIN --STARTTLS: SslHandler first in the pipeline, ACK--> HANDSHAKING --success--> ENCRYPTED
 *                                                                 |
 *                                                                 +--failure: one log line, close --> FAILED
 * </pre>
 */
final class StartTls {
    private static final Logger log = LoggerFactory.getLogger(StartTls.class);
    /** The SslHandler's name in the pipeline, where it stays (first) through the transmission phase. */
    static final String HANDLER = "tls";
    /** The most unsent bytes the kernel holds for a TLS connection (TCP_NOTSENT_LOWAT); see {@link #boundUnsent}. */
    static final long UNSENT_BOUND = 32 << 10;

    private enum Phase {
        PLAIN, HANDSHAKING, ENCRYPTED,
        /** The TLS handshake failed and the connection is closing: nothing more is read. */
        FAILED
    }

    private final ServerTls tls;
    private final Connection conn;
    private Phase phase = Phase.PLAIN;

    StartTls(ServerTls tls, Connection conn) {
        this.tls = tls;
        this.conn = conn;
    }

    /**
     * The TLS handshake is under way (or failed): options are not read until it has succeeded. An option can only
     * come through the TLS layer, decrypted, once its handshake succeeded; should it come before the completion
     * event, the handshake is taken as done here.
     */
    boolean handshaking(ChannelHandlerContext ctx) {
        if (phase == Phase.HANDSHAKING) {
            SslHandler ssl = ctx.pipeline().get(SslHandler.class);
            if (ssl != null && ssl.handshakeFuture().isSuccess()) {
                succeeded(ctx, ssl);
            }
        }
        return phase == Phase.HANDSHAKING || phase == Phase.FAILED;
    }

    /**
     * Under {@code --tls require} before TLS is up, refuses an option other than STARTTLS and ABORT: its data is
     * consumed already, the reply is {@code ERR_TLS_REQD}, and EXPORT_NAME (which has no error reply) closes the
     * connection. Returns whether the option was refused.
     */
    boolean refuse(ChannelHandlerContext ctx, int code) {
        if (!tls.required() || phase != Phase.PLAIN || code == NbdOption.STARTTLS.code()
                || code == NbdOption.ABORT.code()) {
            return false;
        }
        if (code == NbdOption.EXPORT_NAME.code()) {
            log.info("[{}] {}: EXPORT_NAME without TLS, which this server requires; closing", conn.id(), conn.peer());
            ctx.close();
            return true;
        }
        OptionErrors.send(ctx, conn, code, NbdReplyType.ERR_TLS_REQD, "this server requires TLS: send STARTTLS first");
        return true;
    }

    /**
     * Answers STARTTLS. Returns true when the TLS handshake has started: the caller then forgets every option
     * negotiated before.
     *
     * @param sessionOpen the rbd session option was accepted in plaintext: its state cannot be forgotten, so
     *                    STARTTLS is refused
     */
    boolean start(ChannelHandlerContext ctx, int code, ByteBuf data, boolean sessionOpen) {
        if (!tls.enabled()) {
            OptionErrors.send(ctx, conn, code, NbdReplyType.ERR_UNSUP, "TLS is not enabled on this server");
            return false;
        }
        if (data.isReadable()) {
            OptionErrors.send(ctx, conn, code, NbdReplyType.ERR_INVALID, "STARTTLS takes no data");
            return false;
        }
        if (phase != Phase.PLAIN) {
            OptionErrors.send(ctx, conn, code, NbdReplyType.ERR_INVALID, "TLS is already negotiated");
            return false;
        }
        if (sessionOpen) {
            OptionErrors.send(ctx, conn, code, NbdReplyType.ERR_INVALID, "STARTTLS must come before the rbd session "
                    + "option");
            return false;
        }
        // startTls=true: the first write (the ACK below) leaves in plaintext, everything after it is encrypted.
        SslHandler ssl = new SslHandler(tls.context().newEngine(ctx.alloc()), true);
        ssl.setHandshakeTimeoutMillis(0); // the handshake timeout covers the TLS handshake too
        ctx.pipeline().addFirst(HANDLER, ssl);
        boundUnsent(ctx.channel());
        ServerHandshakeDecoder decoder = ctx.pipeline().get(ServerHandshakeDecoder.class);
        int dropped = decoder.discardBuffered();
        if (dropped > 0) {
            log.warn("[{}] {}: {} bytes sent behind STARTTLS before the TLS handshake; dropped unread", conn.id(),
                    conn.peer(), dropped);
        }
        phase = Phase.HANDSHAKING;
        ctx.writeAndFlush(OptionReply.ack(code)).addListener(ChannelFutureListener.FIRE_EXCEPTION_ON_FAILURE);
        return true;
    }

    /**
     * Lets the kernel hold at most {@link #UNSENT_BOUND} unsent bytes of a TLS connection (epoll only), so the event
     * loop hands over encrypted records as the socket drains instead of queueing megabytes at once. Returns whether
     * the bound was set.
     *
     * <p>Measured with fio's nbd engine over TLS 1.3 on 2 cores (docs/benchmarks.md): the client, decrypting, is the
     * bottleneck, and with megabytes queued its profile showed the server's sending (ACK-clocked transmits, pacing
     * timers) running in its own softirqs. 1 MiB reads at QD8 went from 0.76x nbdkit (steady state; 0.88-0.92x in
     * bench.sh) to 1.03x with 32 KiB (16 KiB and 64 KiB did no better and varied more); 4k random reads did not
     * change. Plaintext connections keep the
     * kernel's default, since the same bound cost them 20-30% of their 1 MiB read throughput.
     */
    static boolean boundUnsent(Channel ch) {
        return ch instanceof EpollSocketChannel && ch.config().setOption(EpollChannelOption.TCP_NOTSENT_LOWAT,
                UNSENT_BOUND);
    }

    /**
     * Handles the end of the TLS handshake; returns false for events that are not about it.
     *
     * @param timedOut the handshake timeout closed the connection, and said so in its own line
     */
    boolean handshakeEvent(ChannelHandlerContext ctx, Object evt, boolean timedOut) {
        if (!(evt instanceof SslHandshakeCompletionEvent done)) {
            return false;
        }
        if (phase != Phase.HANDSHAKING) {
            return phase == Phase.ENCRYPTED && done.isSuccess(); // taken as done already
        }
        if (!done.isSuccess() && done.cause() instanceof ClosedChannelException) {
            phase = Phase.FAILED;
            if (!timedOut) {
                // GnuTLS clients (libnbd, qemu) that reject the server's certificate hang up without an alert
                log.warn("[{}] {}: TLS handshake failed: the client closed the connection (does it trust the "
                        + "server's certificate, and the name in it?)", conn.id(), conn.peer());
            }
            return true;
        }
        if (!done.isSuccess()) {
            log.warn("[{}] {}: TLS handshake failed: {}", conn.id(), conn.peer(), reason(done.cause()));
            log.debug("[{}] TLS handshake failure", conn.id(), done.cause());
            phase = Phase.FAILED;
            ctx.close();
            return true;
        }
        succeeded(ctx, ctx.pipeline().get(SslHandler.class));
        return true;
    }

    private void succeeded(ChannelHandlerContext ctx, SslHandler ssl) {
        phase = Phase.ENCRYPTED;
        SSLSession session = ssl.engine().getSession();
        String cn = TlsIdentity.commonName(session);
        if (tls.verifyPeer()) {
            conn.identity(cn);
        }
        log.info("[{}] {}: TLS {} {}{}", conn.id(), conn.peer(), session.getProtocol(), session.getCipherSuite(),
                cn == null ? "" : " identity=" + NbdString.printable(cn));
    }

    /** Whether an exception is the TLS handshake's failure, which {@link #handshakeEvent} has logged already. */
    boolean handshakeFailure(Throwable cause) {
        if (phase == Phase.ENCRYPTED) {
            return false;
        }
        for (Throwable c = cause; c != null; c = c.getCause() == c ? null : c.getCause()) {
            if (c instanceof SSLException) {
                return true;
            }
        }
        return false;
    }

    /** The reason a handshake failed, in words an operator recognises. */
    static String reason(Throwable cause) {
        String raw = rootMessage(cause);
        String m = raw.toLowerCase(Locale.ROOT);
        if (m.contains("peer_did_not_return_a_certificate") || m.contains("empty client certificate chain")
                || m.contains("null cert chain")) {
            return "no client certificate";
        }
        if (m.contains("expired") || m.contains("validity check failed")) {
            return "certificate expired (" + NbdString.printable(raw) + ")";
        }
        // BoringSSL: "..._ALERT_CERTIFICATE_UNKNOWN"; the JDK: "Received fatal alert: certificate_unknown"
        if (m.matches(".*alert[_: ]+(certificate_unknown|bad_certificate|unknown_ca|unsupported_certificate).*")) {
            return "the client rejected the server's certificate (" + NbdString.printable(raw) + ")";
        }
        if (m.contains("does not chain") || m.contains("pkix path") || m.contains("certification path")
                || m.contains("certificate_verify_failed") || m.contains("signature check failed")) {
            return "client certificate not accepted (" + NbdString.printable(raw) + ")";
        }
        if (m.contains("not an ssl/tls record") || m.contains("wrong_version_number")
                || m.contains("http_request") || m.contains("unsupported or unrecognized ssl message")) {
            return "not TLS (" + NbdString.printable(raw) + ")";
        }
        return NbdString.printable(raw);
    }

    private static String rootMessage(Throwable t) {
        Throwable c = t;
        while (c.getCause() != null && c.getCause() != c) {
            c = c.getCause();
        }
        return c.getMessage() != null ? c.getMessage() : c.toString();
    }
}
