"""Bench figures of the packages (tools/bench/core.py calls measure()):
package_core_mpy_bytes (the core part compiled, what every board gets),
package_esp32_mpy_bytes (core + the ESP32 board: what `make deploy` copies
without optional parts), package_all_mpy_bytes (every part), and
package_files_esp32 (files that deploy copies to /lib)."""
import os
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import package  # noqa: E402


def measure():
    with tempfile.TemporaryDirectory() as out:
        parts = package.compile_tree(out, march="xtensawin")
        size = {p: sum(os.path.getsize(os.path.join(out, u[0])) for u in pj["urls"]) for p, pj in parts.items()}
    return {"package_core_mpy_bytes": size["core"],
            "package_esp32_mpy_bytes": size["core"] + size["esp32"],
            "package_all_mpy_bytes": sum(size.values()),
            "package_files_esp32": len(parts["core"]["urls"]) + len(parts["esp32"]["urls"])}


if __name__ == "__main__":
    print(measure())
