"""The admin API: an aiohttp app under ``/api/v1``, one module per resource.

``create_app(service)`` is the entry point; ``node.api.routes`` holds the route table type every
resource module fills, and ``node.api.openapi`` renders that table as the OpenAPI document.
"""

from node.api.app import create_app
from node.api.routes import PREFIX

__all__ = ["PREFIX", "create_app"]
