"""Over-privilege analysis (AISPM-IAM-001) for each cloud's identity form."""

from __future__ import annotations

import pytest

from aispm.normalizer.schema import Identity, PolicyStatement, RoleAssignment
from aispm.rules.identity import IdentityVerdicts, privileged_grants


def aws(*stmts: PolicyStatement) -> Identity:
    return Identity(uid="arn:aws:iam::1:role/r", provider="aws", kind="aws_role", account="1", statements=stmts)


def allow(actions: tuple[str, ...] = (), resources: tuple[str, ...] = ("*",), **kw: object) -> PolicyStatement:
    return PolicyStatement(policy="p", effect="Allow", actions=actions, resources=resources, **kw)  # type: ignore[arg-type]


@pytest.mark.parametrize(("stmt", "expected"), [
    (allow(("*",)), "*:* on *"),
    (allow(("*:*",)), "*:* on *"),
    (allow(("iam:*",), ("arn:aws:iam::1:role/x",)), "iam:*"),
    (allow(("iam:PassRole",)), "iam:PassRole on *"),
    (allow(("iam:Pass*",)), "iam:PassRole on *"),
    (allow(("sts:AssumeRole",)), "sts:AssumeRole on *"),
    (allow(("s3:*",)), "s3:* on *"),
    (allow(not_actions=("iam:*",)), "sts:AssumeRole on *"),
])
def test_aws_privileged(stmt: PolicyStatement, expected: str) -> None:
    assert any(g.startswith(expected) for g in privileged_grants(aws(stmt)))


@pytest.mark.parametrize("stmt", [
    allow(("s3:GetObject", "s3:PutObject")),
    allow(("s3:*",), ("arn:aws:s3:::bucket/*",)),
    allow(("iam:PassRole",), ("arn:aws:iam::1:role/only",)),
    allow(("*",), conditional=True),
    PolicyStatement(policy="p", effect="Deny", actions=("*",), resources=("*",)),
])
def test_aws_not_privileged(stmt: PolicyStatement) -> None:
    assert privileged_grants(aws(stmt)) == []


OWNER = "/subscriptions/s/providers/Microsoft.Authorization/roleDefinitions/8e3af657-a8ff-443c-a75c-2fe8c4bcb635"
READER = "/subscriptions/s/providers/Microsoft.Authorization/roleDefinitions/acdd72a7-3385-48ef-bd42-f606fba81ae7"


@pytest.mark.parametrize(("role", "scope", "privileged"), [
    (OWNER, "/subscriptions/s", True),
    (OWNER.upper(), "/subscriptions/s/resourceGroups/rg", True),
    (OWNER, "/providers/Microsoft.Management/managementGroups/mg", True),
    (OWNER, "/", True),
    (OWNER, "/subscriptions/s/resourceGroups/rg/providers/Microsoft.Storage/storageAccounts/sa", False),
    (READER, "/subscriptions/s", False),
])
def test_azure_roles(role: str, scope: str, privileged: bool) -> None:
    ident = Identity(uid="p", provider="azure", kind="azure_principal", account="s",
                     role_assignments=(RoleAssignment(role_definition_id=role, scope=scope),))
    assert bool(privileged_grants(ident)) is privileged


def test_gcp_roles_and_default_account() -> None:
    base = {"uid": "sa", "provider": "gcp", "kind": "gcp_service_account", "account": "p"}
    assert privileged_grants(Identity(**base, project_roles=("roles/editor",))) == ["roles/editor on the project"]
    assert privileged_grants(Identity(**base, default_compute_account=True))
    assert privileged_grants(Identity(**base, project_roles=("roles/aiplatform.user",))) == []


def test_verdicts_are_computed_once_per_identity() -> None:
    ident = aws(allow(("*",)))
    verdicts = IdentityVerdicts({ident.uid: ident})
    first = verdicts.grants(ident)
    assert verdicts.grants(ident) is first
