# One image for every Tethra process; compose.yaml picks the command
# (`tethra init --no-demo` to migrate, `tethra serve`, `tethra worker`).
# Build: docker build -t tethra:latest .   (or `docker compose build`)

# --- build: a wheel of the project and its pinned dependencies ---------------------------
FROM python:3.11-slim AS build
ENV PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1
WORKDIR /src
COPY pyproject.toml README.md ./
COPY foundation ./foundation
COPY tethra ./tethra
COPY agents ./agents
COPY graph ./graph
COPY tools ./tools
COPY policies ./policies
COPY approvals ./approvals
COPY audit ./audit
COPY api ./api
COPY evals ./evals
RUN pip wheel --wheel-dir /wheels .

# --- runtime: the wheels only, as an unprivileged user ------------------------------------
FROM python:3.11-slim
ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 TETHRA_LOG_FORMAT=json
COPY --from=build /wheels /wheels
RUN pip install --no-index --find-links=/wheels tethra && rm -rf /wheels \
    && useradd --create-home --uid 10001 tethra
USER tethra
WORKDIR /home/tethra
EXPOSE 8000
# Liveness for `docker run`; compose.yaml probes /readyz on the api service instead.
HEALTHCHECK --interval=30s --timeout=5s --start-period=20s \
    CMD python -c "import urllib.request as u; u.urlopen('http://127.0.0.1:8000/healthz', timeout=4)" || exit 1
CMD ["tethra", "serve", "--host", "0.0.0.0", "--port", "8000"]
