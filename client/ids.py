# Resource ids of the Security (0) and Server (1) objects used outside their
# object modules (OMA LwM2M 1.1 Core, Appendix E.1 and E.2). One place, so a
# module reads `sec.get(SEC_PSK_ID)`, not `sec.get(3)`.
from micropython import const

# Security (0)
SEC_URI = const(0)          # LwM2M Server URI
SEC_BOOTSTRAP = const(1)    # Bootstrap-Server
SEC_MODE = const(2)         # Security Mode: 0 PSK, 1 RPK, 2 certificate, 3 NoSec, 4 EST
SEC_ID = const(3)           # Public Key or Identity (PSK identity / client certificate)
SEC_SERVER_KEY = const(4)   # Server Public Key (server certificate)
SEC_KEY = const(5)          # Secret Key (PSK / private key)
SEC_SMS_MODE = const(6)     # SMS Security Mode
SEC_SMS_NUMBER = const(9)   # LwM2M Server SMS Number
SEC_SSID = const(10)        # Short Server ID
SEC_HOLD_OFF = const(11)    # Client Hold Off Time
SEC_BS_TIMEOUT = const(12)  # Bootstrap-Server Account Timeout
SEC_SNI = const(14)         # Server Name Indication
SEC_CERT_USAGE = const(15)  # Certificate Usage

MODE_PSK = const(0)
MODE_RPK = const(1)
MODE_CERT = const(2)
MODE_NOSEC = const(3)

# Server (1)
SRV_SSID = const(0)         # Short Server ID
SRV_LIFETIME = const(1)
SRV_PMIN = const(2)         # Default Minimum Period
SRV_PMAX = const(3)         # Default Maximum Period
SRV_DISABLE = const(4)
SRV_DISABLE_TIMEOUT = const(5)
SRV_STORING = const(6)      # Notification Storing When Disabled or Offline
SRV_BINDING = const(7)
SRV_UPDATE = const(8)       # Registration Update Trigger
SRV_BS_REQUEST = const(9)   # Bootstrap-Request Trigger
SRV_LAST_ERROR = const(11)  # TLS-DTLS Alert Code
SRV_LAST_BS = const(12)     # Last Bootstrapped
SRV_BS_ON_FAIL = const(16)  # Bootstrap on Registration Failure
SRV_RETRY_COUNT = const(17) # Communication Retry Count
SRV_RETRY_TIMER = const(18) # Communication Retry Timer
SRV_SEQ_DELAY = const(19)   # Communication Sequence Delay Timer
SRV_SEQ_RETRY = const(20)   # Communication Sequence Retry Count
SRV_PREF_TRANSPORT = const(22)  # Preferred Transport
SRV_MUTE_SEND = const(23)
SRV_CON = const(26)         # Default Notification Mode (0 NON, 1 CON)
