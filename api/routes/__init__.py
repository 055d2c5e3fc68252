"""One router per resource; each route only translates HTTP to a service call and back."""
