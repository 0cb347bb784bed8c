import sys
from pathlib import Path

# tests/seedcode.py is a plain helper module next to the tests.
sys.path.insert(0, str(Path(__file__).parent))
