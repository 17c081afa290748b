package dev.rbd.server;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.rbd.protocol.Sizes;
import java.io.PrintWriter;
import java.io.StringWriter;
import java.net.InetSocketAddress;
import org.junit.jupiter.api.Test;
import picocli.CommandLine;

class ExportCommandTest {
    @Test
    void parsesListenAddressesIncludingIpv6() throws Exception {
        assertThat(ExportCommand.parseAddress("127.0.0.1:10900")).isEqualTo(new InetSocketAddress("127.0.0.1", 10900));
        assertThat(ExportCommand.parseAddress("[::1]:10901").getAddress().getHostAddress()).isEqualTo("0:0:0:0:0:0:0:1");
        assertThat(ExportCommand.parseAddress("[::1]:10901").getPort()).isEqualTo(10901);
        assertThat(ExportCommand.parseAddress("127.0.0.1").getPort()).isEqualTo(10809);
        assertThat(ExportCommand.parseAddress(":10902").getPort()).isEqualTo(10902);
        assertThatThrownBy(() -> ExportCommand.parseAddress("[::1:10901")).hasMessageContaining("[IPv6]");
    }

    @Test
    void parsesSizes() {
        assertThat(Sizes.parse("4096")).isEqualTo(4096);
        assertThat(Sizes.parse("4k")).isEqualTo(4096);
        assertThat(Sizes.parse("512M")).isEqualTo(512L << 20);
        assertThat(Sizes.parse("4G")).isEqualTo(4L << 30);
        assertThat(Sizes.parse("1TiB")).isEqualTo(1L << 40);
        assertThatThrownBy(() -> Sizes.parse("4x")).hasMessageContaining("not a size");
        assertThatThrownBy(() -> Sizes.parse("99999999E")).hasMessageContaining("out of range");
    }

    @Test
    void missingImageWithoutCreateIsAClearError() {
        StringWriter err = new StringWriter();
        CommandLine cl = RbdServerMain.commandLine();
        cl.setErr(new PrintWriter(err));
        int code = cl.execute("export", "/nonexistent/dir/x.img", "--listen", "127.0.0.1:0");
        assertThat(code).isEqualTo(1);
        assertThat(err.toString()).contains("x.img").contains("--create");
    }

    @Test
    void unknownOptionIsAUsageError() {
        StringWriter err = new StringWriter();
        CommandLine cl = RbdServerMain.commandLine();
        cl.setErr(new PrintWriter(err));
        assertThat(cl.execute("export", "--bogus", "x.img")).isEqualTo(2);
        assertThat(err.toString()).contains("--bogus");
    }
}
