"""Turn a validated manifest into the domain's `DeploymentSpec`."""

from __future__ import annotations

from pathlib import PurePosixPath

from reconciler.domain import values
from reconciler.manifest import schema


def to_spec(manifest: schema.Manifest, *, source: PurePosixPath) -> values.DeploymentSpec:
    """Build the spec; `source` is the function folder, already resolved in the repository."""
    spec = manifest.spec
    if isinstance(manifest, schema.RestApiManifest):
        kind = values.ApiKind.REST
        rest_routes = tuple(values.RestRoute.parse(key) for key in manifest.spec.routes)
        gateway = values.ApiGateway(
            kind=kind,
            routes=rest_routes,
            stage=spec.stage,
            cors=_cors(manifest.spec.cors),
        )
    else:
        kind = values.ApiKind.WEBSOCKET
        gateway = values.ApiGateway(
            kind=kind,
            routes=tuple(values.WebSocketRoute.parse(key) for key in manifest.spec.routes),
            stage=spec.stage,
            route_selection_expression=manifest.spec.route_selection_expression,
        )
    return values.DeploymentSpec(
        name=manifest.metadata.name,
        kind=kind,
        provider=spec.provider,
        function=_function(spec.function, source=source),
        gateway=gateway,
        region=spec.region or spec.location,
        labels=tuple(sorted(manifest.metadata.labels.items())),
        health_check=_health_check(spec.health_check),
        policy=values.Policy(
            suspend=spec.policy.suspend,
            prune=spec.policy.prune,
            drift=spec.policy.drift,
            auto_rollback=spec.policy.auto_rollback,
        ),
        provider_options=_provider_options(spec),
    )


def _function(function: schema.Function, *, source: PurePosixPath) -> values.ServerlessFunction:
    environment: list[tuple[str, values.EnvValue]] = []
    for name, value in sorted(function.environment.items()):
        if isinstance(value, schema.SecretRef):
            environment.append((name, values.SecretRef(value.secret_ref)))
        else:
            environment.append((name, value))
    return values.ServerlessFunction(
        runtime=function.runtime,
        handler=function.handler,
        source=str(source),
        memory_mb=function.memory_mb,
        timeout_seconds=function.timeout_seconds,
        environment=tuple(environment),
    )


def _cors(cors: schema.Cors | None) -> values.Cors | None:
    if cors is None:
        return None
    return values.Cors(
        allow_origins=tuple(cors.allow_origins),
        allow_methods=tuple(cors.allow_methods),
        allow_headers=tuple(cors.allow_headers),
        expose_headers=tuple(cors.expose_headers),
        allow_credentials=cors.allow_credentials,
        max_age_seconds=cors.max_age_seconds,
    )


def _health_check(check: schema.HealthCheck | None) -> values.HealthCheck | None:
    if check is None:
        return None
    return values.HealthCheck(path=check.path, expect_status=check.expect_status)


def _provider_options(spec: schema.RestSpec | schema.WebSocketSpec) -> dict[str, object]:
    blocks = {"aws": spec.aws, "azure": spec.azure, "local": spec.local}
    return {
        name: block.model_dump(mode="json", by_alias=True, exclude_none=True)
        for name, block in blocks.items()
        if block is not None
    }
