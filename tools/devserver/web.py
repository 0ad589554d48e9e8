"""The dev server's web page (tools/lwm2m_server.py --web [HOST:]PORT; on
loopback by default), standard library only: registered clients, their
object tree with current values, read / write / execute / observe buttons,
live events (registrations, notifications) and, for a queue-mode client, its
radio duty as the server sees it (Registration.energy).

JSON API used by the page: GET /api/clients, GET /api/read?ep=&path=[&format=],
POST /api/write {ep, path, value}, /api/exec {ep, path, args}, /api/observe
{ep, path}, GET /api/events?after=N (long poll, up to 10 s)."""
import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlparse

from . import formats
from .common import RequestError
from .console import Console

PAGE = """<!doctype html>
<html><head><meta charset="utf-8"><title>LwM2M dev server</title>
<style>
body{font-family:sans-serif;margin:0;display:flex;height:100vh}
#side{width:220px;border-right:1px solid #ccc;padding:8px;overflow:auto}
#main{flex:1;padding:8px;overflow:auto}
#events{width:340px;border-left:1px solid #ccc;padding:8px;overflow:auto;font-size:12px}
.client{cursor:pointer;padding:4px;border-radius:4px}.client.sel{background:#def}
table{border-collapse:collapse;margin:6px 0}td{border-bottom:1px solid #eee;padding:2px 6px}
h3{margin:10px 0 2px}.code{font-weight:bold}.ev{border-bottom:1px solid #eee;padding:2px}
pre{margin:0;white-space:pre-wrap}
</style></head><body>
<div id="side"><h2>Clients</h2><div id="clients">none</div><div id="energy"></div></div>
<div id="main"><h2 id="title">select a client</h2><div id="status"></div><div id="tree"></div></div>
<div id="events"><h2>Events</h2><div id="evlist"></div></div>
<script>
let ep = null, after = 0, shown = "";
const $ = (id) => document.getElementById(id);
async function api(url, body) {
  const r = await fetch(url, body ? {method: "POST", body: JSON.stringify(body)} : {});
  return r.json();
}
function status(t) { $("status").textContent = t; }
async function clients() {
  const cs = await api("/api/clients");
  for (const c of cs) if (c.ep === ep) energy(c);
  const key = JSON.stringify(cs.map((c) => [c.ep, c.queue, c.ep === ep]));
  if (key === shown) return;    // unchanged: keep the elements (no flicker)
  shown = key;
  const box = $("clients"); box.innerHTML = "";
  for (const c of cs) {
    const d = document.createElement("div");
    d.className = "client" + (c.ep === ep ? " sel" : ""); d.id = "client-" + c.ep;
    d.textContent = c.ep + (c.queue ? " (queue)" : "");
    d.onclick = () => select(c.ep); box.appendChild(d);
  }
  if (!cs.length) box.textContent = "none";
}
function energy(c) {
  const e = c.energy;
  $("energy").innerHTML = e ? "<h3>Energy (server's view)</h3><table id='energy-table'>" +
    Object.entries(e).map(([k, v]) => `<tr><td>${k}</td><td>${v}</td></tr>`).join("") + "</table>" : "";
}
async function select(e) {
  ep = e; $("title").textContent = e; await clients();
  const c = (await api("/api/clients")).find((x) => x.ep === e);
  const tree = $("tree"); tree.innerHTML = "";
  const insts = c.objects.filter((p) => p.split("/").length === 3);
  for (const p of insts) {
    const h = document.createElement("h3"); h.textContent = p;
    const b = button("read", p, "Read"); h.appendChild(b);
    const t = document.createElement("table"); t.id = "inst-" + p;
    tree.appendChild(h); tree.appendChild(t);
  }
  // current values at once (a queue-mode client's requests would wait for it: on demand)
  if (!c.queue) for (const p of insts) if (ep === e) await act("read", p);
}
function button(op, path, label) {
  const b = document.createElement("button");
  b.textContent = label; b.dataset.op = op; b.dataset.path = path;
  b.onclick = () => act(op, path); return b;
}
async function act(op, path) {
  let r;
  if (op === "read") {
    r = await api(`/api/read?ep=${encodeURIComponent(ep)}&path=${encodeURIComponent(path)}`);
    if (r.values) fill(path, r.values);
  } else if (op === "write") {
    r = await api("/api/write", {ep, path, value: document.querySelector(`input[data-path="${path}"]`).value});
  } else if (op === "exec") {
    r = await api("/api/exec", {ep, path, args: document.querySelector(`input[data-path="${path}"]`).value});
  } else if (op === "observe") {
    r = await api("/api/observe", {ep, path});
  }
  status(`${op} ${path}: ${r.code || r.error}`);
}
function fill(inst, values) {
  const t = document.getElementById("inst-" + inst); t.innerHTML = "";
  for (const [p, v] of Object.entries(values)) {
    const tr = document.createElement("tr"); tr.dataset.path = p;
    tr.innerHTML = `<td>${p}</td><td class="val" data-path="${p}"></td>`;
    tr.querySelector(".val").textContent = JSON.stringify(v);
    const td = document.createElement("td");
    const inp = document.createElement("input"); inp.dataset.path = p; inp.size = 8;
    td.append(inp, button("write", p, "Write"), button("exec", p, "Execute"),
              button("read", p, "Read"), button("observe", p, "Observe"));
    tr.appendChild(td); t.appendChild(tr);
  }
}
async function events() {
  for (;;) {
    try {
      const evs = await api("/api/events?after=" + after);
      for (const e of evs) {
        after = e.i;
        const d = document.createElement("div"); d.className = "ev ev-" + e.kind;
        d.innerHTML = "<pre></pre>"; d.firstChild.textContent = e.text;
        $("evlist").prepend(d);
        if (["register", "deregister", "expire"].includes(e.kind) || e.ep === ep) clients();
        if (e.kind === "notify" && e.ep === ep) {
          const cell = document.querySelector(`td.val[data-path="${e.path}"]`);
          if (cell) cell.textContent = e.value;
        }
      }
    } catch (err) { await new Promise((r) => setTimeout(r, 1000)); }
  }
}
clients(); events();
</script></body></html>
"""

