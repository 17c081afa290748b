/** rbd-server's TLS against the real NBD clients (nbdinfo, nbdcopy, qemu-img, qemu-io), certificates from certtool. */
package dev.rbd.cli.tls;
