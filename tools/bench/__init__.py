"""Benchmarks (`make bench`, figures in build/bench.json): core.py runs the
session and memory figures and calls each part's measure(): report
(information reporting), dtls, bootstrap, parts (.mpy of optional modules),
transport (TCP/MQTT), app (application API), sms, alloc (heap growth of the
hot paths; alloc_probe.py is the MicroPython side)."""
