"""The JSON API of the departure-case service (``/api/v1``): a thin layer over CaseService.

Only :func:`runtime.app.create_app` is meant to be imported; there is no module-level app.
"""
