"""Building and running the generated C: on the host through cffi (`hostbuild`), as firmware for a
board profile (`firmware`, `avr`, `bundle_firmware`), on emulated cores (`emulate`, with `cycles`' cost
tables), and the stack over the call graph (`stack`)."""
