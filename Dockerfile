# One image for both production roles (docker-compose.yml):
#   python -m runtime.main --role worker   |   python -m runtime.main --role api
# DATABASE_URL and TEMPORAL_ADDRESS must be set; nothing embedded runs in a container.
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

WORKDIR /app
COPY . .
RUN pip install . \
    && useradd --system --uid 10001 --no-create-home app

USER app
# SIGTERM is handled: the API stops, the worker finishes its activities, then the process exits.
STOPSIGNAL SIGTERM
CMD ["python", "-m", "runtime.main", "--role", "all"]
