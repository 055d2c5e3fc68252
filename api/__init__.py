"""The JSON API of the departure-case service (``/api/v1``): a thin layer over the services.

:func:`api.app.build_app` builds it from the services handed in; :func:`runtime.app.create_app`
composes them. There is no module-level app.
"""
