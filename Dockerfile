# One image for the API and the worker; compose.yaml picks the command.
FROM python:3.11-slim
ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 PIP_NO_CACHE_DIR=1
WORKDIR /app
COPY pyproject.toml README.md ./
COPY tethra ./tethra
COPY agents ./agents
COPY graph ./graph
COPY tools ./tools
COPY policies ./policies
COPY approvals ./approvals
COPY audit ./audit
COPY api ./api
COPY evals ./evals
RUN pip install . && useradd --create-home tethra
USER tethra
CMD ["tethra", "--help"]
