# The reconciler daemon image. Build: docker build -t reconciler .
# Node.js and npm install a Node.js function's dependencies into its package (the Python image's
# pip does the same for Python functions); taken from the official image, same Debian release.
FROM node:20-bookworm-slim AS node

FROM python:3.11-slim AS build
WORKDIR /src
COPY pyproject.toml README.md ./
COPY reconciler ./reconciler
RUN pip install --no-cache-dir --prefix=/install .

FROM python:3.11-slim
ARG PULUMI_VERSION=3.272.0
SHELL ["/bin/bash", "-o", "pipefail", "-c"]
# git: GitPython drives it to read manifests at a commit. The Pulumi CLI: the aws and azure
# engines run it through the Automation API (3.181 or newer).
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
COPY --from=node /usr/local/bin/node /usr/local/bin/node
COPY --from=node /usr/local/lib/node_modules/npm /usr/local/lib/node_modules/npm
RUN ln -s ../lib/node_modules/npm/bin/npm-cli.js /usr/local/bin/npm \
    && node --version && npm --version \
    && mkdir -p /var/lib/reconciler && chown 10001 /var/lib/reconciler
USER 10001
WORKDIR /home/reconciler
ENTRYPOINT ["reconciler"]
CMD ["--help"]
