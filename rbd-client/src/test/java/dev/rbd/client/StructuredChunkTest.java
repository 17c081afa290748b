package dev.rbd.client;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.rbd.client.FakeServer.Request;
import java.nio.ByteBuffer;
import java.time.Duration;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;

/** Read replies made of OFFSET_HOLE and error chunks, as a scripted server writes them from the spec. */
class StructuredChunkTest {
    private static final ClientOptions NO_RECONNECT = ClientOptions.builder().reconnectWait(Duration.ZERO).build();

    @Test
    void aHoleReadsAsZeroesBesideData() throws Exception {
        try (FakeServer s = new FakeServer(1 << 20, c -> {
            Request r = c.read();
            c.chunkHeader(r.cookie(), 0, 2, 12); // OFFSET_HOLE over the first 6 bytes
            c.out.writeLong(r.offset());
            c.out.writeInt(6);
            c.offsetData(r.cookie(), r.offset() + 6, new byte[] {7, 7}, true);
            c.in.read();
        }); RbdClient client = RbdClient.connect(s.uri(), NO_RECONNECT)) {
            assertThat(client.read(4096, 8).get(5, TimeUnit.SECONDS)).containsExactly(0, 0, 0, 0, 0, 0, 7, 7);
        }
    }

    @Test
    void aHoleReadIntoADirectBufferFillsOnlyItsWindowWithZeroes() throws Exception {
        try (FakeServer s = new FakeServer(1 << 20, c -> {
            Request r = c.read();
            c.offsetData(r.cookie(), r.offset() + 6, new byte[] {7, 7}, false);
            c.chunkHeader(r.cookie(), 1, 2, 12); // OFFSET_HOLE over the first 6 bytes, DONE
            c.out.writeLong(r.offset());
            c.out.writeInt(6);
            c.out.flush();
            c.in.read();
        }); RbdClient client = RbdClient.connect(s.uri(), NO_RECONNECT)) {
            ByteBuffer b = ByteBuffer.allocateDirect(12);
            while (b.hasRemaining()) {
                b.put((byte) 9);
            }
            b.limit(10).position(2);
            client.read(4096, b).get(5, TimeUnit.SECONDS);
            byte[] all = new byte[12];
            b.clear().get(all);
            assertThat(all).containsExactly(9, 9, 0, 0, 0, 0, 0, 0, 7, 7, 9, 9);
        }
    }

    @Test
    void aHoleOfTheWrongLengthIsAProtocolErrorThatSaysSo() throws Exception {
        try (FakeServer s = new FakeServer(1 << 20, c -> {
            Request r = c.read();
            c.chunkHeader(r.cookie(), 1, 2, 11); // OFFSET_HOLE one byte short
            c.out.writeLong(r.offset());
            c.out.write(new byte[3]);
            c.out.flush();
            c.in.read();
        }); RbdClient client = RbdClient.connect(s.uri(), NO_RECONNECT)) {
            CompletableFuture<byte[]> r = client.read(0, 8);
            assertThatThrownBy(() -> r.get(5, TimeUnit.SECONDS)).cause().isInstanceOf(RbdException.class)
                    .hasMessageContaining("OFFSET_HOLE chunk of 11 bytes");
        }
    }

    @Test
    void anErrorChunkFailsTheReadWithTheServersErrorAndMessage() throws Exception {
        try (FakeServer s = new FakeServer(1 << 20, c -> {
            Request r = c.read();
            c.chunkHeader(r.cookie(), 1, 0x8001, 6 + 4); // ERROR
            c.out.writeInt(5); // EIO
            c.out.writeShort(4);
            c.out.writeBytes("bad!");
            c.out.flush();
            c.in.read();
        }); RbdClient client = RbdClient.connect(s.uri(), NO_RECONNECT)) {
            CompletableFuture<byte[]> r = client.read(0, 8);
            assertThatThrownBy(() -> r.get(5, TimeUnit.SECONDS)).cause().isInstanceOf(NbdErrorException.class)
                    .hasMessageContaining("EIO").hasMessageContaining("(bad!)");
        }
    }

    @Test
    void aBlockStatusChunkInAReadsReplyIsAProtocolError() throws Exception {
        try (FakeServer s = new FakeServer(1 << 20, c -> {
            Request r = c.read();
            c.chunkHeader(r.cookie(), 1, 5, 12); // BLOCK_STATUS, though nobody asked
            c.out.writeInt(1); // context id
            c.out.writeInt(8); // extent length
            c.out.writeInt(0); // extent flags
            c.out.flush();
            c.in.read();
        }); RbdClient client = RbdClient.connect(s.uri(), NO_RECONNECT)) {
            assertThat(client.info().blockStatus()).isFalse();
            assertThatThrownBy(() -> client.blockStatus(0, 8)).isInstanceOf(IllegalStateException.class)
                    .hasMessageContaining("base:allocation");
            CompletableFuture<byte[]> r = client.read(0, 8);
            assertThatThrownBy(() -> r.get(5, TimeUnit.SECONDS)).cause().isInstanceOf(RbdException.class)
                    .hasMessageContaining("BLOCK_STATUS chunk for READ");
        }
    }
}
