"""Interactive console of the dev LwM2M server (tools/lwm2m_server.py with no
--script: commands from the terminal; with --script FILE or a pipe: from
there). Every payload is decoded into readable text; `help` lists the
commands, `history` the ones entered (the arrow keys recall them on a
terminal). Registrations, updates and notifications are printed as they
happen."""
import cmd
import json
import os
import shlex
import sys
import tempfile
import threading

from . import formats
from .common import RequestError
from .model import rtype

FORMATS = {"text": 0, "link": 40, "opaque": 42, "cbor": 60, "senml-json": 110, "senml-cbor": 112,
           "tlv": 11542, "json": 11543, "lwm2m-cbor": 11544}
PHRASES = {"2.01": "Created", "2.02": "Deleted", "2.03": "Valid", "2.04": "Changed", "2.05": "Content",
           "2.31": "Continue", "4.00": "Bad Request", "4.01": "Unauthorized", "4.02": "Bad Option",
           "4.03": "Forbidden", "4.04": "Not Found", "4.05": "Method Not Allowed",
           "4.06": "Not Acceptable", "4.08": "Request Entity Incomplete", "4.12": "Precondition Failed",
           "4.13": "Request Entity Too Large", "4.15": "Unsupported Content-Format",
           "5.00": "Internal Server Error", "5.01": "Not Implemented", "5.03": "Service Unavailable"}


def code_text(code):
    return "%s %s" % (code, PHRASES.get(code, "")) if code in PHRASES else code


def fmt_number(name):
    """A content format from its name (tlv, senml-json ...) or number."""
    if name is None:
        return None
    if name in FORMATS:
        return FORMATS[name]
    if name.isdigit():
        return int(name)
    raise ValueError("unknown format %r (one of %s or a number)" % (name, ", ".join(FORMATS)))


def typed(path, text):
    """A resource value typed from the model, for a TLV write of path."""
    parts = [p for p in path.strip("/").split("/") if p]
    t = rtype(parts[0], parts[2]) if len(parts) >= 3 else None
    if t == "f":
        return float(text)
    if t in ("i", "u", "t"):
        return int(text)
    if t == "b":
        return text.lower() in ("1", "true", "on")
    if t == "o":
        return bytes.fromhex(text)
    if t is None:       # a resource the model does not know: what the text looks like
        for conv in (int, float):
            try:
                return conv(text)
            except ValueError:
                pass
        if text in ("true", "false"):
            return text == "true"
    return text


