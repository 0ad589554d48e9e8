# Entry point, the same on every board: micropython firmware/main.py --help
# lists the options (OPTS below). Without --server the configuration comes
# from --state DIR: the saved one (lwm2m.cfg), else a --bootstrap account,
# else the factory one (factory.cfg, tools/provision.py); with no usable
# server account the client bootstraps. --app names a device application
# module with start(client) (client/app.py: the application API).
import sys

if sys.path[0].endswith("firmware"):
    # run as a script (micropython firmware/main.py): MicroPython puts the
    # script's folder first on sys.path; the packages are in its parent
    sys.path.insert(1, sys.path[0][:-8])

# name, default, kind, help. kind: "" flag, "uri", "int" (> 0), "num" (s, >= 0),
# "str", or the allowed values separated by "|"
OPTS = (
    ("server", None, "uri", "LwM2M server coap[s]://HOST:PORT (else from --state)"),
    ("endpoint", "mpy-client", "str", "endpoint client name"),
    ("lifetime", "300", "int", "registration lifetime, s"),
    ("binding", "U", "U|UQ|T|TQ|M|MQ|S|SQ|US|UQS", "binding: U (UDP), T (TCP), M (MQTT), S (SMS); +Q for queue mode"),
    ("tcp", None, "str", "TCP/MQTT accounts: keep-alive S[,Pong wait S][,long] (long: queue mode keeps the connection)"),
    ("awake", None, "num", "queue mode: awake window after the last message, s"),
    ("bootstrap", None, "uri", "Bootstrap-Server coap[s]://HOST:PORT"),
    ("psk-identity", "", "str", "PSK identity of coaps:// servers"),
    ("psk-key", None, "hex", "PSK key of coaps:// servers, hex"),
    ("state", "state", "str", "state directory (saved configuration, factory.cfg)"),
    ("clock", "real", "real|virtual", "virtual: a clock that jumps over idle time (tests)"),
    ("duration", None, "num", "stop after S seconds of client time"),
    ("deep", None, "num", "radio-off sleeps of S s or more are deep sleeps (exit 3, restored on restart)"),
    ("app", None, "str", "application module with start(client)"),
    ("alt", None, "str", "alternate path, e.g. /alt"),
    ("format", None, "11542|112|110|11543|11544", "preferred content format"),
    ("modem", None, "str", "a cellular modem on this serial device (a pty on the unix port): DEV[,nrf91|sim7080|bg95]"),
    ("sms", None, "str", "SMS binding: SERVER_MSISDN[,OWN_MSISDN] (--binding S, SQ, US or UQS; needs --modem)"),
    ("quiet", False, "", "no log lines"),
    ("help", False, "", "this list"),
)

# reason phrases of the codes the client prints (RFC 7252 §12.1.2)
PHRASES = {"2.01": "Created", "2.02": "Deleted", "2.04": "Changed", "2.05": "Content",
           "4.00": "Bad Request", "4.01": "Unauthorized", "4.02": "Bad Option", "4.03": "Forbidden",
           "4.04": "Not Found", "4.05": "Method Not Allowed", "4.06": "Not Acceptable",
           "4.08": "Request Entity Incomplete", "4.12": "Precondition Failed",
           "4.13": "Request Entity Too Large", "4.15": "Unsupported Content-Format",
           "5.00": "Internal Server Error", "5.01": "Not Implemented", "5.03": "Service Unavailable"}


def usage():
    print("usage: micropython firmware/main.py [options]")
    for name, d, kind, text in OPTS:
        arg = " " + ("URI" if kind == "uri" else "S" if kind in ("int", "num") else kind.upper()) if kind else ""
        print("  --%-24s %s%s" % (name + arg, text, "" if d in (None, False, "") else " (default %s)" % d))


class Bad(Exception):
    pass


def _check(name, kind, v):
    if kind == "uri":
        s, _, host = v.partition("//")
        ok = s in ("coap:", "coaps:", "coap+tcp:", "coaps+tcp:", "mqtt:", "mqtts:") and len(host) > 0
    elif kind == "int":
        ok = v.isdigit() and int(v) > 0
    elif kind == "num":
        try:
            ok = float(v) >= 0
        except ValueError:
            ok = False
    elif kind == "hex":
        try:
            ok = len(v) % 2 == 0 and int(v, 16) >= 0
        except ValueError:
            ok = False
    elif "|" in kind:
        ok = v in kind.split("|")
    else:
        ok = True
    if not ok:
        raise Bad("bad value for --%s: %r (%s)" % (name, v, kind))


def options(argv):
    o = {}
    kinds = {}
    for name, d, kind, _ in OPTS:
        o[name] = d
        kinds[name] = kind
    i = 0
    while i < len(argv):
        k = argv[i]
        name = k[2:]
        if not k.startswith("--") or name not in o:
            raise Bad("unknown option %s (--help lists them)" % k)
        if not kinds[name]:
            o[name] = True
        else:
            i += 1
            if i >= len(argv) or argv[i].startswith("--"):
                raise Bad("option --%s needs a value" % name)
            _check(name, kinds[name], argv[i])
            o[name] = argv[i]
        i += 1
    return o


def board_for(o, argv=()):
    # run without options (a device's main.py): the board and the options
    # from the board config file, board.json (boards/config.py)
    if not argv:
        from boards.config import load, board
        if "cfg" in load(o):
            return board(o)
    if o["clock"] == "virtual":
        from boards.virtual import VirtualBoard
        return VirtualBoard(o["state"])
    from boards.unix import Board
    return Board(o["state"])


def objs():
    # the CLI's application objects: an IPSO temperature /3303/0 and the
    # application data container /19/0
    from objects.ipso import Sensor
    from objects.appdata import AppData
    data = AppData()
    data.create(0)
    return [Sensor(1), data]


def build(board, o, log):
    # the core client with the standard objects and objs()
    from client.setup import build
    return build(board, o, log, objs())


def say(*a):
    # one log line; CoAP codes get their reason phrase ("4.00 Bad Request")
    print(*[x + " " + PHRASES[x] if type(x) is str and x in PHRASES else x for x in a])


def main(argv):
    try:
        o = options(argv)
    except Bad as e:
        print("main.py:", e.args[0], file=sys.stderr)
        sys.exit(2)
    if o["help"]:
        usage()
        return
    board = board_for(o, argv)
    if o["modem"] and "modem" not in (o.get("cfg") or {}):     # (board.json's: boards/config.py)
        # datagrams (and SMS) through an AT modem: boards/cellular.py
        from boards.cellular import CellularBoard
        dev, _, v = o["modem"].partition(",")
        board = CellularBoard(board, open(dev, "r+b"), v or "nrf91")
        board.msisdn = (o["sms"] or "").partition(",")[2] or None
        board.power_on()

    def log(*a):
        if not o["quiet"]:
            say("[client %d.%03d]" % divmod(board.clock.ms(), 1000), *a)
    from client.app import Client
    app = Client(board, log, objs(), **o)
    until = None
    if o["duration"]:
        until = board.clock.ms() + int(float(o["duration"]) * 1000)
    if o["app"]:
        try:
            app.start = __import__(o["app"], None, None, ["start"]).start
        except (ImportError, AttributeError) as e:
            print("main.py: bad value for --app: %r (%s)" % (o["app"], e), file=sys.stderr)
            sys.exit(2)
    try:
        rc = app.run(until, o["deep"] and int(float(o["deep"]) * 1000))
    except KeyboardInterrupt:
        rc = 130    # a second Ctrl-C during the De-register: quietly
    if rc:
        sys.exit(rc)
    return app.c


if __name__ == "__main__":
    main(sys.argv[1:])
