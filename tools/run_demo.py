"""`make run`: a device provisioned at the factory with only a Bootstrap-Server
account (coaps://, a PSK) bootstraps over DTLS from the bundled bootstrap
server, gets a coaps:// LwM2M server account with its own PSK, registers with
the dev LwM2M server over DTLS and goes through a scripted session, all on
loopback with the client on the MicroPython unix port. Both servers sit behind
tools/devserver/dtls_front.py (python-mbedtls terminates DTLS). Exits by itself.
`--plain` does the same without DTLS."""
import contextlib
import os
import sys
import tempfile
import threading

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import provision  # noqa: E402
from devserver.bootstrap import BootstrapServer  # noqa: E402
from devclient import DevClient  # noqa: E402
from devserver.dtls_front import DtlsFront  # noqa: E402
from devserver.server import Server  # noqa: E402
from session import run_session  # noqa: E402


_lock = threading.Lock()


def say(text, prefix="[demo] "):
    """Whole lines, each with its process's prefix, never mixed with another
    thread's (the servers log from their own threads, the client from its reader)."""
    lines = "".join("%s%s\n" % ("" if l.startswith("[") else prefix, l) for l in str(text).split("\n"))
    with _lock:
        sys.__stdout__.write(lines)
        sys.__stdout__.flush()


class _Prefixed:
    # a file for print(): whole lines through say() with a prefix
    def __init__(self, prefix):
        self.prefix, self.buf = prefix, ""

    def write(self, s):
        self.buf += s
        while "\n" in self.buf:
            line, self.buf = self.buf.split("\n", 1)
            say(line, self.prefix)

    def flush(self):
        pass


class _Plain:
    # no DTLS: the server's own address
    def __init__(self, upstream, psks):
        self.addr = upstream

    def __enter__(self):
        return self

    def __exit__(self, *a):
        pass


def main(argv=sys.argv[1:]):
    if "--mqtt" in argv:    # the same session over LwM2M over MQTT (tools/mqtt/demo.py)
        sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "mqtt"))
        from demo import main as mqtt_demo
        return mqtt_demo(say)
    secure = "--plain" not in argv
    front, scheme = (DtlsFront, "coaps") if secure else (_Plain, "coap")
    state = tempfile.mkdtemp(prefix="lwm2m-demo-")
    bs_id, bs_key = "demo-bs", os.urandom(16)       # factory credentials
    dm_id, dm_key = "demo", os.urandom(16)          # given by the bootstrap server
    with Server(port=0, log=say) as srv, \
            front(("127.0.0.1", srv.port), {dm_id: dm_key}) as dmf:
        dm_uri = "%s://127.0.0.1:%d" % (scheme, dmf.addr[1])
        sec = {"uri": dm_uri, "ssid": 1}
        if secure:
            sec.update(mode="psk", identity=dm_id, key=dm_key.hex())
        cfg = {"demo": {"security": [sec],
                        "server": [{"ssid": 1, "lifetime": 300, "binding": "U"}]}}
        with BootstrapServer(port=0, configs=cfg, log=say) as bs, \
                front(("127.0.0.1", bs.port), {bs_id: bs_key}) as bsf:
            bs_uri = "%s://127.0.0.1:%d" % (scheme, bsf.addr[1])
            say("== factory configuration: only a Bootstrap-Server account (%s%s)"
                  % (bs_uri, ", PSK identity %s" % bs_id if secure else ""))
            with contextlib.redirect_stdout(_Prefixed("[provision] ")):
                provision.main(["--bootstrap", bs_uri, "--state", state]
                               + (["--identity", bs_id, "--key", bs_key.hex()] if secure else []))
            say("== starting: micropython firmware/main.py --endpoint demo --state %s" % state)
            c = DevClient(None, "demo", "--lifetime", "300", clock="real", echo=say, state=state)
            try:
                res = bs.wait_finished("demo", timeout=20)
                say("== bootstrap finished: %s" % res["code"])
                out = run_session(srv, c, "demo", say=say)
            finally:
                c.kill()
            if secure:
                say("== DTLS: bootstrap handshake %d B, DM handshake %d B (both ways)"
                      % (bsf.stats["handshake_bytes"], dmf.stats["handshake_bytes"]))
        say("== done: %d bytes up, %d bytes down in the DM session (CoAP)"
              % (out["session_bytes_up"], out["session_bytes_down"]))


if __name__ == "__main__":
    main()
