"""CLI pieces shared by tools/lwm2m_server.py and tools/bootstrap_server.py:
the DTLS options and serve() (run until SIGINT/SIGTERM)."""
import argparse
import logging
import signal
import sys
import threading

from .server import Server


def _psk(s):
    from .dtls_front import psk_arg
    return psk_arg(s)


def dtls_options(ap):
    """--dtls-psk / --dtls-port of the servers' CLIs (see serve())."""
    ap.add_argument("--dtls-psk", type=_psk, action="append", default=[],
                    metavar="IDENTITY:HEXKEY",
                    help="also serve coaps:// (DTLS 1.2 PSK front end, tools/dtls_front.py); repeatable")
    ap.add_argument("--dtls-port", type=int, help="its port (with --dtls-psk; default: --port + 1)")


def serve(srv, args=None):
    """CLI: run a started-on-call server until SIGINT/SIGTERM; with
    args.dtls_psk, a DTLS front end (tools/dtls_front.py) before it."""
    srv.start()
    front = None
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    try:
        if args is not None and args.dtls_psk:
            from .dtls_front import DtlsFront
            port = srv.port + 1 if args.dtls_port is None else args.dtls_port
            front = DtlsFront((srv.host, srv.port), dict(args.dtls_psk),
                              listen=(srv.host, port)).start()
            srv._log("DTLS (PSK, %d identities) on %s:%d" % (len(args.dtls_psk), *front.addr))
        while not stop.wait(0.2):
            pass
    finally:
        if front is not None:
            front.stop()
        srv.stop()
        print("[%s] stopped" % srv.name, flush=True)
    return 0


def main(argv=None):
    ap = argparse.ArgumentParser(description="Development LwM2M 1.1 server (logs registrations)")
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--port", type=int, default=5683)
    ap.add_argument("--awake", type=float, default=93.0, help="queue-mode awake window, s")
    ap.add_argument("-v", "--verbose", action="store_true", help="aiocoap debug logging")
    dtls_options(ap)
    args = ap.parse_args(argv)
    logging.basicConfig(level=logging.DEBUG if args.verbose else logging.WARNING,
                        format="%(levelname)s %(name)s: %(message)s")
    srv = Server(args.host, args.port, awake_s=args.awake, log=lambda s: print(s, flush=True))
    return serve(srv, args)


if __name__ == "__main__":
    sys.exit(main())
