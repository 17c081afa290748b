/** Storage behind exports: files and block devices, memory for tests, and group commit. */
package dev.rbd.server.store;