class Console(cmd.Cmd):
    intro = 'LwM2M dev server console: "help" lists the commands, "quit" ends.'
    prompt = "lwm2m> "

    def __init__(self, srv, stdin=None, stdout=None, fota_dir=None):
        super().__init__(stdin=stdin, stdout=stdout)
        if stdin is not None and stdin is not sys.stdin:
            self.use_rawinput = False
        self.srv = srv
        self.hist = []
        self.quitted = False
        self.lock = threading.Lock()
        self.observations = {}      # (ep, path) -> Observation
        self.files = None           # fota pull: the CoAP file server
        self._stop = threading.Event()
        self._seen = len(srv.events)
        self._events = threading.Thread(target=self._event_loop, daemon=True)
        self._events.start()

    # -- output ----------------------------------------------------------
    def say(self, text):
        with self.lock:
            self.stdout.write(str(text) + "\n")
            self.stdout.flush()

    def show(self, r, path):
        self.say("<- %s%s" % (code_text(r.code), "" if r.content_format is None else " (%s)" % (
            formats.format_name(r.content_format))))
        if r.payload:
            self.say("\n".join("   " + line for line in r.pretty(path).split("\n")))

    def _event_loop(self):
        kinds = ("register", "update", "deregister", "expire", "notify", "notify-end", "send", "reject")
        while not self._stop.is_set():
            try:
                ev = self.srv.wait_event(kinds, after=self._seen, timeout=0.5)
            except TimeoutError:
                continue
            except Exception:  # noqa: BLE001 - the server stopped
                return
            self._seen = ev["i"]
            self.say(self.event_text(ev))

    @staticmethod
    def event_text(ev):
        k, ep = ev["kind"], ev.get("ep")
        if k == "register":
            return "* registered %s at %s lt=%s b=%s%s" % (ep, ev["location"], ev["lt"], ev["b"],
                                                           " (queue mode)" if ev["queue"] else "")
        if k == "update":
            return "* update %s #%d" % (ep, ev["n"])
        if k == "notify":
            return "* notify %s %s #%d %s\n%s" % (ep, ev["path"], ev["n"], code_text(ev["code"]), "\n".join(
                "   " + line for line in ev.get("text", "").split("\n")))
        if k == "send":
            return "* send from %s\n%s" % (ep, "\n".join(
                "   " + line for line in formats.pretty(ev["payload"], ev["ct"]).split("\n")))
        if k == "reject":
            return "* rejected %s: %s %s" % (ev.get("op"), ev.get("code"), ev.get("reason"))
        return "* %s %s" % (k, ep)

    # -- the loop ----------------------------------------------------------
    def precmd(self, line):
        if line.strip() and line.strip() != "EOF":
            self.hist.append(line.strip())
            if not self.prompt:     # a script: show what runs
                self.say("lwm2m> " + line.strip())
        return line

    def onecmd(self, line):
        try:
            return super().onecmd(line)
        except (LookupError, RequestError, TimeoutError, ValueError) as e:
            self.say("error: %s" % e)
        except TypeError:
            self.say("error: wrong arguments (help %s)" % line.split()[0])

    def emptyline(self):
        pass

    def default(self, line):
        self.say('unknown command %r: "help" lists them' % line.split()[0])

    def _args(self, arg, n, most):
        a = shlex.split(arg)
        if not n <= len(a) <= most:
            raise TypeError
        return a + [None] * (most - len(a))

    # -- commands ----------------------------------------------------------
    def do_list(self, arg):
        """list: the registered clients (endpoint, location, lifetime, binding, address, objects)"""
        regs = self.srv.registrations
        if not regs:
            self.say("no client registered")
        for ep, r in sorted(regs.items()):
            self.say("%s %s lt=%s b=%s%s %s:%d lwm2m=%s\n   %s" % (
                ep, r.location, r.lifetime, r.binding, " Q" if r.queue else "", r.addr[0], r.addr[1],
                r.version, " ".join(r.object_paths)))

    def do_read(self, arg):
        """read EP PATH [FORMAT]: Read, e.g. read dev /3/0 senml-json (formats: tlv, senml-json,
        senml-cbor, json, lwm2m-cbor, cbor, text, opaque or a number)"""
        ep, path, f = self._args(arg, 2, 3)
        self.show(self.srv.read(ep, path, accept=fmt_number(f)), path)

    def do_write(self, arg):
        """write EP PATH VALUE [FORMAT]: Write (replace), e.g. write dev /1/0/1 120; with tlv the
        value is typed from the resource; with senml-json, json ... VALUE is the payload"""
        ep, path, value, f = self._args(arg, 3, 4)
        ct = fmt_number(f or "text")
        if ct == 11542:
            parts = [p for p in path.strip("/").split("/") if p]
            payload = formats.tlv_resource(int(parts[2]), typed(path, value))
        elif ct == 42:
            payload = bytes.fromhex(value)
        else:
            payload = value.encode()
        self.show(self.srv.write(ep, path, payload, ct), path)

    def do_exec(self, arg):
        """exec EP PATH [ARGS]: Execute, e.g. exec dev /3/0/4 or exec dev /33000/0/2 "0='30'" """
        ep, path, args = self._args(arg, 2, 3)
        self.show(self.srv.execute(ep, path, (args or "").encode()), path)

    def do_discover(self, arg):
        """discover EP PATH [DEPTH]: Discover (link format with attributes)"""
        ep, path, depth = self._args(arg, 2, 3)
        self.show(self.srv.discover(ep, path, None if depth is None else int(depth)), path)

    def do_observe(self, arg):
        """observe EP PATH [FORMAT]: Observe; notifications are printed as they arrive"""
        ep, path, f = self._args(arg, 2, 3)
        o = self.srv.observe(ep, path, accept=fmt_number(f))
        self.show(o.first, path)
        if o.active:
            self.observations[(ep, path)] = o
            self.say("observing %s %s" % (ep, path))

    def do_cancel(self, arg):
        """cancel EP PATH: cancel an observation (GET with Observe=1)"""
        ep, path = self._args(arg, 2, 2)
        o = self.observations.pop((ep, path), None)
        if o is None:
            raise ValueError("no observation of %s %s (observe first)" % (ep, path))
        r = o.cancel()
        if r is not None:
            self.show(r, path)

    def do_attr(self, arg):
        """attr EP PATH ATTRS: Write-Attributes, e.g. attr dev /3303/0/5700 pmin=1&pmax=30&st=0.5"""
        ep, path, attrs = self._args(arg, 3, 3)
        self.show(self.srv.write_attributes(ep, path, attrs), path)

    def do_create(self, arg):
        """create EP /OID [PAYLOAD FORMAT]: Create an instance, e.g. create dev /3303 or
        create dev /3303 '[{"bn":"/3303/1/","n":"5750","vs":"hall"}]' senml-json"""
        ep, path, payload, f = self._args(arg, 2, 4)
        ct = fmt_number(f or "tlv")
        self.show(self.srv.create(ep, path, (payload or "").encode() if ct != 11542 else b"", ct), path)

    def do_delete(self, arg):
        """delete EP PATH: Delete an object instance"""
        ep, path = self._args(arg, 2, 2)
        self.show(self.srv.delete(ep, path), path)

    def do_fota(self, arg):
        """fota push EP FILE | fota pull EP FILE: Firmware Update. push writes the package to
        /5/0/0 block by block; pull serves it over CoAP and writes its URI to /5/0/1. Then
        read EP /5/0/3 until 2 (downloaded) and exec EP /5/0/2 (update). A FILE that is
        not a package (tools/fota/package.py) is wrapped in one."""
        how, ep, path = self._args(arg, 3, 3)
        try:
            from fota import package, push, serve
        except ImportError:
            self.say("fota: not available (tools/fota/ is missing)")
            return
        with open(path, "rb") as f:
            data = f.read()
        pkg = data if data[:4] == package.MAGIC else package.build(data, name=os.path.basename(path)[:32])
        if how == "push":
            code = push.push(self.srv, ep, pkg, say=self.say)
            self.say("<- %s" % code_text(code))
        elif how == "pull":
            if self.files is None:
                folder = os.path.join(tempfile.mkdtemp(prefix="lwm2m-fota-"), "files")
                os.mkdir(folder)
                self.files = serve.CoapFiles(folder).start()
            with open(os.path.join(self.files.folder, "pkg.bin"), "wb") as f:
                f.write(pkg)
            uri = self.files.uri("pkg.bin")
            self.say("serving %s (%d bytes)" % (uri, len(pkg)))
            self.show(self.srv.write(ep, "/5/0/1", uri.encode(), 0), "/5/0/1")
        else:
            raise TypeError

    def do_history(self, arg):
        """history: the commands entered so far"""
        for i, line in enumerate(self.hist[:-1], 1):
            self.say("%3d  %s" % (i, line))

    def do_events(self, arg):
        """events [N]: the server's last N events (default 10) as JSON"""
        n = int(arg or 10)
        for ev in self.srv.events[-n:]:
            self.say(json.dumps({k: v for k, v in ev.items() if k != "reg"}, default=repr))

    def do_quit(self, arg):
        """quit: stop the console and the server"""
        self.quitted = True
        return True

    do_exit = do_quit

    def do_EOF(self, arg):
        return True

    def close(self):
        self._stop.set()
        if self.files is not None:
            self.files.stop()
