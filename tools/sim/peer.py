# A server peer's UDP socket for in-process MicroPython runs (the energy
# runner, the SMS trigger scenario): bound on a free loopback port, which
# the unix port cannot report (no getsockname), so ports are tried from a
# random start. -> (socket, port), non-blocking.
import os
import socket


def bind(first=43000):
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    p0 = first + os.urandom(1)[0] * 37
    for p in range(p0, p0 + 2000):
        try:
            s.bind(socket.getaddrinfo("127.0.0.1", p)[0][-1])
            s.setblocking(False)
            return s, p
        except OSError:
            pass
    raise OSError("no free port")
