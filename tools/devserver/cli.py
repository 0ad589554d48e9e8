"""CLI pieces shared by tools/lwm2m_server.py and tools/bootstrap_server.py:
the DTLS options and serve() (run until SIGINT/SIGTERM, or a console's quit),
and the dev server's main(): an interactive console on a terminal
(devserver/console.py), commands from --script FILE (- for stdin), else the
log; --web PORT adds the web page (devserver/web.py)."""
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


def serve(srv, args=None, console=None):
    """CLI: run a started-on-call server until SIGINT/SIGTERM; with
    args.dtls_psk, a DTLS front end (tools/dtls_front.py) before it; with
    args.web, the web page; with console (a callable that runs the console
    and returns True when it ended with quit), commands first."""
    srv.start()
    front = web = None
    stop = threading.Event()
    for sig in (signal.SIGTERM,) if console else (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    if console:
        def term(*_):
            stop.set()
            raise KeyboardInterrupt
        signal.signal(signal.SIGTERM, term)
    try:
        if args is not None and args.dtls_psk:
            from .dtls_front import DtlsFront
            port = srv.port + 1 if args.dtls_port is None else args.dtls_port
            front = DtlsFront((srv.host, srv.port), dict(args.dtls_psk),
                              listen=(srv.host, port)).start()
            srv._log("DTLS (PSK, %d identities) on %s:%d" % (len(args.dtls_psk), *front.addr))
        if args is not None and getattr(args, "web", None):
            from .web import Web
            web = Web(srv, args.web).start()
            print("[%s] web page on http://%s:%d/" % (srv.name, *web.addr), flush=True)
        if console is not None:
            try:
                if console():
                    return 0
            except KeyboardInterrupt:
                return 0
            if stop.is_set():
                return 0
            srv.log = lambda s: print(s, flush=True)
            for sig in (signal.SIGINT, signal.SIGTERM):
                signal.signal(sig, lambda *_: stop.set())
        while not stop.wait(0.2):
            pass
    finally:
        if web is not None:
            web.stop()
        if front is not None:
            front.stop()
        srv.stop()
        print("[%s] stopped" % srv.name, flush=True)
    return 0


def _web_addr(s):
    host, _, port = s.rpartition(":")
    if not port.isdigit():
        raise argparse.ArgumentTypeError("expected [HOST:]PORT, got %r" % s)
    return (host or "127.0.0.1", int(port))


def main(argv=None):
    ap = argparse.ArgumentParser(
        description="Development LwM2M 1.1 server: an interactive console on a terminal "
                    "(help lists its commands), else it logs what clients do")
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--port", type=int, default=5683)
    ap.add_argument("--awake", type=float, default=93.0, help="queue-mode awake window, s")
    ap.add_argument("--script", metavar="FILE", help="console commands from FILE (- for stdin), "
                    "then the log until Ctrl-C (or a quit in FILE)")
    ap.add_argument("--no-console", action="store_true", help="only the log, even on a terminal")
    ap.add_argument("--web", type=_web_addr, metavar="[HOST:]PORT",
                    help="also serve the web page (default host 127.0.0.1)")
    ap.add_argument("-v", "--verbose", action="store_true", help="aiocoap debug logging")
    dtls_options(ap)
    args = ap.parse_args(argv)
    logging.basicConfig(level=logging.DEBUG if args.verbose else logging.WARNING,
                        format="%(levelname)s %(name)s: %(message)s")
    interactive = not args.no_console and not args.script and sys.stdin.isatty()
    quiet = interactive or args.script
    srv = Server(args.host, args.port, awake_s=args.awake, log=None if quiet else lambda s: print(s, flush=True))
    run = None
    if quiet:
        def run():
            from .console import Console
            f = sys.stdin if args.script in (None, "-") else open(args.script)
            c = Console(srv, stdin=f, stdout=sys.stdout)
            if interactive:
                try:
                    import readline  # noqa: F401 - line editing and history for input()
                except ImportError:
                    pass
            else:
                c.prompt = ""
                c.intro = None
            print("[server] listening on %s:%d" % (srv.host, srv.port), flush=True)
            try:
                c.cmdloop()
            finally:
                c.close()
            return c.quitted or interactive
    return serve(srv, args, run)


if __name__ == "__main__":
    sys.exit(main())