TEXT, SENML_JSON = 0, 110


def values(payload, path):
    """{path: value} of a SenML JSON payload."""
    out = {}
    for r in formats.senml_resolve(formats.senml_decode(payload, SENML_JSON)):
        v = next((r[k] for k in ("v", "vb", "vs", "vlo") if k in r), None)
        if v is None and "vd" in r:
            v = "0x" + r["vd"].hex()
        out[r["n"]] = v
    return out


def energy(reg, awake_s):
    """Registration.energy plus a battery estimate: the radio on for that share
    of the day at the connected current, in PSM otherwise (the modem currents and
    battery of tools/energy's configuration)."""
    e = reg.energy(awake_s)
    try:
        from energy.config import DEFAULTS
    except ImportError:
        return e
    ua_psm, _, ua_on = DEFAULTS["ua"]
    on = e["radio_on_ratio"] * 86400
    mah_day = (on * ua_on + (86400 - on) * ua_psm) / 3.6e6
    e["battery_days"] = round(DEFAULTS["capacity_mah"] / mah_day, 1) if mah_day else None
    return e


class Web:
    """Web(srv, (host, port)).start() ... .stop(); .addr is (host, port)."""

    def __init__(self, srv, addr=("127.0.0.1", 0)):
        self.srv = srv
        web = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *a):
                pass

            def _send(self, body, ctype="application/json", code=200):
                data = body.encode() if isinstance(body, str) else json.dumps(body, default=repr).encode()
                self.send_response(code)
                self.send_header("Content-Type", ctype)
                self.send_header("Content-Length", str(len(data)))
                self.send_header("Cache-Control", "no-store")
                self.end_headers()
                try:
                    self.wfile.write(data)
                except (BrokenPipeError, ConnectionResetError):
                    pass    # the page went away (reload, long poll cut)

            def do_GET(self):
                u = urlparse(self.path)
                q = {k: v[0] for k, v in parse_qs(u.query).items()}
                if u.path == "/":
                    return self._send(PAGE, "text/html; charset=utf-8")
                if u.path == "/api/clients":
                    return self._send(web.clients())
                if u.path == "/api/read":
                    return self._send(web.call(web.read, q.get("ep"), q.get("path"), q.get("format")))
                if u.path == "/api/events":
                    return self._send(web.events(int(q.get("after", 0))))
                self._send({"error": "not found"}, code=404)

            def do_POST(self):
                n = int(self.headers.get("Content-Length") or 0)
                try:
                    b = json.loads(self.rfile.read(n) or b"{}")
                except ValueError:
                    return self._send({"error": "bad JSON"}, code=400)
                ops = {"/api/write": lambda: web.write(b["ep"], b["path"], b.get("value", "")),
                       "/api/exec": lambda: web.srv.execute(b["ep"], b["path"], (b.get("args") or "").encode()),
                       "/api/observe": lambda: web.observe(b["ep"], b["path"])}
                op = ops.get(urlparse(self.path).path)
                if op is None:
                    return self._send({"error": "not found"}, code=404)
                self._send(web.call(op))

        self.httpd = ThreadingHTTPServer(addr, Handler)
        self.httpd.daemon_threads = True
        self.addr = self.httpd.server_address[:2]
        self.thread = None

    def start(self):
        self.thread = threading.Thread(target=self.httpd.serve_forever, name="lwm2m-web", daemon=True)
        self.thread.start()
        return self

    def stop(self):
        self.httpd.shutdown()
        self.httpd.server_close()

    def __enter__(self):
        return self.start()

    def __exit__(self, *a):
        self.stop()

    # -- the API -----------------------------------------------------------
    def clients(self):
        out = []
        for ep, r in sorted(self.srv.registrations.items()):
            out.append({"ep": ep, "location": r.location, "lifetime": r.lifetime, "binding": r.binding,
                        "queue": r.queue, "version": r.version, "addr": "%s:%d" % r.addr,
                        "objects": r.object_paths,
                        "energy": energy(r, self.srv.awake_s) if r.queue else None})
        return out

    @staticmethod
    def call(fn, *a):
        try:
            r = fn(*a)
        except (LookupError, RequestError, TimeoutError, ValueError, KeyError) as e:
            return {"error": str(e)}
        if isinstance(r, dict):
            return r
        return {"code": r.code, "ct": r.content_format, "text": r.pretty()}

    def read(self, ep, path, fmt=None):
        r = self.srv.read(ep, path, accept=int(fmt) if fmt else SENML_JSON)
        out = {"code": r.code, "ct": r.content_format, "text": r.pretty(path)}
        if r.ok and r.content_format == SENML_JSON:
            out["values"] = values(r.payload, path)
        return out

    def write(self, ep, path, value):
        return self.srv.write(ep, path, str(value).encode(), TEXT)

    def observe(self, ep, path):
        o = self.srv.observe(ep, path, accept=TEXT if path.count("/") == 3 else SENML_JSON)
        return {"code": o.first.code, "active": o.active, "text": o.first.pretty(path)}

    def events(self, after, timeout=10):
        try:
            self.srv.wait_event(None, after=after, timeout=timeout)
        except TimeoutError:
            return []
        out = []
        for ev in self.srv.events[after:]:
            e = {k: v for k, v in ev.items() if k in ("i", "t", "kind", "ep", "path", "code", "n")}
            try:
                e["text"] = Console.event_text(ev)
            except (KeyError, TypeError):
                e["text"] = "* %s %s" % (ev["kind"], ev.get("ep"))
            if ev["kind"] == "notify":
                e["value"] = ev.get("text", "")
            out.append(e)
        return out
