"""Rules that span several manifest fields, each reported against the one field it is about."""

from __future__ import annotations

import posixpath
from collections.abc import Iterator
from pathlib import PurePosixPath

from reconciler.domain.values import Provider
from reconciler.manifest.schema import AzureOptions, Manifest, RestApiManifest
from reconciler.manifest.yamlnodes import FieldPath

Violation = tuple[FieldPath, str]

_PROVIDER_FIELDS: dict[str, Provider] = {
    "region": Provider.AWS,
    "location": Provider.AZURE,
    "aws": Provider.AWS,
    "azure": Provider.AZURE,
    "local": Provider.LOCAL,
}


def resolve_source(location: PurePosixPath, source: str) -> PurePosixPath | None:
    """The repository-relative folder `source` names, or None when it leaves the repository."""
    if posixpath.isabs(source):
        return None
    joined = posixpath.normpath(posixpath.join(str(location.parent), source))
    if joined == ".." or joined.startswith("../"):
        return None
    return PurePosixPath(joined)


def violations(manifest: Manifest) -> Iterator[Violation]:
    """Yield every cross-field rule `manifest` breaks."""
    spec = manifest.spec
    provider = spec.provider
    for name, owner in _PROVIDER_FIELDS.items():
        if getattr(spec, name) is not None and provider is not owner:
            yield ("spec", name), f"applies to provider {owner} only, not {provider}"
    if provider is Provider.AWS and spec.region is None:
        yield ("spec", "region"), "provider aws needs a region, such as eu-west-1"
    if provider is Provider.AZURE and spec.location is None:
        yield ("spec", "location"), "provider azure needs a location, such as westeurope"
    seen: set[str] = set()
    for index, route in enumerate(spec.routes):
        if route in seen:
            yield ("spec", "routes", index), f"route {route!r} is listed twice"
        seen.add(route)
    if spec.azure is not None:
        yield from _apim_violations(spec.azure)
    cors = manifest.spec.cors if isinstance(manifest, RestApiManifest) else None
    if cors is not None and cors.allow_credentials and "*" in cors.allow_origins:
        yield (
            ("spec", "cors", "allowCredentials"),
            "browsers refuse credentials with allowOrigins '*'; list the origins instead",
        )


def _apim_violations(azure: AzureOptions) -> Iterator[Violation]:
    apim = azure.apim
    if apim is None:
        return
    if azure.gateway != "apim":
        yield ("spec", "azure", "apim"), "applies with gateway: apim only"
    if apim.auth == "jwt" and apim.jwt is None:
        yield (
            ("spec", "azure", "apim", "auth"),
            "auth jwt needs a jwt block (openidConfigUrl, audiences)",
        )
    if apim.jwt is not None and apim.auth != "jwt":
        yield ("spec", "azure", "apim", "jwt"), "applies with auth: jwt only"
