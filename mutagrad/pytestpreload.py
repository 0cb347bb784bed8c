"""Preloaded by the fork server of a pool that runs the user's pytest tests: importing this
module imports pytest, its plugins and mutagrad's worker code (``pytestrun.preload``), so
that every worker forked from the server starts with them loaded.

The one module whose import does work: the fork server can only import modules by name.
Nothing else imports it.
"""

from mutagrad.pytestrun import preload

preload()
