"""The application services: the only layer above store/ that opens connections for the API,
the pages and the commands."""
