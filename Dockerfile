# One image for every production role (docker-compose.yml, docs/deployment.md):
#   python -m runtime.main --role migrate | worker | api
# DATABASE_URL and TEMPORAL_ADDRESS must be set; nothing embedded runs in a container: the
# image holds requirements.lock (the runtime dependencies, no embedded servers, no test tools).
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    CASE_DATA_DIR=/var/lib/ausreise

WORKDIR /app
# The lock first, so that a change to the code alone does not reinstall the dependencies.
# Every file is checked against its sha256 in the lock.
COPY requirements.lock ./
RUN pip install --require-hashes --requirement requirements.lock
COPY . .
# The project without dependencies (the lock has them) and without build isolation (the lock
# pins setuptools: nothing unpinned is fetched). Bytecode for workflows/: the Temporal sandbox
# imports those modules afresh for every run (manage.py does the same).
RUN pip install --no-deps --no-build-isolation . \
    && pip check \
    && python -m compileall -q workflows \
    && useradd --system --uid 10001 --user-group --home-dir "$CASE_DATA_DIR" --no-create-home app \
    && install -d -o app -g app -m 0750 "$CASE_DATA_DIR" /var/lib/ausreise-shred

# The code stays root's (read-only for the service); only the data folder is the service's.
USER app
VOLUME ["/var/lib/ausreise"]
# SIGTERM is handled: the API stops, the worker finishes its activities, then the process exits.
STOPSIGNAL SIGTERM
CMD ["python", "-m", "runtime.main", "--role", "all"]
