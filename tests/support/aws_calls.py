"""Which AWS API operations each Lambda handler can reach, read from the project's source (no import, no AWS).

A small static call graph over the project packages: from a handler function, follow calls to functions imported or
defined in the project (``f()``, ``module.f()``, ``Class()`` -> ``Class.__init__``, ``self.m()``), and calls or
property reads ``obj.name`` to every project method or property of that name (the receiver's type is not known, so
this over-approximates: a handler may appear to reach a little more than it does, never less). Every reached call
``x.<operation>(...)`` whose name is a boto3 client method of one of ``SERVICES``, and every
``get_paginator("<operation>")``, is an API call; ``ALIASES`` adds wrappers outside the project that call AWS
(Powertools' ``parameters.get_secret``).

A client handed to another function keeps its service: ``f(client(session, "sagemaker", ...))`` makes ``f``'s
parameter a SageMaker client (followed through further calls), so ``sm.get_model_package_group_policy()`` in a
module that makes no client of its own is still a SageMaker call. An operation chosen at run time on such a client
(``sm.get_paginator(kind.list_op)``, ``getattr(sm, kind.describe_op)``) stands for every string constant of the
module that names an operation of that service (the tables the name is picked from).
"""

from __future__ import annotations

import ast
from collections import defaultdict
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path

import botocore.session
from botocore import xform_name

REPO = Path(__file__).resolve().parents[2]
# Import name -> folder: the stage folders install under the aispm namespace (aispm/<stage> links to them).
PACKAGES = {"aispm": "aispm", "aispm.collectors": "collectors", "aispm.normalizer": "normalizer",
            "aispm.rules": "rules", "aispm.sinks": "sinks"}
# The services whose grants the tests derive from the code: boto3 service name -> IAM prefix. The first six are the
# stack's own resources; AWS_READ_SERVICES are what the AWS collector reads in the scanned accounts.
SERVICES = {"dynamodb": "dynamodb", "sqs": "sqs", "securityhub": "securityhub", "s3": "s3", "kms": "kms",
            "secretsmanager": "secretsmanager"}
AWS_READ_SERVICES = {"sagemaker": "sagemaker", "iam": "iam", "resourcegroupstaggingapi": "tag",
                     "organizations": "organizations", "sts": "sts", "ec2": "ec2", "account": "account"}
SERVICES.update(AWS_READ_SERVICES)
# Calls into libraries that call AWS themselves.
ALIASES = {"aws_lambda_powertools.utilities.parameters.get_secret": ("secretsmanager", "GetSecretValue")}


# TransactWriteItems is authorized per entry: {"Put": ...} needs dynamodb:PutItem, and so on.
TRANSACT_ENTRIES = ("Put", "Update", "Delete", "ConditionCheck")


@dataclass(frozen=True)
class Call:
    service: str     # boto3 service name
    operation: str   # API operation, e.g. SendMessageBatch
    where: str       # module:line
    entries: tuple[str, ...] = ()   # TransactWriteItems: the entry kinds the module builds


@dataclass
class _Def:
    qualname: str                       # module.func or module.Class.method
    module: str
    cls: str | None
    node: ast.AST
    is_property: bool = False
    edges: set[str] = field(default_factory=set)          # qualnames
    by_name: set[str] = field(default_factory=set)        # attribute names called/read on unknown receivers
    calls: list[Call] = field(default_factory=list)
    clients: dict[str, str] = field(default_factory=dict)  # parameter or local name -> service of the client it holds

    @property
    def params(self) -> list[str]:
        """Positional parameters as a caller passes them (without self/cls)."""
        args = self.node.args  # type: ignore[attr-defined]
        names = [a.arg for a in args.posonlyargs + args.args]
        static = any(getattr(dec, "id", "") == "staticmethod" for dec in self.node.decorator_list)  # type: ignore[attr-defined]
        return names[1:] if self.cls and not static else names


@cache
def operations() -> dict[str, dict[str, str]]:
    """snake_case client method -> {service: OperationName} for ``SERVICES``."""
    session = botocore.session.get_session()
    out: dict[str, dict[str, str]] = defaultdict(dict)
    for service in SERVICES:
        for op in session.get_service_model(service).operation_names:
            out[xform_name(op)][service] = op
    return dict(out)


