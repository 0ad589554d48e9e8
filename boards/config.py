# Board configuration: one JSON file per board (board.json next to main.py on
# the device; boards/esp32.json and boards/unix.json are examples). Its keys
# are firmware/main.py's options - server, endpoint, lifetime, binding,
# bootstrap, psk-identity, psk-key, state, awake, deep, app, format - plus the
# board's own sections: "board" (else picked from sys.platform), "wifi"
# {ssid, password, timeout_s, backoff_s, backoff_max_s, off_s}, "ntp" (a server),
# "pins" {battery, battery_divider, battery_mv, button}, "watchdog_s",
# "lightsleep_ms", "modem" {uart, baud, tx, rx, vendor (nrf91|sim7080|bg95),
# pwrkey, msisdn}: a cellular modem on a UART for the network instead of Wi-Fi.
# "{id}" in the endpoint becomes the board's unique id.
import sys
import json

FILE = "board.json"


def load(o, path=FILE):
    # main.py's options o, overridden by the config file; o["cfg"] is the
    # whole file. No file: o unchanged on the unix port, defaults on a board
    try:
        with open(path) as f:
            cfg = json.load(f)
    except OSError:
        if sys.platform == "linux":
            return o
        cfg = {}
    for k, v in cfg.items():
        if k in o and v is not None:
            o[k] = v if isinstance(v, bool) else str(v)
    o["cfg"] = cfg
    return o


def name(cfg, platform=sys.platform):
    # the board's module: the file's "board", else the platform's
    return cfg.get("board") or ("esp32" if platform == "esp32" else "unix")


def board(o):
    cfg = o.get("cfg") or {}
    n = name(cfg)
    if n == "esp32":
        from boards.esp32 import Board
        b = Board(o["state"], cfg)
    elif o.get("clock") == "virtual":
        from boards.virtual import VirtualBoard
        b = VirtualBoard(o["state"])
    else:
        from boards.unix import Board
        b = Board(o["state"])
    if "{id}" in o["endpoint"]:
        o["endpoint"] = o["endpoint"].replace("{id}", b.uid() if hasattr(b, "uid") else n)
    m = cfg.get("modem")
    if m:   # a cellular modem on a UART: datagrams and SMS through it (boards/cellular.py)
        from machine import UART, Pin
        from boards.cellular import CellularBoard
        u = UART(m.get("uart", 1), m.get("baud", 115200), tx=m.get("tx", 17), rx=m.get("rx", 16), timeout=0)
        b = CellularBoard(b, u, m.get("vendor", "nrf91"), Pin(m["pwrkey"], Pin.OUT) if "pwrkey" in m else None)
        b.msisdn = m.get("msisdn")
        b.power_on()
    return b
