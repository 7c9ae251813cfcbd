# syntax=docker/dockerfile:1
# One image for every service; the command picks it: `hpp gateway|worker|ui|train`.
# Build: docker build -t house-price-predictor .

# ---- build: resolve and install the project into a self-contained venv
FROM python:3.11-slim-bookworm AS build
ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PYTHONDONTWRITEBYTECODE=1
RUN python -m venv /opt/venv
ENV PATH="/opt/venv/bin:${PATH}"
WORKDIR /src
COPY pyproject.toml README.md ./
COPY core/ core/
COPY audit/ audit/
COPY hpp/ hpp/
COPY ml/ ml/
COPY gateway/ gateway/
COPY jobs/ jobs/
COPY workers/ workers/
COPY webui/ webui/
COPY observability/ observability/
# Linux resolves xgboost-cpu (no CUDA/NCCL wheels); every dependency ships a wheel,
# so no compiler is needed here either.
RUN pip install --no-cache-dir --only-binary=:all: . \
    && find /opt/venv -name "__pycache__" -type d -prune -exec rm -rf {} +

# ---- runtime: the venv, the training data and config, a non-root user, nothing else
FROM python:3.11-slim-bookworm AS runtime
LABEL org.opencontainers.image.title="house-price-predictor" \
      org.opencontainers.image.description="House Price Predictor: gateway, worker, UI and trainer" \
      org.opencontainers.image.licenses="MIT"
RUN groupadd --system --gid 10001 hpp \
    && useradd --system --uid 10001 --gid hpp --home-dir /tmp --no-create-home \
       --shell /usr/sbin/nologin hpp \
    && mkdir -p /mlflow /data \
    && chown hpp:hpp /mlflow /data
COPY --from=build /opt/venv /opt/venv
COPY --chmod=755 infra/docker/healthcheck.py /usr/local/bin/hpp-healthcheck
WORKDIR /app
COPY data/house_data.csv data/house_data.csv
COPY ml/config.yaml ml/config.yaml
# HOME and the state folder sit on /tmp: the root filesystem runs read-only.
ENV PATH="/opt/venv/bin:${PATH}" \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    HOME=/tmp \
    HPP_STATE_DIR=/tmp/hpp \
    HPP_LOG_FORMAT=json
# Fargate seeds a task's scratch volume from the image's VOLUME (mode 1777), so the
# non-root user can write /tmp while the root filesystem stays read-only.
VOLUME ["/tmp"]
USER 10001:10001
EXPOSE 8000 8501
HEALTHCHECK --interval=30s --timeout=5s --start-period=90s --retries=3 CMD ["hpp-healthcheck"]
ENTRYPOINT ["hpp"]
CMD ["gateway"]
