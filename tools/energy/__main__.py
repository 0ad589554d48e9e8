# python tools/energy [options]: the energy report (energy/report.py main)
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from energy.report import main  # noqa: E402

sys.exit(main())
