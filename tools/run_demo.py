"""`make run`: a device provisioned at the factory with only a Bootstrap-Server
account (coaps://, a PSK) bootstraps over DTLS from the bundled bootstrap
server, gets a coaps:// LwM2M server account with its own PSK, registers with
the dev LwM2M server over DTLS and goes through a scripted session, all on
loopback with the client on the MicroPython unix port. Both servers sit behind
tools/dtls_front.py (python-mbedtls terminates DTLS). Exits by itself.
`--plain` does the same without DTLS."""
import os
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import provision  # noqa: E402
from devserver.bootstrap import BootstrapServer  # noqa: E402
from devclient import DevClient  # noqa: E402
from devserver.dtls_front import DtlsFront  # noqa: E402
from devserver.server import Server  # noqa: E402
from session import run_session  # noqa: E402


class _Plain:
    # no DTLS: the server's own address
    def __init__(self, upstream, psks):
        self.addr = upstream

    def __enter__(self):
        return self

    def __exit__(self, *a):
        pass


def main(argv=sys.argv[1:]):
    secure = "--plain" not in argv
    front, scheme = (DtlsFront, "coaps") if secure else (_Plain, "coap")
    state = tempfile.mkdtemp(prefix="lwm2m-demo-")
    bs_id, bs_key = "demo-bs", os.urandom(16)       # factory credentials
    dm_id, dm_key = "demo", os.urandom(16)          # given by the bootstrap server
    with Server(port=0, log=print) as srv, \
            front(("127.0.0.1", srv.port), {dm_id: dm_key}) as dmf:
        dm_uri = "%s://127.0.0.1:%d" % (scheme, dmf.addr[1])
        sec = {"uri": dm_uri, "ssid": 1}
        if secure:
            sec.update(mode="psk", identity=dm_id, key=dm_key.hex())
        cfg = {"demo": {"security": [sec],
                        "server": [{"ssid": 1, "lifetime": 300, "binding": "U"}]}}
        with BootstrapServer(port=0, configs=cfg, log=print) as bs, \
                front(("127.0.0.1", bs.port), {bs_id: bs_key}) as bsf:
            bs_uri = "%s://127.0.0.1:%d" % (scheme, bsf.addr[1])
            print("== factory configuration: only a Bootstrap-Server account (%s%s)"
                  % (bs_uri, ", PSK identity %s" % bs_id if secure else ""))
            provision.main(["--bootstrap", bs_uri, "--state", state]
                           + (["--identity", bs_id, "--key", bs_key.hex()] if secure else []))
            print("== starting: micropython firmware/main.py --endpoint demo --state %s" % state)
            c = DevClient(None, "demo", "--lifetime", "300", clock="real", echo=print, state=state)
            try:
                res = bs.wait_finished("demo", timeout=20)
                print("== bootstrap finished: %s" % res["code"])
                out = run_session(srv, c, "demo")
            finally:
                c.kill()
            if secure:
                print("== DTLS: bootstrap handshake %d B, DM handshake %d B (both ways)"
                      % (bsf.stats["handshake_bytes"], dmf.stats["handshake_bytes"]))
        print("== done: %d bytes up, %d bytes down in the DM session (CoAP)"
              % (out["session_bytes_up"], out["session_bytes_down"]))


if __name__ == "__main__":
    main()
