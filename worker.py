"""Entry point of the worker process: ``python -m worker`` runs the worker role of the service.

The wiring (which activities and workflows, with which dependencies) lives in
:mod:`runtime.worker`; this file stays at the top of the tree as the design names it.
"""

from __future__ import annotations

from runtime.main import main

if __name__ == "__main__":
    main(["--role", "worker"])
