"""The web inbox (Posteingang): server-rendered German pages for the ABH, the KI, operations
and admins. ``install(app)`` adds its routes, its static files and its error pages."""

from __future__ import annotations

from web.pages import install, router, unavailable_page

__all__ = ["install", "router", "unavailable_page"]
