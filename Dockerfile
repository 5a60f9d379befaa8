# The reconciler daemon image. Build: docker build -t reconciler .
FROM python:3.11-slim AS build
WORKDIR /src
COPY pyproject.toml README.md ./
COPY reconciler ./reconciler
RUN pip install --no-cache-dir --prefix=/install .

FROM python:3.11-slim
# git: GitPython drives the git binary to read manifests at a commit.
RUN apt-get update \
    && apt-get install --yes --no-install-recommends git \
    && rm -rf /var/lib/apt/lists/* \
    && useradd --create-home --uid 10001 reconciler
COPY --from=build /install /usr/local
USER 10001
WORKDIR /home/reconciler
ENV PYTHONUNBUFFERED=1
ENTRYPOINT ["reconciler"]
CMD ["--help"]
