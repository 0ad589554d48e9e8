# The unix port as a board: real UDP sockets, select.poll, a monotonic clock
# built on ticks (wrap-safe), files under a state directory.
import socket
import select
import time
import os
from micropython import const

_SPARE = const(1280)    # the exchange's receive buffer (client/exchange.py RX_MAX)


class Clock:
    # monotonic ms that never wraps (ticks_ms wraps after ~12.4 days on 32-bit
    # ports), and wall-clock seconds since 1970
    def __init__(self):
        self.t = time.ticks_ms()
        self.base = 0

    def ms(self):
        t = time.ticks_ms()
        self.base += time.ticks_diff(t, self.t)
        self.t = t
        return self.base

    def time(self):
        return int(time.time())


class Udp:
    # a connected UDP socket: the peer is the only source accepted. Bound to
    # lport (kept across a deep sleep: servers match notifications and
    # queued requests to the address they know), else to a random port; if
    # that is taken, whatever the system gives (lport 0: unknown)
    def __init__(self, board, host, port, lport=0):
        ai = socket.getaddrinfo(host, port, 0, socket.SOCK_DGRAM)[0]
        self.sock = socket.socket(ai[0], socket.SOCK_DGRAM)
        self.lport = 0
        for p in (lport, 0, 0, 0):
            p = p or 49152 + int.from_bytes(os.urandom(2), "big") % 16384
            try:
                self.sock.bind(socket.getaddrinfo("::" if ai[0] == socket.AF_INET6 else "0.0.0.0", p)[0][-1])
                self.lport = p
                break
            except OSError:
                pass
        self.sock.connect(ai[-1])
        self.sock.setblocking(False)
        self.board = board
        self.rp = select.poll()     # this socket alone: is a datagram waiting?
        self.rp.register(self.sock, select.POLLIN)

    # send(buf, off, n) / recv(buf): allocation-free forms the exchange uses
    # (a stream write with offset and length; one datagram read into buf -> n)
    INTO = True

    def send(self, data, off=0, n=-1):
        if not self.board.radio:
            return
        try:
            if n < 0:
                self.sock.send(data)
            else:
                self.sock.write(data, off, n)
        except OSError:
            pass    # ICMP unreachable etc.: the CoAP layer retransmits

    # set by a DTLS layer above (client/dtls.py): its records carry their own
    # length, so it reads with readinto, which allocates nothing (where two
    # datagrams were waiting they come joined: the second one's records are
    # parsed, or cut short and dropped as a loss would be)
    records = False

    def recv(self, buf=None):
        # while the radio is off, what arrives is lost (as on a sleeping modem)
        try:
            if buf is not None and self.records:
                n = self.sock.readinto(buf)
                return n if n and self.board.radio else 0
            if buf is not None:
                # one datagram: a socket's readinto is a stream read that,
                # non-blocking, joins every datagram waiting into buf. So
                # recv (its bytes are this port's one allocation per
                # datagram), after an allocation-free look (ipoll): an idle
                # step raises and allocates nothing
                for _ in self.rp.ipoll(0):
                    break
                else:
                    return 0
                k = len(buf)
                b = self.board
                try:
                    d = self.sock.recv(k)
                except MemoryError:
                    # no heap in one piece for its bytes (a heap fragmented by
                    # what lives on): the board's spare gives way (the
                    # allocator's collection frees it) and is taken again in
                    # the same place below. Without one: dropped, read into
                    # buf (no allocation), a loss CoAP retransmits
                    if not b.spare:
                        self.sock.readinto(buf)
                        return 0
                    b.spare = None
                    try:
                        d = self.sock.recv(k)
                    except MemoryError:
                        self.sock.readinto(buf)
                        return 0
                n = len(d)
                buf[:n] = d
                if not b.spare:
                    # taken again (at the first datagram: the heap still whole)
                    d = None
                    try:
                        b.spare = bytearray(_SPARE)
                    except MemoryError:
                        pass
                return n if n and self.board.radio else 0
            d = self.sock.recv(1500)
        except OSError:
            return 0 if buf is not None else None
        return d if self.board.radio else None

    def deadline(self):
        return None     # nothing timed below CoAP (a DTLS layer has its flights)

    def close(self):
        b = self.board
        if self in b.open:
            b.open.remove(self)
            b.poll.unregister(self.sock)
        self.sock.close()


