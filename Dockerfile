# The reconciler daemon image. Build: docker build -t reconciler .
FROM python:3.11-slim AS build
WORKDIR /src
COPY pyproject.toml README.md ./
COPY reconciler ./reconciler
RUN pip install --no-cache-dir --prefix=/install .

FROM python:3.11-slim
ARG PULUMI_VERSION=3.272.0
SHELL ["/bin/bash", "-o", "pipefail", "-c"]
# git: GitPython drives it to read manifests at a commit. The Pulumi CLI: the aws and azure
# engines run it through the Automation API (3.181 or newer). Node.js is only needed by the
# local cloud, which has no place in a cluster, so the image leaves it out.
RUN apt-get update \
    && apt-get install --yes --no-install-recommends git ca-certificates curl \
    && curl -fsSL "https://get.pulumi.com/releases/sdk/pulumi-v${PULUMI_VERSION}-linux-x64.tar.gz" \
       | tar -xz -C /opt \
    && apt-get purge --yes curl && apt-get autoremove --yes \
    && rm -rf /var/lib/apt/lists/* \
    && useradd --create-home --uid 10001 reconciler
ENV PATH="/opt/pulumi:${PATH}" \
    PYTHONUNBUFFERED=1 \
    PULUMI_SKIP_UPDATE_CHECK=true \
    RECONCILER_STATE_DIR=/var/lib/reconciler
COPY --from=build /install /usr/local
RUN mkdir -p /var/lib/reconciler && chown 10001 /var/lib/reconciler
USER 10001
WORKDIR /home/reconciler
ENTRYPOINT ["reconciler"]
CMD ["--help"]
