# Application bundles of Firmware Update (package kind 1, tools/fota/package.py):
# flat entries of name length u8, name, size u32 BE, bytes, unpacked into a
# staging folder that boards/fwstore.py then renames over <state>/app.
import os


def unpack(src, to):
    os.mkdir(to)
    b = bytearray(512)
    m = memoryview(b)
    with open(src, "rb") as f:
        while True:
            n = f.read(1)
            if not n:
                break
            name = str(f.read(n[0]), "utf-8")
            if not name or "/" in name or name[0] == ".":
                raise ValueError("name")
            left = int.from_bytes(f.read(4), "big")
            with open(to + "/" + name, "wb") as o:
                while left:
                    k = f.readinto(m[:min(left, 512)])
                    if not k:
                        raise ValueError("short")
                    o.write(m[:k])
                    left -= k


def swap(d):
    # finish an app swap a reset cut short (app moved away, app.new not in yet)
    a = d + "/app"
    try:
        os.stat(a)
    except OSError:
        os.rename(a + ".new", a)
