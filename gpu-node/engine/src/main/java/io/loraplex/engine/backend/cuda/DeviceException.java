package io.loraplex.engine.backend.cuda;

/** A device call failed: the message names the call and the driver's or cuBLAS's error. */
public final class DeviceException extends RuntimeException {

    public DeviceException(String message) {
        super(message);
    }

    public DeviceException(String message, Throwable cause) {
        super(message, cause);
    }
}
