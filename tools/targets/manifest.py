# Frozen into the qemu MPS2_AN385 firmware (tools/targets/vendor_build.py): the device
# code an in-memory LwM2M session uses, and (H3_HARNESS=1) the session itself.
# Paths are relative to this file (the manifest tool runs it from here).
import os

src = os.environ.get("H3_SRC", "../..")     # the repository (vendor_build.SRC)
package("client", base_path=src, opt=2)
package("objects", base_path=src, opt=2)
package("firmware", files=["main.py"], base_path=src, opt=2)
for b in os.environ.get("H3_BOARDS", "").split():     # e.g. "unix" for the 32-bit unix build
    package("boards", files=[b + ".py"], base_path=src, opt=2)
if os.environ.get("H3_HARNESS", "1") == "1":
    module("memsession.py", opt=2)
    module("memnum.py", opt=2)
