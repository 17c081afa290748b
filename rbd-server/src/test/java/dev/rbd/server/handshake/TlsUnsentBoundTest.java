package dev.rbd.server.handshake;

import static org.assertj.core.api.Assertions.assertThat;
import static org.junit.jupiter.api.Assumptions.abort;

import io.netty.bootstrap.Bootstrap;
import io.netty.bootstrap.ServerBootstrap;
import io.netty.channel.Channel;
import io.netty.channel.ChannelInboundHandlerAdapter;
import io.netty.channel.ChannelInitializer;
import io.netty.channel.EventLoopGroup;
import io.netty.channel.MultiThreadIoEventLoopGroup;
import io.netty.channel.embedded.EmbeddedChannel;
import io.netty.channel.epoll.Epoll;
import io.netty.channel.epoll.EpollChannelOption;
import io.netty.channel.epoll.EpollIoHandler;
import io.netty.channel.epoll.EpollServerSocketChannel;
import io.netty.channel.epoll.EpollSocketChannel;
import java.net.InetSocketAddress;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;

/** The bound on unsent bytes that STARTTLS puts on a TLS connection's socket. */
class TlsUnsentBoundTest {

    @Test
    void anEpollSocketGetsTheBound() throws Exception {
        // the server's own transport on Linux; under CI its absence is a failure, elsewhere a loud skip
        if (!Epoll.isAvailable() && System.getenv("CI") == null) {
            abort("SKIPPED: no epoll transport here: " + Epoll.unavailabilityCause());
        }
        assertThat(Epoll.isAvailable()).as("epoll transport").isTrue();
        EventLoopGroup group = new MultiThreadIoEventLoopGroup(1, EpollIoHandler.newFactory());
        try {
            CompletableFuture<Long> before = new CompletableFuture<>();
            CompletableFuture<Boolean> set = new CompletableFuture<>();
            CompletableFuture<Long> after = new CompletableFuture<>();
            Channel server = new ServerBootstrap().group(group).channel(EpollServerSocketChannel.class)
                    .childHandler(new ChannelInitializer<>() {
                        @Override
                        protected void initChannel(Channel ch) {
                            before.complete(ch.config().getOption(EpollChannelOption.TCP_NOTSENT_LOWAT));
                            set.complete(StartTls.boundUnsent(ch));
                            after.complete(ch.config().getOption(EpollChannelOption.TCP_NOTSENT_LOWAT));
                        }
                    }).bind(new InetSocketAddress("127.0.0.1", 0)).sync().channel();
            Channel client = new Bootstrap().group(group).channel(EpollSocketChannel.class)
                    .handler(new ChannelInboundHandlerAdapter()).connect(server.localAddress()).sync().channel();
            try {
                assertThat(before.get(10, TimeUnit.SECONDS)).as("the kernel's default").isNotEqualTo(
                        StartTls.UNSENT_BOUND);
                assertThat(set.get(10, TimeUnit.SECONDS)).isTrue();
                assertThat(after.get(10, TimeUnit.SECONDS)).isEqualTo(StartTls.UNSENT_BOUND);
            } finally {
                client.close().sync();
                server.close().sync();
            }
        } finally {
            group.shutdownGracefully(0, 1, TimeUnit.SECONDS).sync();
        }
    }

    @Test
    void otherTransportsAreLeftAlone() {
        EmbeddedChannel ch = new EmbeddedChannel();
        assertThat(StartTls.boundUnsent(ch)).isFalse();
        ch.finishAndReleaseAll();
    }
}
