# suitehealth dashboard + upload API.
#   docker build -t suitehealth .
#   docker run -p 8000:8000 -v suitehealth-data:/data suitehealth
# PostgreSQL: -e SUITEHEALTH_DATABASE_URL=postgresql://user:pass@host/db
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    SUITEHEALTH_DATABASE_URL=sqlite:////data/suitehealth.db

WORKDIR /app
COPY pyproject.toml README.md ./
COPY ingest ./ingest
COPY dashboard ./dashboard
RUN pip install --no-cache-dir . && useradd --system --home /data suitehealth \
    && mkdir -p /data && chown suitehealth /data

USER suitehealth
VOLUME /data
EXPOSE 8000

# Migrate first (safe to repeat), then hand the process over to gunicorn.
CMD suitehealth db upgrade && exec gunicorn --bind 0.0.0.0:8000 --workers "${WEB_CONCURRENCY:-4}" \
    --access-logfile - "dashboard:create_app()"
