# ESP32's socket module for the unix tests: the unix port's own sockets
# (loopback), with name resolution as lwIP does it on the chip: a lookup
# while the station has no IP, or of a name the access point's DNS does not
# know ($FAKE_ESP32/ap.json "dns": {name: address}; numeric addresses and
# localhost pass), fails with OSError(-202) after the resolver's timeout.
import sys

_p = sys.path
sys.path = []
from socket import *        # noqa: F401,F403 (the built-in one)
from socket import getaddrinfo as _gai
sys.path = _p
from _chip import ap, note


def getaddrinfo(host, port, af=0, type=0, proto=0, flags=0):
    import network
    a = ap()
    numeric = host == "localhost" or all(c in "0123456789.:" for c in host)
    if not numeric:
        ip = a.get("dns", {}).get(host)
        if ip is None or not network.WLAN(network.STA_IF).isconnected():
            note("dns fail", host)
            raise OSError(-202)
        host = ip
    return _gai(host, port, af, type, proto, flags)
