"""`make run`: a device provisioned at the factory with only a Bootstrap-Server
account bootstraps from the bundled bootstrap server, registers with the dev
LwM2M server, and goes through a scripted session, all on loopback with the
client on the MicroPython unix port. Exits by itself."""
import os
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import provision  # noqa: E402
from bootstrap_server import BootstrapServer  # noqa: E402
from devclient import DevClient  # noqa: E402
from lwm2m_server import Server  # noqa: E402
from session import run_session  # noqa: E402


def main():
    state = tempfile.mkdtemp(prefix="lwm2m-demo-")
    with Server(port=0, log=print) as srv:
        dm_uri = "coap://127.0.0.1:%d" % srv.port
        cfg = {"demo": {"security": [{"uri": dm_uri, "ssid": 1}],
                        "server": [{"ssid": 1, "lifetime": 300, "binding": "U"}]}}
        with BootstrapServer(port=0, configs=cfg, log=print) as bs:
            bs_uri = "coap://127.0.0.1:%d" % bs.port
            print("== factory configuration: only a Bootstrap-Server account (%s)" % bs_uri)
            provision.main(["--bootstrap", bs_uri, "--state", state])
            print("== starting: micropython firmware/main.py --endpoint demo --state %s" % state)
            c = DevClient(None, "demo", "--lifetime", "300", clock="real", echo=print, state=state)
            try:
                res = bs.wait_finished("demo", timeout=20)
                print("== bootstrap finished: %s" % res["code"])
                out = run_session(srv, c, "demo")
            finally:
                c.kill()
        print("== done: %d bytes up, %d bytes down in the DM session"
              % (out["session_bytes_up"], out["session_bytes_down"]))


if __name__ == "__main__":
    main()
