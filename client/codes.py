# Protocol numbers shared by the device code: CoAP (RFC 7252/7641/7959),
# LwM2M resource types and operations, content formats.
from micropython import const

# CoAP message types
CON = const(0)
NON = const(1)
ACK = const(2)
RST = const(3)

# CoAP method and response codes (class << 5 | detail)
GET = const(1)
POST = const(2)
PUT = const(3)
DELETE = const(4)
FETCH = const(5)
PATCH = const(6)
IPATCH = const(7)
CREATED = const(0x41)
DELETED = const(0x42)
VALID = const(0x43)
CHANGED = const(0x44)
CONTENT = const(0x45)
CONTINUE = const(0x5F)
BAD_REQUEST = const(0x80)
UNAUTHORIZED = const(0x81)
BAD_OPTION = const(0x82)
FORBIDDEN = const(0x83)
NOT_FOUND = const(0x84)
METHOD_NOT_ALLOWED = const(0x85)
NOT_ACCEPTABLE = const(0x86)
REQUEST_ENTITY_INCOMPLETE = const(0x88)
PRECONDITION_FAILED = const(0x8C)
REQUEST_ENTITY_TOO_LARGE = const(0x8D)
UNSUPPORTED_CONTENT_FORMAT = const(0x8F)
INTERNAL_SERVER_ERROR = const(0xA0)
NOT_IMPLEMENTED = const(0xA1)
SERVICE_UNAVAILABLE = const(0xA3)

# CoAP option numbers
IF_MATCH = const(1)
URI_HOST = const(3)
ETAG = const(4)
IF_NONE_MATCH = const(5)
OBSERVE = const(6)
URI_PORT = const(7)
LOCATION_PATH = const(8)
URI_PATH = const(11)
CONTENT_FORMAT = const(12)
MAX_AGE = const(14)
URI_QUERY = const(15)
ACCEPT = const(17)
LOCATION_QUERY = const(20)
BLOCK2 = const(23)
BLOCK1 = const(27)
SIZE2 = const(28)
PROXY_URI = const(35)
PROXY_SCHEME = const(39)
SIZE1 = const(60)
NO_RESPONSE = const(258)
REQUEST_TAG = const(292)

# Content formats
FMT_TEXT = const(0)
FMT_LINK = const(40)
FMT_OPAQUE = const(42)
FMT_CBOR = const(60)
FMT_SENML_JSON = const(110)
FMT_SENML_CBOR = const(112)
FMT_TLV = const(11542)
FMT_JSON = const(11543)
FMT_LWM2M_CBOR = const(11544)

# LwM2M resource value types (Python value in brackets)
NONE = const(0)     # executable, no value
STR = const(1)      # str
INT = const(2)      # int
UINT = const(3)     # int >= 0
FLOAT = const(4)    # float
BOOL = const(5)     # bool
OPAQUE = const(6)   # bytes
TIME = const(7)     # int, seconds since 1970
OBJLNK = const(8)   # (object id, instance id)
CORELNK = const(9)  # str (RFC 6690)

# operations a resource allows (bit set)
R = const(1)
W = const(2)
RW = const(3)
E = const(4)


def cstr(code):
    # a code as printed: 0x80 -> "4.00" (firmware/main.py adds the reason phrase)
    return "%d.%02d" % (code >> 5, code & 31)


class CoapError(Exception):
    # An error that carries the CoAP response code the engine sends back.
    def __init__(self, code, msg=None):
        self.code = code
        self.msg = msg

# DTLS session states (client/dtls.py, client/dtlscert.py: phase(), state names)
DTLS_IDLE = const(0)
DTLS_HELLO = const(1)
DTLS_KEY = const(2)
DTLS_CONNECTED = const(3)
DTLS_FAILED = const(4)
DTLS_CLOSED = const(5)
DTLS_NAMES = ("idle", "hello", "key", "connected", "failed", "closed")


class DtlsState:
    # the session state of client/dtls.py Dtls and client/dtlscert.py
    # DtlsCert: a DTLS_* number in _st, read through these methods
    _st = DTLS_IDLE

    def phase(self):
        return self._st

    def connected(self):
        return self._st == DTLS_CONNECTED

    def idle(self):
        return self._st == DTLS_IDLE

    def handshaking(self):
        return self._st == DTLS_HELLO or self._st == DTLS_KEY

    @property
    def state(self):
        # its name, for logs and tests
        return DTLS_NAMES[self._st]


def quiet(*a):
    # the log when none is given (callers test `log is not quiet` first: no
    # message is formatted on a hot path for nobody)
    pass
