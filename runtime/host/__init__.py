"""Host-side tools over the device kit's results: report tables and pictures, device-log parsers, TensorRT build
rules. They may import the device kit; the device kit never imports them, so `runtime/` minus this folder still
copies onto a device alone."""
