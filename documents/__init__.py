"""Documents in the person's language (issue 5): a pure library, no database, no Temporal.

``render(kind, language, context)`` returns a ``RenderedDocument`` (PDF bytes plus what the case
must record: template versions, content hash, flags). See README.md, section "Documents".
"""

from documents.render import MissingSourceText, render, render_off_loop, template_version
from documents.texts import LANGUAGES, RTL_LANGUAGES

__all__ = [
    "LANGUAGES",
    "RTL_LANGUAGES",
    "MissingSourceText",
    "render",
    "render_off_loop",
    "template_version",
]
