"""Bench figures of the application API (issue 14): app_api_mpy_bytes, the
.mpy size of the API layer over the core (client/app.py: objects with
callbacks, typed defaults, Execute arguments; client/appclient.py: the
application's Client; goal <= 2048), and
custom_object_lines, the lines of the example application's custom actuator
object (firmware/app_example.py between its markers; goal <= 15)."""
import os
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
OUT = os.path.join(ROOT, "build", "app")
sys.path.insert(0, os.path.join(ROOT, "tools"))
import build_mpy  # noqa: E402


def mpy_size(rel):
    return build_mpy.compile(rel, os.path.join(OUT, os.path.basename(rel)[:-3] + ".mpy"))


def custom_object_lines():
    with open(os.path.join(ROOT, "firmware", "app_example.py")) as f:
        src = f.read()
    body = src.split("# -- custom object: begin\n")[1].split("# -- custom object: end")[0]
    return len([line for line in body.splitlines() if line.strip()])


def measure():
    return {"app_api_mpy_bytes": mpy_size("client/app.py") + mpy_size("client/appclient.py"),
            "custom_object_lines": custom_object_lines()}


if __name__ == "__main__":
    print(measure())
