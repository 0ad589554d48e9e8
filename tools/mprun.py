#!/usr/bin/env python3
"""Run the client on the MicroPython unix port so that SIGTERM (systemd stop,
docker stop, kill) de-registers like Ctrl-C.

MicroPython's unix port turns only SIGINT into KeyboardInterrupt (it has no
signal module), so on its own a SIGTERM ends it at once, without a
De-register. This launcher runs it in a process group of its own and passes
SIGTERM and SIGINT on to it as one SIGINT each (a second one ends a
De-register that waits for a server, quietly). Exits with the client's code.

    python tools/mprun.py firmware/main.py --server coap://HOST:PORT --endpoint NAME
"""
import os
import signal
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
MICROPYTHON = os.path.join(ROOT, ".venv", "bin", "micropython")


def main(argv=None):
    argv = sys.argv[1:] if argv is None else argv
    if not argv or argv[0] in ("-h", "--help"):
        print(__doc__.strip())
        return 0 if argv else 2
    procs = []
    pending = []

    def forward(*_):
        # a signal before the client runs is passed on as soon as it does
        if not procs:
            pending.append(1)
        elif procs[0].poll() is None:
            procs[0].send_signal(signal.SIGINT)
    # handlers first: a SIGTERM right after the start must not kill the
    # launcher alone and leave the client running registered
    signal.signal(signal.SIGTERM, forward)
    signal.signal(signal.SIGINT, forward)
    procs.append(subprocess.Popen([os.environ.get("MICROPYTHON", MICROPYTHON)] + argv, process_group=0))
    for _ in pending:
        forward()
    return procs[0].wait()


if __name__ == "__main__":
    sys.exit(main())
