"""``mutagrad serve``: the store's campaigns as a JSON API and HTML pages (FastAPI).

A thin layer like the CLI: each route parses, calls the library, renders. Importing this
package does no work; ``create_app`` builds the app over one store.
"""

from mutagrad.web.app import ServeConfig, check_bind, create_app

__all__ = ["ServeConfig", "check_bind", "create_app"]
