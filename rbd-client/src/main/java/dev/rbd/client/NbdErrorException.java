package dev.rbd.client;

import dev.rbd.protocol.NbdError;

/** The server refused a request with an NBD error (EINVAL, ENOSPC, EPERM, EIO, ...). */
public final class NbdErrorException extends RbdException {
    private static final long serialVersionUID = 1L;

    public NbdErrorException(NbdError error, String message) {
        super(message, error, null);
    }
}
