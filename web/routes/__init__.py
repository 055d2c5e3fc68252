"""One router per page area; :mod:`web.pages` combines them and installs them in the app."""
