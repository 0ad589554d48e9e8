"""`make run`: the project's dev LwM2M server and the client on the MicroPython
unix port, on loopback, through a scripted session. Exits by itself."""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from devclient import DevClient  # noqa: E402
from lwm2m_server import Server  # noqa: E402
from session import run_session  # noqa: E402


def main():
    with Server(port=0, log=print) as srv:
        uri = "coap://127.0.0.1:%d" % srv.port
        print("== dev server on %s; starting: micropython firmware/main.py --server %s --endpoint demo" % (uri, uri))
        c = DevClient(uri, "demo", "--lifetime", "300", clock="real", echo=print)
        try:
            res = run_session(srv, c, "demo")
        finally:
            c.kill()
        print("== done: %d bytes up, %d bytes down" % (res["session_bytes_up"], res["session_bytes_down"]))


if __name__ == "__main__":
    main()
