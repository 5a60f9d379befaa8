"""What every Azure deployment shares: names, tags, options, the environment and role grants.

Used by `azure.py`, `azure_functions.py`, `azure_pubsub.py` and `azure_apim.py`, inside a
Pulumi run (the environment is resolved before it). Pulumi logical names all start with the
deployment's name, so a stack never holds two; Azure names that must be globally unique carry a
short hash of the deployment, its location and its resource group.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping
from typing import Any

import pulumi
from pulumi_azure_native import authorization

from reconciler.domain.values import DeploymentSpec, Revision, Runtime

TAG_DEPLOYMENT = "reconciler-deployment"
TAG_REVISION = "reconciler-revision"
"""Azure tag names cannot hold `:`, so these differ from the AWS tags in that one character."""

STORAGE_BLOB_DATA_READER = "2a2b9908-6ea1-4ae2-8e65-a410df84e7d1"
STORAGE_BLOB_DATA_OWNER = "b7e6dc6d-f1e8-4753-8033-0f276bb0955b"
WEB_PUBSUB_SERVICE_OWNER = "12cf5a90-567b-43ae-8102-96cf46c7d9b4"
"""Built-in role definition ids: the same GUIDs in every subscription."""

RUNTIME_STACKS: dict[Runtime, tuple[str, str]] = {
    Runtime.PYTHON_3_11: ("python", "3.11"),
    Runtime.PYTHON_3_12: ("python", "3.12"),
    Runtime.PYTHON_3_13: ("python", "3.13"),
    Runtime.NODEJS_20: ("node", "20"),
    Runtime.NODEJS_22: ("node", "22"),
}
"""Each runtime as Functions names it: worker runtime and version (`PYTHON|3.11`, `NODE|20`)."""

_ALNUM = re.compile(r"[^a-z0-9]+")


def logical_name(deployment: str, part: str) -> str:
    """A Pulumi logical name: the deployment's name, then what the resource is."""
    return f"{deployment}-{part}"


def azure_options(spec: DeploymentSpec) -> Mapping[str, Any]:
    """The manifest's `spec.azure` block (camelCase keys), empty when it has none."""
    options = spec.provider_options.get("azure")
    return options if isinstance(options, Mapping) else {}


def deployment_tags(spec: DeploymentSpec, revision: Revision) -> dict[str, str]:
    """Tags for every taggable resource: the labels, then ours, which a label cannot override."""
    return {**dict(spec.labels), TAG_DEPLOYMENT: spec.name, TAG_REVISION: revision.sha}


def unique_suffix(spec: DeploymentSpec, *, resource_group: str) -> str:
    """8 hex characters, stable for one deployment in one place, to keep global names apart."""
    key = f"{spec.name}/{spec.region}/{resource_group}"
    return hashlib.sha256(key.encode()).hexdigest()[:8]


def storage_account_name(spec: DeploymentSpec, *, suffix: str) -> str:
    """3-24 lowercase letters and digits, globally unique: `st`, the name, then the suffix."""
    return f"st{_ALNUM.sub('', spec.name.lower())[:14]}{suffix}"


def hub_name(spec: DeploymentSpec) -> str:
    """A Web PubSub hub name: letters, digits and `_`, starting with a letter."""
    return re.sub(r"[^A-Za-z0-9_]", "_", spec.name)


def role_definition_id(scope_id: pulumi.Output[str], role: str) -> pulumi.Output[str]:
    """The subscription-scoped id of a built-in role, read from any resource id in it.

    Read from a resource id instead of a client-config invoke: no call at run time, and the
    subscription form is what Azure echoes back, so a refresh sees no drift.
    """
    return scope_id.apply(
        lambda rid: (
            f"/subscriptions/{rid.split('/')[2]}/providers/Microsoft.Authorization"
            f"/roleDefinitions/{role}"
        )
    )


def grant(
    name: str,
    *,
    principal_id: pulumi.Output[str],
    role: str,
    scope: pulumi.Output[str],
    description: str,
) -> authorization.RoleAssignment:
    """Give a managed identity one built-in role on one scope.

    `principal_type` is set so Azure does not look the new identity up in Entra ID, which can
    fail for a few minutes after it is made (replication delay).
    """
    return authorization.RoleAssignment(
        name,
        principal_id=principal_id,
        principal_type=authorization.PrincipalType.SERVICE_PRINCIPAL,
        role_definition_id=role_definition_id(scope, role),
        scope=scope,
        description=description,
    )
