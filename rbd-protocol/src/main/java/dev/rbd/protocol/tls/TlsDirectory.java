package dev.rbd.protocol.tls;

import java.io.IOException;
import java.io.InputStream;
import java.io.Reader;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.security.PrivateKey;
import java.security.cert.CertificateException;
import java.security.cert.CertificateFactory;
import java.security.cert.X509Certificate;
import java.util.ArrayList;
import java.util.List;
import org.bouncycastle.asn1.pkcs.PrivateKeyInfo;
import org.bouncycastle.openssl.PEMEncryptedKeyPair;
import org.bouncycastle.openssl.PEMKeyPair;
import org.bouncycastle.openssl.PEMParser;
import org.bouncycastle.openssl.jcajce.JcaPEMKeyConverter;
import org.bouncycastle.pkcs.PKCS8EncryptedPrivateKeyInfo;

/**
 * A certificate directory in the layout nbdkit, qemu and libnbd share: {@code ca-cert.pem}, and
 * {@code server-cert.pem} with {@code server-key.pem} on a server, or {@code client-cert.pem} with
 * {@code client-key.pem} on a client. Keys may be PKCS#8, PKCS#1 (RSA) or SEC1 (EC) PEM, as {@code certtool} and
 * {@code openssl} write them; encrypted keys are refused. Every failure names the file and what is wrong with it.
 *
 * @param dir   the directory
 * @param ca    the CA certificates from {@code ca-cert.pem}; empty when the file is absent
 * @param chain this end's certificate chain, or empty when it has none (a client without a certificate)
 * @param key   this end's private key, or {@code null} with an empty chain
 */
public record TlsDirectory(Path dir, List<X509Certificate> ca, List<X509Certificate> chain, PrivateKey key) {
    public static final String CA_CERT = "ca-cert.pem";
    public static final String SERVER_CERT = "server-cert.pem";
    public static final String SERVER_KEY = "server-key.pem";
    public static final String CLIENT_CERT = "client-cert.pem";
    public static final String CLIENT_KEY = "client-key.pem";

    public TlsDirectory {
        ca = List.copyOf(ca);
        chain = List.copyOf(chain);
        if (chain.isEmpty() != (key == null)) {
            throw new IllegalArgumentException("a certificate chain needs its key, and a key its chain");
        }
    }

    /**
     * A server's directory: {@code server-cert.pem} and {@code server-key.pem} must be there; {@code ca-cert.pem}
     * too when {@code needCa} (to verify client certificates).
     */
    public static TlsDirectory server(Path dir, boolean needCa) throws IOException {
        requireDirectory(dir);
        List<X509Certificate> ca = needCa ? certificates(dir.resolve(CA_CERT)) : optionalCertificates(dir, CA_CERT);
        return new TlsDirectory(dir, ca, certificates(dir.resolve(SERVER_CERT)), privateKey(dir.resolve(SERVER_KEY)));
    }

    /**
     * A client's directory: {@code ca-cert.pem} must be there when {@code needCa} (to verify the server);
     * {@code client-cert.pem} and {@code client-key.pem} are used when both are there.
     */
    public static TlsDirectory client(Path dir, boolean needCa) throws IOException {
        requireDirectory(dir);
        List<X509Certificate> ca = needCa ? certificates(dir.resolve(CA_CERT)) : optionalCertificates(dir, CA_CERT);
        Path cert = dir.resolve(CLIENT_CERT);
        Path key = dir.resolve(CLIENT_KEY);
        if (Files.exists(cert) != Files.exists(key)) {
            throw new IOException(dir + ": " + (Files.exists(cert) ? CLIENT_CERT + " without " + CLIENT_KEY
                    : CLIENT_KEY + " without " + CLIENT_CERT));
        }
        if (!Files.exists(cert)) {
            return new TlsDirectory(dir, ca, List.of(), null);
        }
        return new TlsDirectory(dir, ca, certificates(cert), privateKey(key));
    }

    /** Whether this end has a certificate to present. */
    public boolean hasCertificate() {
        return key != null;
    }

    private static void requireDirectory(Path dir) throws IOException {
        if (!Files.isDirectory(dir)) {
            throw new IOException(dir + ": " + (Files.exists(dir) ? "not a directory" : "no such directory"));
        }
    }

    private static List<X509Certificate> optionalCertificates(Path dir, String name) throws IOException {
        Path p = dir.resolve(name);
        return Files.exists(p) ? certificates(p) : List.of();
    }

    /** Every certificate in a PEM file; at least one. */
    static List<X509Certificate> certificates(Path file) throws IOException {
        List<X509Certificate> out = new ArrayList<>();
        try (InputStream in = Files.newInputStream(file)) {
            CertificateFactory f = CertificateFactory.getInstance("X.509");
            for (var c : f.generateCertificates(in)) {
                out.add((X509Certificate) c);
            }
        } catch (NoSuchFileException e) {
            throw new IOException(file + ": no such file", e);
        } catch (CertificateException e) {
            throw new IOException(file + ": not a PEM certificate (" + e.getMessage() + ")", e);
        }
        if (out.isEmpty()) {
            throw new IOException(file + ": holds no certificate");
        }
        return out;
    }

    /** The first private key in a PEM file, in any of the unencrypted forms certtool and openssl write. */
    static PrivateKey privateKey(Path file) throws IOException {
        try (Reader r = Files.newBufferedReader(file, StandardCharsets.US_ASCII); PEMParser pem = new PEMParser(r)) {
            JcaPEMKeyConverter converter = new JcaPEMKeyConverter();
            for (Object o = pem.readObject(); o != null; o = pem.readObject()) {
                if (o instanceof PEMKeyPair pair) {
                    return converter.getPrivateKey(pair.getPrivateKeyInfo());
                }
                if (o instanceof PrivateKeyInfo info) {
                    return converter.getPrivateKey(info);
                }
                if (o instanceof PEMEncryptedKeyPair || o instanceof PKCS8EncryptedPrivateKeyInfo) {
                    throw new IOException(file + ": the private key is encrypted; rbd needs it unencrypted (keep the "
                            + "file readable by the server's user only)");
                }
                // EC PARAMETERS blocks and the like come before the key: skip them
            }
        } catch (NoSuchFileException e) {
            throw new IOException(file + ": no such file", e);
        } catch (IOException e) {
            if (e.getMessage() != null && e.getMessage().startsWith(file.toString())) {
                throw e;
            }
            throw new IOException(file + ": not a PEM private key (" + e.getMessage() + ")", e);
        }
        throw new IOException(file + ": holds no private key");
    }
}