class Board:
    # a receive buffer's worth of heap in one piece, taken while the heap is
    # still whole (Udp.recv): it gives way for a datagram that finds no
    # block for its bytes, and a firmware download reads into it (client/fwdl.py),
    # then the digest of what it wrote (boards/fwstore.py)
    spare = None

    def __init__(self, state="state"):
        self.clock = Clock()
        self.state = state
        self.open = []
        self.radio = True
        self.poll = select.poll()

    def udp(self, host, port, lport=0):
        t = Udp(self, host, port, lport)
        self.open.append(t)
        self.poll.register(t.sock, select.POLLIN)
        return t

    def tcp(self, host, port):
        # a non-blocking TCP stream (boards/unixtcp.py, loaded for TCP/TLS/MQTT accounts only)
        from boards.unixtcp import TcpSock
        t = TcpSock(self, host, port)
        self.open.append(t)
        self.poll.register(t.sock, select.POLLIN)
        return t

    def rtc_ms(self):
        # wall-clock ms, running on through a deep sleep (the board's RTC)
        return time.time_ns() // 1000000

    def deep_sleep(self, ms):
        # power down for ms. The unix port sleeps with its sockets closed; the
        # caller then exits and whoever runs it starts it again (a reboot)
        for t in list(self.open):
            t.close()
        time.sleep_ms(ms)

    def random(self, n):
        return os.urandom(n)

    def time(self):
        return self.clock.time()

    def wait(self, ms):
        # block until a transport is readable or ms elapsed
        self.input(self.poll.poll(int(ms)))

    def input(self, ready):
        # poll's answer -> True when a transport has something to read. A UDP
        # socket with only an error pending (ICMP port unreachable after a
        # send to a port nobody listens on) is read by nobody while its
        # account is paused (bootstrap), and poll would return at once for
        # ever: a busy loop (on the virtual clock, time crawling 1 ms a
        # wait). The error is taken here; the CoAP layer ignores it anyway
        got = False
        for s, ev in ready:
            if ev & select.POLLIN:
                got = True
                continue
            for t in self.open:
                if t.sock is s:
                    if isinstance(t, Udp):
                        try:
                            s.recv(1)
                        except OSError:
                            pass
                    else:
                        got = True      # a stream's hang-up: its transport sees it
                    break
            else:
                got = True              # not a socket of ours (a modem's UART)
        return got

    def battery(self):
        return None

    # gc.mem_free() walks the whole heap (hundreds of us): Memory Free is
    # sampled at most once a second, the total once
    _free = _free_at = _total = None

    def mem_free(self):
        now = self.clock.ms()
        if self._free is None or now - self._free_at >= 1000:
            import gc
            self._free = gc.mem_free() // 1024
            self._free_at = now
        return self._free

    def mem_total(self):
        if self._total is None:
            import gc
            self._total = (gc.mem_free() + gc.mem_alloc()) // 1024
        return self._total

    def conn(self):
        # Connectivity Monitoring values: Ethernet bearer (41) on loopback
        return {0: 41, 1: {0: 41}, 2: 0, 4: {0: "127.0.0.1"}}


class Listener:
    # a UDP socket bound to a local port that answers any peer (the
    # device-to-device CoAP endpoint, client/local.py); nothing is received
    # or sent while the radio is off
    def __init__(self, board, port, host="0.0.0.0"):
        self.board = board
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind(socket.getaddrinfo(host, port)[0][-1])
        self.sock.setblocking(False)

    def recvfrom(self):
        try:
            d, a = self.sock.recvfrom(1500)
        except OSError:
            return None, None
        return (d, a) if self.board.radio else (None, None)

    def drain(self):
        # radio off: what arrives is lost
        for _ in range(32):
            try:
                self.sock.recvfrom(1500)
            except OSError:
                return

    def sendto(self, data, addr):
        if self.board.radio:
            try:
                self.sock.sendto(data, addr)
            except OSError:
                pass

    close = Udp.close


def listen(board, port, host="0.0.0.0"):
    # Board.listen: registered with the board's poll like the transports
    t = Listener(board, port, host)
    board.open.append(t)
    board.poll.register(t.sock, select.POLLIN)
    return t


Board.listen = listen
