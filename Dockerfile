# suitehealth: dashboard, upload API and analysis worker in one image.
#   docker build -t suitehealth .
#   docker run -p 8000:8000 -v suitehealth-data:/data suitehealth                 # SQLite in a volume
#   docker compose up -d                                                          # PostgreSQL, see docker-compose.yml
# Pinned: the base image by its full version tag, every runtime dependency by deploy/constraints.txt.
FROM python:3.11.7-slim-bookworm

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    SUITEHEALTH_DATABASE_URL=sqlite:////data/suitehealth.db

WORKDIR /app
COPY deploy/constraints.txt ./deploy/constraints.txt
COPY pyproject.toml README.md ./
COPY ingest ./ingest
COPY dashboard ./dashboard
RUN pip install --no-cache-dir -c deploy/constraints.txt . \
    && useradd --system --home /data suitehealth \
    && mkdir -p /data && chown suitehealth /data

USER suitehealth
VOLUME /data
EXPOSE 8000

# Answers only when the app and its database do (/healthz checks the database); no curl in slim images.
HEALTHCHECK --interval=30s --timeout=5s --start-period=30s --retries=3 \
    CMD ["python", "-c", "import sys, urllib.request; sys.exit(urllib.request.urlopen('http://127.0.0.1:8000/healthz', timeout=4).status != 200)"]

# `serve` migrates (safe to repeat), then runs gunicorn with the app's preload, timeouts and worker class,
# and (once it exists in this version) the analysis worker beside it. Exec form: signals reach it directly.
CMD ["suitehealth", "serve", "--host", "0.0.0.0", "--port", "8000"]
