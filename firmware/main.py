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

# name, default, kind (help texts: firmware/clihelp.py, loaded for --help only).
# kind: "" flag, "uri", "int" (> 0), "num" (s, >= 0), "hex", "str", or the
# allowed values separated by "|"
OPTS = (
    ("server", None, "uri"),
    ("endpoint", "mpy-client", "str"),
    ("lifetime", "300", "int"),
    ("binding", "U", "U|UQ|T|TQ|M|MQ|S|SQ|US|UQS"),
    ("tcp", None, "str"),
    ("awake", None, "num"),
    ("bootstrap", None, "uri"),
    ("psk-identity", "", "str"),
    ("psk-key", None, "hex"),
    ("state", "state", "str"),
    ("clock", "real", "real|virtual"),
    ("duration", None, "num"),
    ("deep", None, "num"),
    ("app", None, "str"),
    ("alt", None, "str"),
    ("format", None, "11542|112|110|11543|11544"),
    ("modem", None, "str"),
    ("sms", None, "str"),
    ("quiet", False, ""),
    ("help", False, ""),
)


def _side(name):
    # a module beside this one (firmware/NAME.py), however main was started
    p = __name__.rpartition(".")[0]
    return __import__(p + "." + name if p else name, None, None, ["HELP"])


def usage():
    _side("clihelp").usage(OPTS)


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
    for e in OPTS:
        o[e[0]] = e[1]
        kinds[e[0]] = e[2]
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
    print(*[_side("clihelp").phrase(x) if type(x) is str and len(x) == 4 and x[1] == "." else x for x in a])


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
    until = None
    if o["duration"]:
        until = board.clock.ms() + int(float(o["duration"]) * 1000)
    # an application bundle installed by Firmware Update (/5, kind 1) comes first
    st = getattr(board, "state", o["state"])
    sys.path.insert(0, st + "/app")
    try:
        import os
        os.stat(st + "/app.new")        # there: a reset cut the swap short
        from boards.fwapp import swap
        swap(st)
    except OSError:
        pass
    start = None
    if o["app"]:    # the application: start(client) at every boot (client/app.py)
        try:
            start = __import__(o["app"], None, None, ["start"]).start
        except (ImportError, AttributeError) as e:
            print("main.py: bad value for --app: %r (%s)" % (o["app"], e), file=sys.stderr)
            sys.exit(2)
    from client.setup import run
    try:
        rc = run(board, lambda: build(board, o, log), log, start, until, o["deep"] and int(float(o["deep"]) * 1000))
    except KeyboardInterrupt:
        rc = 130    # a second Ctrl-C during the De-register: quietly
    if rc:
        sys.exit(rc)


if __name__ == "__main__":
    main(sys.argv[1:])
