# DeepShield serving image: API and Celery worker (same image, different command).
# Slim, non-root, no torch: inference runs on ONNX Runtime with the weights in the package.
# Build: docker build -t deepshield .      Run everything: docker compose up
FROM python:3.11-slim AS build
ENV PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1
WORKDIR /src
COPY pyproject.toml README.md ./
COPY src ./src
RUN python -m venv /opt/deepshield \
 && /opt/deepshield/bin/pip install --upgrade pip \
 && /opt/deepshield/bin/pip install ".[worker,postgres]" \
 && ! /opt/deepshield/bin/python -c "import torch" 2>/dev/null

FROM python:3.11-slim
ENV PATH=/opt/deepshield/bin:$PATH \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    STORAGE_DATA_DIR=/data \
    LOG_FORMAT=json
RUN useradd --system --uid 10001 --home-dir /data --shell /usr/sbin/nologin deepshield \
 && mkdir -p /data && chown deepshield:deepshield /data
COPY --from=build /opt/deepshield /opt/deepshield
USER deepshield
WORKDIR /data
VOLUME ["/data"]
EXPOSE 8000
HEALTHCHECK --interval=15s --timeout=5s --start-period=30s --retries=3 \
  CMD ["python", "-c", "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8000/api/health/live', timeout=4)"]
CMD ["deepshield", "serve", "--host", "0.0.0.0", "--port", "8000"]
