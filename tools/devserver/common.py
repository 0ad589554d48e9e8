"""Shared pieces of the dev LwM2M server: CoAP code text, path/query
helpers, the Response of a request and RequestError."""
import time

from . import formats as lwm2m_formats

DEFAULT_LIFETIME = 86400
SUPPORTED_VERSIONS = ("1.0", "1.1", "1.2")
SEND_FORMATS = (110, 112, 11543, 11544)

def code_str(code):
    """CoAP code as "c.dd", e.g. 0x45 -> "2.05"."""
    code = int(code)
    return "%d.%02d" % (code >> 5, code & 0x1F)


def _path_tuple(path):
    if isinstance(path, (tuple, list)):
        return tuple(str(p) for p in path)
    return tuple(p for p in str(path).strip("/").split("/") if p != "")


def _path_str(parts):
    return "/" + "/".join(parts)


def _query_list(query):
    if query is None:
        return []
    if isinstance(query, str):
        return [q for q in query.lstrip("?").split("&") if q]
    if isinstance(query, dict):
        return [k if v is None else "%s=%s" % (k, v) for k, v in query.items()]
    return [str(q) for q in query]


def _parse_query(items):
    out = {}
    for q in items:
        k, sep, v = q.partition("=")
        out[k] = v if sep else ""
    return out


def _addr(remote):
    """(host, port) of an aiocoap remote, v4-mapped addresses unwrapped."""
    sa = getattr(remote, "sockaddr", None)
    if sa:
        host = sa[0]
        if host.startswith("::ffff:") and "." in host:
            host = host[7:]
        return (host, sa[1])
    return (str(getattr(remote, "hostinfo", remote)), 0)


def _objects_text(objects):
    """The object links of a registration payload without the root link."""
    links = [l.strip() for l in lwm2m_formats._split_outside_quotes(objects or "", ",")]
    links = [l for l in links if l and not l.startswith("</>")]
    return ",".join(links) if links else "(none)"


class RequestError(Exception):
    """A request to a client failed for a reason other than a timeout
    (reset by the client, network error, no such registration...)."""


class Response:
    """A CoAP response from a client.

    code            "2.05" style string
    payload         bytes
    content_format  int or None
    observe         Observe option value or None
    options         {option name (lower case): value or list of values}
    raw             the aiocoap Message
    """

    def __init__(self, msg):
        self.raw = msg
        self.path = None    # the request's path, set by the server (types of TLV values)
        self.code = code_str(msg.code)
        self.payload = bytes(msg.payload)
        cf = msg.opt.content_format
        self.content_format = None if cf is None else int(cf)
        self.observe = msg.opt.observe
        self.t = time.time()
        opts = {}
        for o in msg.opt.option_list():
            try:
                name = o.number.name.lower()
            except Exception:  # noqa: BLE001 - unknown numbers have no name
                name = str(int(o.number))
            val = o.value
            if isinstance(val, int) and not isinstance(val, bool):
                val = int(val)
            if name in opts:
                if not isinstance(opts[name], list):
                    opts[name] = [opts[name]]
                opts[name].append(val)
            else:
                opts[name] = val
        self.options = opts

    @property
    def ok(self):
        return self.code.startswith("2.")

    @property
    def text(self):
        return self.payload.decode("utf-8", "replace")

    def pretty(self, path=None):
        return lwm2m_formats.pretty(self.payload, self.content_format, path or self.path)

    def __repr__(self):
        return "<Response %s ct=%s %d bytes%s>" % (
            self.code, self.content_format, len(self.payload),
            "" if self.observe is None else " observe=%d" % self.observe)

