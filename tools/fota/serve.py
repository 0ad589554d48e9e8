"""Serve a package for a pull: over CoAP with Block2 (aiocoap's file server,
a third-party implementation) and over HTTP with Range (Debian's lighttpd).
Each server runs as a subprocess on loopback with its own log file, which
counts the requests (progress and re-fetches)."""
import os
import shutil
import socket
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
FILESERVER = os.path.join(os.path.dirname(sys.executable), "aiocoap-fileserver")


def free_port(kind=socket.SOCK_DGRAM):
    s = socket.socket(socket.AF_INET, kind)
    s.bind(("127.0.0.1", 0))
    p = s.getsockname()[1]
    s.close()
    return p


class CoapFiles:
    """aiocoap-fileserver serving folder on 127.0.0.1:port (-v logs one
    "Serving file" line per block request)."""

    def __init__(self, folder, port=None):
        self.folder = folder
        self.fixed = bool(port)
        self.port = port or free_port()
        self.log = os.path.join(folder, "..", "coap-files-%d.log" % self.port)
        self.p = None

    def start(self, tries=3):
        exe = FILESERVER if os.path.exists(FILESERVER) else shutil.which("aiocoap-fileserver")
        for i in range(tries):
            self.f = open(self.log, "w")
            self.p = subprocess.Popen([exe, "-v", "--bind", "127.0.0.1:%d" % self.port, self.folder],
                                      stdout=self.f, stderr=subprocess.STDOUT)
            try:
                _wait_udp(self.port, self.p)
                return self
            except RuntimeError:    # the port was taken meanwhile: another one
                self.f.close()
                if i == tries - 1 or self.fixed:
                    raise
                self.port = free_port()
                self.log = os.path.join(self.folder, "..", "coap-files-%d.log" % self.port)

    def uri(self, name):
        return "coap://127.0.0.1:%d/%s" % (self.port, name)

    def requests(self):
        with open(self.log) as f:
            return sum(1 for ln in f if "Serving file" in ln)

    def stop(self):
        if self.p and self.p.poll() is None:
            self.p.terminate()
            self.p.wait(10)
        if self.p:
            self.f.close()

    def __enter__(self):
        return self.start()

    def __exit__(self, *a):
        self.stop()


def _wait_udp(port, p, timeout=15):
    # a CoAP ping (empty CON) answered with RST once the server is up
    end = time.monotonic() + timeout
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.settimeout(0.2)
    try:
        while time.monotonic() < end:
            if p.poll() is not None:
                raise RuntimeError("file server exited")
            s.sendto(b"\x40\x00\x12\x34", ("127.0.0.1", port))
            try:
                s.recvfrom(64)
                return
            except OSError:
                time.sleep(0.1)
    finally:
        s.close()
    raise TimeoutError("file server did not start")


LIGHTTPD_CONF = """server.document-root = "%(root)s"
server.bind = "127.0.0.1"
server.port = %(port)d
server.pid-file = "%(pid)s"
server.errorlog = "%(err)s"
server.modules = ("mod_accesslog")
accesslog.filename = "%(acc)s"
accesslog.format = "%%r %%>s %%b \\"%%{Range}i\\""
mimetype.assign = ("" => "application/octet-stream")
"""


def lighttpd():
    return shutil.which("lighttpd") or ("/usr/sbin/lighttpd" if os.path.exists("/usr/sbin/lighttpd") else None)


class HttpFiles:
    """lighttpd serving folder on 127.0.0.1:port (Range, ETag), access log
    with the Range header of every request; tls=True: https with a
    self-signed certificate made here (openssl)."""

    def __init__(self, folder, port=None, tls=False):
        self.folder = os.path.abspath(folder)
        self.tls = tls
        self.port = port or free_port(socket.SOCK_STREAM)
        d = os.path.dirname(self.folder)
        self.acc = os.path.join(d, "http-%d.access.log" % self.port)
        self.conf = os.path.join(d, "http-%d.conf" % self.port)
        self.p = None

    def start(self):
        exe = lighttpd()
        if not exe:
            raise RuntimeError("lighttpd is not installed (make setup installs it)")
        d = os.path.dirname(self.folder)
        with open(self.conf, "w") as f:
            f.write(LIGHTTPD_CONF % {"root": self.folder, "port": self.port, "acc": self.acc,
                                     "pid": os.path.join(d, "http-%d.pid" % self.port),
                                     "err": os.path.join(d, "http-%d.error.log" % self.port)})
            if self.tls:
                pem = os.path.join(d, "http-%d.pem" % self.port)
                subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt",
                                "ec_paramgen_curve:prime256v1", "-nodes", "-days", "1", "-subj",
                                "/CN=localhost", "-keyout", pem, "-out", pem + ".crt"],
                               check=True, capture_output=True)
                with open(pem, "a") as p, open(pem + ".crt") as c:
                    p.write(c.read())
                f.write('server.modules += ("mod_openssl")\nssl.engine = "enable"\n'
                        'ssl.pemfile = "%s"\n' % pem)
        self.p = subprocess.Popen([exe, "-D", "-f", self.conf], stdout=subprocess.DEVNULL,
                                  stderr=subprocess.STDOUT)
        end = time.monotonic() + 15
        while time.monotonic() < end:
            try:
                socket.create_connection(("127.0.0.1", self.port), 0.5).close()
                return self
            except OSError:
                if self.p.poll() is not None:
                    raise RuntimeError("lighttpd exited")
                time.sleep(0.1)
        raise TimeoutError("lighttpd did not start")

    def uri(self, name):
        return "%s://127.0.0.1:%d/%s" % ("https" if self.tls else "http", self.port, name)

    def log(self):
        try:
            with open(self.acc) as f:
                return f.read().splitlines()
        except OSError:
            return []

    def stop(self):
        if self.p and self.p.poll() is None:
            self.p.terminate()
            self.p.wait(10)

    def __enter__(self):
        return self.start()

    def __exit__(self, *a):
        self.stop()
