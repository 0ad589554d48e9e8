# A small HTTP/1.1 client for firmware pulls (http:// and, where the board's
# ssl module allows, https:// Package URIs): one GET with `Range: bytes=N-`
# from the last byte written, the body streamed into the firmware object as
# it arrives (non-blocking reads into one buffer, driven by the client loop
# as a task like client/fwdl.CoapDl). A changed ETag, or a server that
# ignores Range (200), restarts from byte 0; a dropped connection reconnects
# from where it stopped, three times in a row at most (then Result 4).
from micropython import const
import socket

_IDLE_MS = const(30000)     # no byte for this long: the connection is lost
_TRIES = const(3)
_NO_RAM = const(3)  # Update Result (/5/0/5): out of RAM
_LOST = const(4)    # connection lost
_BAD_URI = const(7)     # invalid URI


class Http:
    def __init__(self, fw, uri, off, etag):
        self.fw = fw
        self.b = b = fw.client.board
        self.tls = uri[4] == "s"
        hp, _, p = uri.partition("://")[2].partition("/")
        self.host = hp          # the Host header: host[:port] as in the URI
        self.path = "/" + p
        h, _, port = hp.rpartition(":")
        if not h or "]" in port:        # no port ("host", "[::1]")
            h, port = hp, ""
        self.name = h.strip("[]")
        self.ai = socket.getaddrinfo(self.name, int(port) if port else 443 if self.tls else 80, 0,
                                     socket.SOCK_STREAM)[0]
        self.off = off
        self.s = None
        self.tries = 0
        self.due = self.last = b.clock.ms()
        self.buf = bytearray(1024)

    def open(self):
        a = self.ai
        s = self.raw = socket.socket(a[0], socket.SOCK_STREAM)
        s.settimeout(10)
        s.connect(a[-1])
        if self.tls:
            import ssl
            s = ssl.wrap_socket(s, server_hostname=self.name)
        s.write(b"GET %s HTTP/1.1\r\nHost: %s\r\nRange: bytes=%d-\r\nConnection: close\r\n\r\n"
                % (self.path, self.host, self.off))
        s.setblocking(False)
        self.s = s
        self.hd = b""
        self.left = None
        p = getattr(self.b, "poll", None)
        if p:
            p.register(self.raw, 1)

    def step(self, now):
        if not self.b.radio:
            return
        if not self.s:
            if now >= self.due:
                try:
                    self.open()
                    self.last = now
                except OSError:
                    self.retry(now)
            return
        for _ in range(16):
            try:
                n = self.s.readinto(self.buf)
            except OSError:
                n = None
            if n is None:
                break
            if n == 0:
                if self.s:
                    self.retry(now)     # closed before the end
                return
            self.last = now
            if not self.data(memoryview(self.buf)[:n]) or not self.s:
                return
        if now - self.last >= _IDLE_MS:
            self.retry(now)

    def data(self, d):
        fw = self.fw
        if self.hd is not None:
            self.hd += bytes(d)
            h = self.hd
            e = h.find(b"\r\n\r\n")
            if e < 0:
                if len(h) > 2048:
                    fw.fail(_LOST)
                return len(h) <= 2048
            self.hd = None
            code = int(h.split(b" ", 2)[1])
            tag = start = None
            for ln in h[:e].split(b"\r\n")[1:]:
                k, _, v = ln.partition(b":")
                k = k.lower()
                v = v.strip()
                if k == b"etag":
                    tag = v
                elif k == b"content-length":
                    self.left = int(v)
                elif k == b"content-range":     # bytes a-b/total
                    r, _, t = v[6:].partition(b"/")
                    start = int(r.partition(b"-")[0])
                    if t != b"*":
                        fw.rec["z"] = int(t)
            if code == 200:
                start = 0
                if self.left is not None:
                    fw.rec["z"] = self.left
            elif code != 206:
                fw.fail(_BAD_URI if code in (400, 403, 404, 410, 414) else _LOST)
                return False
            off = fw.etag(tag, start != self.off)
            if off < 0:
                return False
            if off != start:        # changed package: again from byte 0
                self.off = off
                self.close()
                self.due = 0
                return False
            d = d[e + 4 - len(h) + len(d):]
        self.tries = 0
        n = len(d)
        if not n:
            return True
        self.off += n
        if not fw.feed(d):
            return False
        if self.left is not None:
            self.left -= n
            if self.left <= 0:
                self.close()
                fw.done()
                return False
        return True

    def retry(self, now):
        self.close()
        self.tries += 1
        if self.tries > _TRIES:
            self.fw.fail(_LOST)
        else:
            self.due = now + 2000 * self.tries

    def deadline(self):
        if not self.b.radio:
            return self.fw.pause()      # paused (client/fwdl.py CoapDl.deadline)
        return self.due if not self.s else self.last + _IDLE_MS

    def busy(self):
        return True

    def error(self, e):
        # step() raised: no heap (Update Result 3), a malformed response (4)
        self.fw.fail(_NO_RAM if isinstance(e, MemoryError) else _LOST)

    def close(self):
        s = self.s
        if s:
            self.s = None
            p = getattr(self.b, "poll", None)
            if p:
                try:
                    p.unregister(self.raw)
                except Exception:
                    pass
            s.close()
