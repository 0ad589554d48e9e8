# Frozen into the qemu MPS2_AN385 firmware and the frozen 32-bit unix build
# (tools/targets/vendor_build.py): the device code an in-memory LwM2M session
# uses, and (H3_HARNESS=1) the session itself. H3_SRC is the build's copy of
# the sources after tools/targets/inline_consts.py (memsession.py and
# memnum.py rewritten beside them), frozen at H3_OPT (-O3: no line numbers).
# Paths are relative to this file (the manifest tool runs it from here).
import os

src = os.environ.get("H3_SRC", "../..")     # the repository, or vendor_build's inlined tree
opt = int(os.environ.get("H3_OPT", "3"))
package("client", base_path=src, opt=opt)
package("objects", base_path=src, opt=opt)
package("firmware", files=["main.py"], base_path=src, opt=opt)
for b in os.environ.get("H3_BOARDS", "").split():     # e.g. "unix" for the 32-bit unix build
    package("boards", files=[b + ".py"], base_path=src, opt=opt)
if os.environ.get("H3_HARNESS", "1") == "1":
    here = src if os.path.exists(os.path.join(src, "memsession.py")) else "."
    module("memsession.py", base_path=here, opt=opt)
    module("memnum.py", base_path=here, opt=opt)