def _module_name(package: str, folder: Path, path: Path) -> str:
    parts = [package, *path.relative_to(folder).with_suffix("").parts]
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


# Never in a function (scripts/build_lambda.py prunes them): the demo and the local fakes.
NOT_SHIPPED = ("aispm/demo", "aispm/testing")


def _sources(folder: Path) -> list[Path]:
    """The package's own files, not those under a link to another stage's folder (aispm/collectors) nor the
    demo and the local fakes, which no function contains."""
    return [p for p in sorted(folder.rglob("*.py"))
            if not any(d.is_symlink() for d in p.parents if folder in d.parents)
            and not any(p.relative_to(folder.parent).as_posix().startswith(f"{n}/") for n in NOT_SHIPPED)]


def _imports(tree: ast.Module) -> dict[str, str]:
    """Local name -> qualified name, for every import in the module (lazy imports in functions included).
    The project imports absolutely only; a relative import is left unresolved (and so never followed)."""
    names: dict[str, str] = {}
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for a in node.names:
                names[a.asname or a.name.split(".")[0]] = a.name if a.asname else a.name.split(".")[0]
        elif isinstance(node, ast.ImportFrom) and not node.level:
            for a in node.names:
                names[a.asname or a.name] = f"{node.module}.{a.name}"
    return names


def _client_call_service(node: ast.AST) -> str | None:
    """The service of ``x.client("svc", ...)`` or ``client(session, "svc", ...)``, else None."""
    if not isinstance(node, ast.Call):
        return None
    name = node.func.attr if isinstance(node.func, ast.Attribute) else getattr(node.func, "id", "")
    if name != "client":
        return None
    for arg in node.args[:2]:
        if isinstance(arg, ast.Constant) and arg.value in SERVICES:
            return str(arg.value)
    return None


def _client_services(tree: ast.Module) -> set[str]:
    """Services this module makes clients of: ``x.client("svc", ...)`` or ``client(session, "svc", ...)``."""
    found = set()
    for node in ast.walk(tree):
        if not isinstance(node, ast.Call):
            continue
        name = node.func.attr if isinstance(node.func, ast.Attribute) else getattr(node.func, "id", "")
        if name != "client":
            continue
        for arg in node.args[:2]:
            if isinstance(arg, ast.Constant) and isinstance(arg.value, str):
                found.add(arg.value)
    return found


def _tokens(node: ast.AST) -> set[str]:
    """Names and attribute names along a receiver expression (``store.client`` -> {store, client})."""
    out = set()
    for sub in ast.walk(node):
        if isinstance(sub, ast.Name):
            out.add(sub.id.lower())
        elif isinstance(sub, ast.Attribute):
            out.add(sub.attr.lower())
    return out


def _strings(tree: ast.Module) -> set[str]:
    return {node.value for node in ast.walk(tree) if isinstance(node, ast.Constant) and isinstance(node.value, str)}


def _dict_keys(tree: ast.Module) -> set[str]:
    return {k.value for node in ast.walk(tree) if isinstance(node, ast.Dict)
            for k in node.keys if isinstance(k, ast.Constant) and isinstance(k.value, str)}


