# The orderflow application image: one image, several roles (see docker-compose.yml).
#   docker build -t orderflow:0.1.0 .
#   docker run --rm orderflow:0.1.0 worker        (or: api --host 0.0.0.0, order list, ...)
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    ORDERFLOW_DATA_DIR=/data

WORKDIR /app
COPY pyproject.toml README.md* ./
COPY orderflow ./orderflow
# Installs the orderflow-temporal distribution (import name orderflow) with its extras.
RUN pip install ".[postgres,otel]" \
    && useradd --create-home --uid 10001 orderflow \
    && mkdir -p /data && chown orderflow /data

USER orderflow
EXPOSE 8081
ENTRYPOINT ["orderflow"]
CMD ["worker"]
