"""One router per resource; each route only translates HTTP to a CaseService call and back."""