class Graph:
    def __init__(self, root: Path = REPO, packages: dict[str, str] | tuple[str, ...] = PACKAGES) -> None:
        if isinstance(packages, tuple):   # packages whose import name is their folder's
            packages = {p: p for p in packages}
        self.defs: dict[str, _Def] = {}
        self.methods: dict[str, set[str]] = defaultdict(set)   # method/property name -> qualnames
        self.classes: set[str] = set()
        self.ambiguous: list[str] = []
        self._entries: tuple[str, ...] = ()
        trees = {}
        for package, folder in packages.items():
            for path in _sources(root / folder):
                module = _module_name(package, root / folder, path)
                tree = ast.parse(path.read_text(), filename=str(path))
                trees[module] = tree
                self._collect_defs(module, tree)
        self._imports = {module: _imports(tree) for module, tree in trees.items()}
        self._locals = {module: {} for module in trees}
        for q in list(self.defs) + sorted(self.classes):
            module, name = q.rsplit(".", 1)
            if module in self._locals:
                self._locals[module][name] = q
        self._strings = {module: _strings(tree) for module, tree in trees.items()}
        self._pass_clients()
        for module, tree in trees.items():
            imports = self._imports[module]
            services = _client_services(tree)
            self._entries = tuple(k for k in TRANSACT_ENTRIES if k in _dict_keys(tree))
            for d in [d for d in self.defs.values() if d.module == module]:
                self._scan(d, imports, services)

    def _collect_defs(self, module: str, tree: ast.Module) -> None:
        for node in tree.body:
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                self.defs[f"{module}.{node.name}"] = _Def(f"{module}.{node.name}", module, None, node)
            elif isinstance(node, ast.ClassDef):
                self.classes.add(f"{module}.{node.name}")
                for item in node.body:
                    if isinstance(item, ast.FunctionDef | ast.AsyncFunctionDef):
                        q = f"{module}.{node.name}.{item.name}"
                        prop = any(getattr(dec, "id", getattr(dec, "attr", "")) in {"property", "cached_property"}
                                   for dec in item.decorator_list)
                        self.defs[q] = _Def(q, module, node.name, item, is_property=prop)
                        self.methods[item.name].add(q)

    def _target(self, qualified: str) -> set[str]:
        if qualified in self.defs:
            return {qualified}
        if qualified in self.classes:
            return {q for q in (f"{qualified}.__init__", f"{qualified}.__post_init__") if q in self.defs}
        return set()

    def _callees(self, d: _Def, func: ast.AST) -> set[str]:
        """The project functions a call of ``func`` in ``d`` resolves to: ``f()``, ``module.f()``, ``self.m()``."""
        imports = self._imports[d.module]
        if isinstance(func, ast.Name):
            return self._target(self._locals[d.module].get(func.id) or imports.get(func.id, ""))
        if isinstance(func, ast.Attribute) and isinstance(func.value, ast.Name):
            if func.value.id in imports:
                return self._target(f"{imports[func.value.id]}.{func.attr}")
            if func.value.id in {"self", "cls"} and d.cls:
                own = f"{d.module}.{d.cls}.{func.attr}"
                return {own} if own in self.defs else set()
        return set()

    def _pass_clients(self) -> None:
        """Which parameters (and locals) hold a client of which service, up to a fixed point: a local assigned
        ``client(..., "svc", ...)``, or a parameter some call passes such a client, parameter or local to."""
        for d in self.defs.values():
            for node in ast.walk(d.node):
                if isinstance(node, ast.Assign) and len(node.targets) == 1 and isinstance(node.targets[0], ast.Name):
                    service = _client_call_service(node.value)
                    if service:
                        d.clients[node.targets[0].id] = service
        calls = [(d, node) for d in self.defs.values() for node in ast.walk(d.node) if isinstance(node, ast.Call)]
        changed = True
        while changed:
            changed = False
            for d, node in calls:
                passed = [(i, None, a) for i, a in enumerate(node.args)]
                passed += [(None, k.arg, k.value) for k in node.keywords]
                for position, keyword, arg in passed:
                    service = self._known_client(d, arg)
                    if not service:
                        continue
                    for callee in self._callees(d, node.func):
                        target = self.defs[callee]
                        params = target.params
                        name = keyword if keyword in params else (
                            params[position] if position is not None and position < len(params) else None)
                        if name and target.clients.get(name) != service:
                            target.clients[name] = service
                            changed = True

    def _known_client(self, d: _Def, node: ast.AST) -> str | None:
        if isinstance(node, ast.Name):
            return d.clients.get(node.id)
        return _client_call_service(node)

    def _dynamic(self, d: _Def, service: str, where: str) -> None:
        """An operation of ``service`` picked at run time: every operation the module's string constants name."""
        ops = operations()
        for text in sorted(self._strings[d.module]):
            op = ops.get(text, {}).get(service)
            if op:
                d.calls.append(Call(service, op, where))

    def _scan(self, d: _Def, imports: dict[str, str], services: set[str]) -> None:
        local = self._locals[d.module]
        for node in ast.walk(d.node):
            if isinstance(node, ast.Call):
                self._call(d, node, imports, services, local)
            elif (isinstance(node, ast.Attribute) and isinstance(node.ctx, ast.Load)
                  and any(self.defs[q].is_property for q in self.methods.get(node.attr, ()))):
                d.by_name.add(node.attr)

    def _call(self, d: _Def, node: ast.Call, imports: dict[str, str], services: set[str],
              local: dict[str, str]) -> None:
        func = node.func
        where = f"{d.module}:{node.lineno}"
        if isinstance(func, ast.Name) and func.id == "getattr" and len(node.args) >= 2:
            service = self._known_client(d, node.args[0])
            if service:
                name_arg = node.args[1]
                if isinstance(name_arg, ast.Constant) and isinstance(name_arg.value, str):
                    op = operations().get(name_arg.value, {}).get(service)
                    if op:
                        d.calls.append(Call(service, op, where))
                else:
                    self._dynamic(d, service, where)
                return
        if isinstance(func, ast.Name):
            qualified = local.get(func.id) or imports.get(func.id, "")
            d.edges |= self._target(qualified)
            if qualified in ALIASES:
                d.calls.append(Call(*ALIASES[qualified], where))
            return
        if not isinstance(func, ast.Attribute):
            return
        name = func.attr
        if isinstance(func.value, ast.Name) and func.value.id in imports:
            qualified = f"{imports[func.value.id]}.{name}"
            if qualified in ALIASES:
                d.calls.append(Call(*ALIASES[qualified], where))
                return
            if self._target(qualified):
                d.edges |= self._target(qualified)
                return
        if isinstance(func.value, ast.Name) and func.value.id in {"self", "cls"} and d.cls:
            own = f"{d.module}.{d.cls}.{name}"
            if own in self.defs:
                d.edges.add(own)
                return
        if name in self.methods:
            d.by_name.add(name)
        operation = name
        if name == "get_paginator" and node.args and isinstance(node.args[0], ast.Constant):
            operation = str(node.args[0].value)
        known = self._known_client(d, func.value)
        if known:   # a client whose service is known: only that service's operations
            if name == "get_paginator" and node.args and not isinstance(node.args[0], ast.Constant):
                self._dynamic(d, known, where)
            elif op := operations().get(operation, {}).get(known):
                d.calls.append(Call(known, op, where, self._entries if op == "TransactWriteItems" else ()))
            return
        # A client method name on a receiver that is (or names) a client of that service: ``self.client.x()``,
        # ``s3().x()``, or any call in a module that makes clients of the service. Same-named methods of other
        # objects (pydantic's ``SecretStr.get_secret_value()``, a JWT signer's ``sign()``) are not API calls.
        receiver = _tokens(func.value)
        candidates = {s: op for s, op in operations().get(operation, {}).items()
                      if s in services or s in receiver or any("client" in t for t in receiver)}
        if len(candidates) > 1:
            narrowed = {s: op for s, op in candidates.items() if s in services}
            if len(narrowed) != 1:
                self.ambiguous.append(f"{where}: .{operation}() is an operation of {sorted(candidates)}")
                return
            candidates = narrowed
        if not candidates:
            return
        ((service, op),) = candidates.items()
        d.calls.append(Call(service, op, where, self._entries if op == "TransactWriteItems" else ()))

    def reachable(self, entry: str) -> set[str]:
        seen: set[str] = set()
        todo = [entry]
        while todo:
            q = todo.pop()
            if q in seen or q not in self.defs:
                continue
            seen.add(q)
            d = self.defs[q]
            todo.extend(d.edges)
            for name in d.by_name:
                todo.extend(self.methods.get(name, ()))
        return seen

    def calls_from(self, entry: str) -> list[Call]:
        assert entry in self.defs, f"{entry} is not a function of the project"
        return [c for q in sorted(self.reachable(entry)) for c in self.defs[q].calls]

    def all_calls(self) -> list[Call]:
        return [c for d in self.defs.values() for c in d.calls]


@cache
def graph() -> Graph:
    return Graph()
