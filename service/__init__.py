"""Process wiring: settings, logging, the embedded servers and the composition root."""
