package io.loraplex.engine.cli;

import io.loraplex.engine.backend.cuda.Device;
import io.loraplex.engine.backend.cuda.ForwardingDevice;

/** A device lent to one user that closes what it owns (a checked device, a backend) but not the device itself. */
final class UnclosedDevice extends ForwardingDevice {

    UnclosedDevice(Device device) {
        super(device);
    }

    @Override
    public void close() {
        // the lender closes it
    }
}
