/** TLS for both ends: the certificate directory nbdkit, qemu and libnbd share, and the engine that runs it. */
package dev.rbd.protocol.tls;
