# Entry point, the same on every board. On the unix port it takes options:
#   micropython firmware/main.py --server coap://HOST:PORT --endpoint NAME
#       [--lifetime S] [--binding U|UQ] [--state DIR] [--clock real|virtual]
#       [--duration S] [--quiet] [--app MODULE] [--bootstrap coap://HOST:PORT]
#       [--awake S]   (queue mode, --binding UQ: awake window after the last message)
#       [--deep S]    (radio-off sleeps of S seconds or more are deep sleeps: state
#                      saved, power down; the unix port exits with code 3 and
#                      restores it when started again)
#       [--psk-identity ID --psk-key HEX]   (credentials of coaps:// servers)
#       [--alt PATH]  (alternate path, e.g. /alt: registered as </alt>, objects served under it)
#       [--format N]  (preferred content format: 11542 TLV (default), 112 SenML CBOR, 110)
# Without --server the configuration comes from --state DIR: the saved one
# (lwm2m.cfg), else a --bootstrap account, else the factory one (factory.cfg,
# tools/provision.py); with no usable server account the client bootstraps.
# --app names a device application module with start(client), e.g. one that
# reads a sensor on a timer (client.at) and calls client.set / client.send.
import sys

if sys.path[0].endswith("firmware"):
    # run as a script (micropython firmware/main.py): MicroPython puts the
    # script's folder first on sys.path; the packages are in its parent
    sys.path.insert(1, sys.path[0][:-8])


def options(argv):
    o = {"server": None, "endpoint": "mpy-client", "lifetime": "300", "binding": "U",
         "state": "state", "clock": "real", "duration": None, "quiet": False, "app": None,
         "bootstrap": None, "awake": None, "deep": None, "psk-identity": "", "psk-key": None,
         "format": None, "alt": ""}
    i = 0
    while i < len(argv):
        k = argv[i]
        if not k.startswith("--") or k[2:] not in o:
            raise SystemExit("unknown option " + k)
        if k == "--quiet":
            o["quiet"] = True
        else:
            i += 1
            o[k[2:]] = argv[i]
        i += 1
    return o


def board_for(o):
    if o["clock"] == "virtual":
        from boards.virtual import VirtualBoard
        return VirtualBoard(o["state"])
    from boards.unix import Board
    return Board(o["state"])


def build(board, o, log):
    from client.client import Client
    from objects.security import Security
    from objects.server import Server
    from objects.device import Device
    from objects.connmon import ConnMon
    from objects.ipso import Sensor
    from objects.appdata import AppData
    from objects.acl import AccessControl
    sec = Security()
    srv = Server()
    acl = AccessControl()
    kw = {}
    if o["psk-key"]:        # Security mode 0 (PSK)
        from binascii import unhexlify
        kw = {"mode": 0, "identity": o["psk-identity"].encode(), "key": unhexlify(o["psk-key"])}
    if o["server"]:
        sec.add(0, o["server"], ssid=1, **kw)
        srv.add(0, 1, lifetime=int(o["lifetime"]), binding=o["binding"])
        if o["bootstrap"]:
            sec.add(1, o["bootstrap"], bootstrap=True, **kw)
    temp = Sensor()
    temp.create(0)
    data = AppData()
    data.create(0)
    c = Client(board, o["endpoint"], [sec, srv, acl, Device(board), ConnMon(board), temp, data], log=log,
               alt=o.get("alt", ""))
    if o["format"]:         # preferred content format (e.g. 112 SenML CBOR for 1.1 servers)
        c.fmt = int(o["format"])
    if o["awake"]:
        c.awake_ms = int(float(o["awake"]) * 1000)
    c.acl = acl.check
    if not o["server"]:
        from client.store import Store, STORE, FACTORY
        st = Store(c, board.state)
        if not st.load((STORE,)):
            if o["bootstrap"]:
                sec.add(0, o["bootstrap"], bootstrap=True, **kw)
            elif not st.load((FACTORY,)):
                raise SystemExit("no configuration: --server, --bootstrap or factory.cfg in --state")
        c.accounts()
    # the Bootstrap interface is loaded only when it can be used (RAM): with a
    # Bootstrap-Server account, or when there is no server account at all
    if not c.servers or any(i.get(1) for i in sec.inst.values()):
        from client.bootstrap import Bootstrap
        Bootstrap(c)
    return c


def main(argv):
    o = options(argv)
    board = board_for(o)

    def log(*a):
        if not o["quiet"]:
            print("[client %d.%03d]" % divmod(board.clock.ms(), 1000), *a)
    until = None
    if o["duration"]:
        until = board.clock.ms() + int(float(o["duration"]) * 1000)
    while True:
        c = build(board, o, log)
        if o["deep"]:
            from client.sleep import restore
            c.deep_ms = int(float(o["deep"]) * 1000)
            restore(c)
        if o["app"]:
            __import__(o["app"], None, None, ["start"]).start(c)
        try:
            c.run(until)
        except KeyboardInterrupt:
            log("interrupted")
        if c.store:
            c.store.flush()
            if c.reboot == 5:       # Factory Reset: back to factory.cfg
                c.store.erase()
        if c.deep:              # power down; the board's next boot restores
            from client.sleep import hibernate
            hibernate(c, c.deep)
            board.deep_sleep(c.deep)
            sys.exit(3)         # the unix port: started again by its runner
        if c.reboot:
            log("reboot")
            for t in list(board.open):
                t.close()
            continue
        c.stop()
        return c


if __name__ == "__main__":
    main(sys.argv[1:])
