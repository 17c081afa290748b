/** The rbd client library: connect to an NBD server by URI and read and write its export asynchronously. */
package dev.rbd.client;
