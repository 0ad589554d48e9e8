"""Energy report for Queue Mode on a cellular (PSM) device.

Runs a configuration -- registration lifetime, observations (pmin/pmax), awake
policy, PSM timers, a traffic profile of server requests -- for N simulated
days and reports radio-on seconds per day, wake-ups per day, bytes per day and
an estimated battery life from the modem's currents; text output plus a PNG of
the radio state over one day.

One engine: the real client (energy/real.py run_client starts energy/runner.py,
a device-side script, on the MicroPython unix port: client/client.py on the
simulated cellular board tools/sim/simcell.py, virtual clock). energy/model.py
is a timeline model of the scheduler kept only as a cross-check
(host_tests/test_energy_real.py test_model_cross_check); the report and the
bench never use it unless asked (`--source model|both`).

Awake policies:
  default  stay awake MAX_TRANSMIT_WAIT (93 s) after the last message sent
           (transport spec 6.5), then the radio sleeps
  fixed    the same with a fixed window (`awake` s)
  psm      no client window: RAI per message (Table D.4-1) releases the
           connection, the network's active timer T3324 keeps the device
           reachable, then PSM (Appendix D.8.4: T3324 replaces MAX_TRANSMIT_WAIT);
           the real client's awake window ends when the modem enters PSM

Modules: config (DEFAULTS, config()), real (run_client), runner (MicroPython),
model (cross-check), report (reference, bench_figures, text, main), plot (PNG).
"""
from .config import DAY_MS, DEFAULTS, REFERENCE, POLICIES, PSM, IDLE, CONN, NAMES, config  # noqa: F401
from .real import run_client, PATHS  # noqa: F401
from .model import simulate  # noqa: F401
from .report import reference, bench_figures, text, main  # noqa: F401
