# Entry point, the same on every board. On the unix port it takes options:
#   micropython firmware/main.py --server coap://HOST:PORT --endpoint NAME
#       [--lifetime S] [--binding U|UQ] [--state DIR] [--clock real|virtual]
#       [--duration S] [--quiet] [--app MODULE]
# --app names a device application module with start(client), e.g. one that
# reads a sensor on a timer (client.at) and calls client.set / client.send.
import sys


def options(argv):
    o = {"server": None, "endpoint": "mpy-client", "lifetime": "300", "binding": "U",
         "state": "state", "clock": "real", "duration": None, "quiet": False, "app": None}
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
    sec = Security()
    srv = Server()
    sec.add(0, o["server"], ssid=1)
    srv.add(0, 1, lifetime=int(o["lifetime"]), binding=o["binding"])
    from client.report import Reporter
    temp = Sensor()
    temp.create(0)
    data = AppData()
    data.create(0)
    c = Client(board, o["endpoint"], [sec, srv, Device(board), ConnMon(board), temp, data], log=log)
    c.reporter = Reporter(c)
    return c


def main(argv):
    o = options(argv)
    if not o["server"]:
        raise SystemExit("usage: main.py --server coap://HOST:PORT --endpoint NAME [...]")
    board = board_for(o)

    def log(*a):
        if not o["quiet"]:
            print("[client %d.%03d]" % divmod(board.clock.ms(), 1000), *a)
    until = None
    if o["duration"]:
        until = board.clock.ms() + int(float(o["duration"]) * 1000)
    while True:
        c = build(board, o, log)
        if o["app"]:
            __import__(o["app"], None, None, ["start"]).start(c)
        try:
            c.run(until)
        except KeyboardInterrupt:
            log("interrupted")
        if c.reboot:
            log("reboot")
            for t in list(board.open):
                t.close()
            continue
        c.stop()
        return c


if __name__ == "__main__":
    main(sys.argv[1:])
