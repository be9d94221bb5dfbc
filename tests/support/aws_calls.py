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
module that makes no client of its own is still a SageMaker call. So does a dict of clients keyed by client name
(``clients["bedrock"] = client(...)``): ``clients["bedrock"]`` is a Bedrock client, and ``clients.get(kind.client)``
a client of any service the dict holds. An operation chosen at run time (``api.get_paginator(kind.list_op)``,
``getattr(api, kind.describe_op)``) on a client of known services, or else of every service whose clients the
module makes, stands for every operation of those services named by a string the module or a project module it
imports from (the kind tables) holds or builds: constants, and names that helpers build from them
(``"describe_" + list_op.removeprefix("list_")``, evaluated per call site). A built name the scan cannot evaluate
that could name another operation of the service is reported in ``ambiguous``, which the tests require empty.
"""

from __future__ import annotations

import ast
import contextlib
import re
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path

import botocore.session
from botocore import xform_name

REPO = Path(__file__).resolve().parents[2]
# Import name -> folder: the stage folders install under the aispm namespace (aispm/<stage> links to them).
PACKAGES = {"aispm": "aispm", "aispm.collectors": "collectors", "aispm.normalizer": "normalizer",
            "aispm.rules": "rules", "aispm.sinks": "sinks"}
# The services whose grants the tests derive from the code: boto3 service name -> IAM prefix. STACK_SERVICES are the
# stack's own resources; AWS_READ_SERVICES are what the AWS collector reads in the scanned accounts. S3 is both: the
# results bucket, and the buckets AI assets use (s3control, the account's public access block, has IAM prefix s3 too).
STACK_SERVICES = {"dynamodb": "dynamodb", "sqs": "sqs", "securityhub": "securityhub", "s3": "s3", "kms": "kms",
                  "secretsmanager": "secretsmanager"}
AWS_READ_SERVICES = {"sagemaker": "sagemaker", "bedrock": "bedrock", "bedrock-agent": "bedrock", "iam": "iam",
                     "resourcegroupstaggingapi": "tag", "organizations": "organizations", "sts": "sts", "ec2": "ec2",
                     "account": "account", "s3": "s3", "s3control": "s3", "cloudtrail": "cloudtrail"}
SERVICES = {**STACK_SERVICES, **AWS_READ_SERVICES}
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
    clients: dict[str, frozenset[str]] = field(default_factory=dict)  # parameter or local -> services of its client
    tables: dict[str, dict[str | None, frozenset[str]]] = field(default_factory=dict)  # ... of a dict of clients

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


def _holder(node: ast.AST) -> str:
    """The name that holds (or makes) a receiver: ``self.client`` -> client, ``s3()`` -> s3, ``x[0]`` -> x."""
    while isinstance(node, ast.Call | ast.Subscript):
        node = node.func if isinstance(node, ast.Call) else node.value
    return (node.attr if isinstance(node, ast.Attribute) else getattr(node, "id", "")).lower()


def _tokens(node: ast.AST) -> set[str]:
    """Names and attribute names along a receiver expression (``store.client`` -> {store, client})."""
    out = set()
    for sub in ast.walk(node):
        if isinstance(sub, ast.Name):
            out.add(sub.id.lower())
        elif isinstance(sub, ast.Attribute):
            out.add(sub.attr.lower())
    return out


def _dict_keys(tree: ast.Module) -> set[str]:
    return {k.value for node in ast.walk(tree) if isinstance(node, ast.Dict)
            for k in node.keys if isinstance(k, ast.Constant) and isinstance(k.value, str)}


# ------------------------------------------------------------------ strings a module can build

class _Unknown(Exception):
    """The expression's value is not known without running the program."""


_COMPREHENSIONS = (ast.GeneratorExp, ast.ListComp)


def _str_method(node: ast.AST) -> str | None:
    """``x.<name>(...)`` where ``name`` is a method of str (all of them are pure), else None."""
    if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and not node.func.attr.startswith("_") \
            and callable(getattr(str, node.func.attr, None)):
        return node.func.attr
    return None


def _evaluate(node: ast.AST, env: dict[str, object]) -> object:
    """The value of a string expression built from constants and known names: concatenation, f-strings, str
    methods, ``str()``, conditional expressions and one-loop comprehensions. Anything else is _Unknown."""
    if isinstance(node, ast.Constant):
        return node.value
    if isinstance(node, ast.Name):
        if node.id in env:
            return env[node.id]
        raise _Unknown
    if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Add):
        left, right = _evaluate(node.left, env), _evaluate(node.right, env)
        if isinstance(left, str) and isinstance(right, str):
            return left + right
        raise _Unknown
    if isinstance(node, ast.JoinedStr):
        return "".join(_evaluate(v, env) if isinstance(v, ast.FormattedValue) else str(_evaluate(v, env))
                       for v in node.values)  # type: ignore[misc]
    if isinstance(node, ast.FormattedValue):
        value = _evaluate(node.value, env)
        if node.conversion != -1 or node.format_spec is not None or not isinstance(value, str):
            raise _Unknown
        return value
    if isinstance(node, ast.IfExp):
        return _evaluate(node.body if _evaluate(node.test, env) else node.orelse, env)
    if isinstance(node, ast.Tuple | ast.List):
        return [_evaluate(e, env) for e in node.elts]
    if isinstance(node, _COMPREHENSIONS) and len(node.generators) == 1:
        gen = node.generators[0]
        items = _evaluate(gen.iter, env)
        if gen.is_async or not isinstance(gen.target, ast.Name) or not isinstance(items, str | list):
            raise _Unknown
        out = []
        for item in items:
            inner = {**env, gen.target.id: item}
            if all(_evaluate(cond, inner) for cond in gen.ifs):
                out.append(_evaluate(node.elt, inner))
        return out
    if isinstance(node, ast.Call) and not node.keywords and not any(isinstance(a, ast.Starred) for a in node.args):
        if isinstance(node.func, ast.Name) and node.func.id == "str" and len(node.args) == 1:
            value = _evaluate(node.args[0], env)
            if isinstance(value, str):
                return value
        elif name := _str_method(node):
            receiver = _evaluate(node.func.value, env)  # type: ignore[attr-defined]
            args = [_evaluate(a, env) for a in node.args]
            if isinstance(receiver, str) and all(isinstance(a, str | int | list) for a in args):
                try:
                    return getattr(receiver, name)(*args)
                except (TypeError, ValueError) as exc:
                    raise _Unknown from exc
    raise _Unknown


def _builds_string(node: ast.AST) -> bool:
    return (isinstance(node, ast.JoinedStr) or (isinstance(node, ast.BinOp) and isinstance(node.op, ast.Add))
            or _str_method(node) is not None)


def _pattern(node: ast.AST, env: dict[str, object]) -> str:
    """A regular expression every value of the expression matches; a part not known is ``.*``."""
    try:
        value = _evaluate(node, env)
        return re.escape(value) if isinstance(value, str) else ".*"
    except _Unknown:
        pass
    if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Add):
        return _pattern(node.left, env) + _pattern(node.right, env)
    if isinstance(node, ast.JoinedStr):
        return "".join(_pattern(v, env) for v in node.values)
    if isinstance(node, ast.FormattedValue) and node.conversion == -1 and node.format_spec is None:
        return _pattern(node.value, env)
    return ".*"


def _stores(node: ast.AST) -> list[str]:
    """Every name bound anywhere inside ``node``: assignments, loop and comprehension targets, parameters of nested
    functions and lambdas, imports, ``except ... as``."""
    out: list[str] = []
    for sub in ast.walk(node):
        if isinstance(sub, ast.Name) and isinstance(sub.ctx, ast.Store | ast.Del):
            out.append(sub.id)
        elif isinstance(sub, ast.arg):
            out.append(sub.arg)
        elif isinstance(sub, ast.alias):
            out.append(sub.asname or sub.name.split(".")[0])
        elif isinstance(sub, ast.ExceptHandler | ast.MatchAs | ast.MatchStar) and sub.name:
            out.append(sub.name)
        elif isinstance(sub, ast.Global | ast.Nonlocal):
            out.extend(sub.names)
        elif isinstance(sub, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef) and sub is not node:
            out.append(sub.name)
    return out


class _Strings:
    """What the string expressions of one module can evaluate to, without running it.

    Every concatenation, f-string and str-method call is evaluated in each context its scope runs in: a
    module-level function used only by direct calls in its own module runs once per call site, with the arguments
    known there (and the parameter defaults), and an ``if`` whose test is then known runs one branch; every other
    function, and one called nowhere (an entry point), runs with its parameters unknown. A name is known only where
    its scope binds it once. An expression that stays unknown is kept as a pattern (``describe_.*``), so that an
    operation it could name is reported rather than missed.
    """

    def __init__(self, module: str, tree: ast.Module, imported_elsewhere: set[str]) -> None:
        self.values = {node.value for node in ast.walk(tree)
                       if isinstance(node, ast.Constant) and isinstance(node.value, str)}
        self.patterns: list[tuple[str, str]] = []   # (regular expression, module:line)
        self._module = module
        self._module_env: dict[str, object] = {}
        functions = {n.name: n for n in tree.body if isinstance(n, ast.FunctionDef | ast.AsyncFunctionDef)}
        called = {id(n.func) for n in ast.walk(tree) if isinstance(n, ast.Call)}
        loose = {n.id for n in ast.walk(tree) if isinstance(n, ast.Name) and n.id in functions and id(n) not in called}
        self._closed = {name: f for name, f in functions.items()
                        if name not in loose and not f.decorator_list
                        and not {module, f"{module}.{name}", f"{module}.*"} & imported_elsewhere}
        self._contexts: dict[str, dict[str, dict[str, object]]] = {name: {} for name in self._closed}
        self._todo: list[tuple[ast.FunctionDef | ast.AsyncFunctionDef, dict[str, object]]] = []
        module_stores = Counter(_stores(tree))
        for stmt in tree.body:   # module level first, so that functions see every module-level name
            if isinstance(stmt, ast.FunctionDef | ast.AsyncFunctionDef):
                if stmt.name not in self._closed:
                    self._todo.append((stmt, {}))
            elif isinstance(stmt, ast.ClassDef):
                env = self._without(self._module_env, _stores(stmt))
                for item in stmt.body:
                    if isinstance(item, ast.FunctionDef | ast.AsyncFunctionDef):
                        self._todo.append((item, {}))
                    else:
                        self._walk(item, env)
            else:
                self._walk(stmt, self._module_env)
                self._bind(stmt, self._module_env, module_stores)
        while True:
            while self._todo:
                self._function(*self._todo.pop())
            # Called nowhere (so far): an entry point called from outside, or dead code; its calls may add contexts.
            uncalled = [name for name in self._closed if not self._contexts[name]]
            if not uncalled:
                break
            for name in uncalled:
                self._contexts[name]["{}"] = {}
                self._todo.append((self._closed[name], {}))

    @staticmethod
    def _without(env: dict[str, object], names: list[str]) -> dict[str, object]:
        return {k: v for k, v in env.items() if k not in set(names)}

    @staticmethod
    def _bind(stmt: ast.stmt, env: dict[str, object], stores: Counter[str]) -> None:
        """Keep ``name = <known value>`` when the scope binds ``name`` nowhere else."""
        if isinstance(stmt, ast.Assign | ast.AnnAssign) and stmt.value is not None:
            targets = stmt.targets if isinstance(stmt, ast.Assign) else [stmt.target]
            if len(targets) == 1 and isinstance(targets[0], ast.Name) and stores[targets[0].id] == 1:
                with contextlib.suppress(_Unknown):
                    env[targets[0].id] = _evaluate(stmt.value, env)

    def _function(self, node: ast.FunctionDef | ast.AsyncFunctionDef, bound: dict[str, object]) -> None:
        stores = Counter(_stores(node))
        args = node.args  # type: ignore[attr-defined]
        params = {a.arg for a in args.posonlyargs + args.args + args.kwonlyargs}
        env = self._without(self._module_env, list(stores))
        env.update({k: v for k, v in bound.items() if k in params and stores[k] == 1})   # 1: the parameter itself
        for stmt in node.body:  # type: ignore[attr-defined]
            self._walk(stmt, env)
            self._bind(stmt, env, stores)

    def _walk(self, node: ast.AST, env: dict[str, object], fold: bool = True) -> None:
        if isinstance(node, ast.If):
            try:
                taken = node.body if _evaluate(node.test, env) else node.orelse
            except _Unknown:
                taken = node.body + node.orelse
            self._walk(node.test, env)
            for stmt in taken:
                self._walk(stmt, env)
            return
        if fold and _builds_string(node):
            try:
                value = _evaluate(node, env)
                if isinstance(value, str):
                    self.values.add(value)
            except _Unknown:
                self.patterns.append((_pattern(node, env), f"{self._module}:{getattr(node, 'lineno', 0)}"))
            fold = False   # its parts are no values of their own
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id in self._closed:
            self._call_site(node, env)
        for child in ast.iter_child_nodes(node):
            self._walk(child, env, fold)

    def _call_site(self, call: ast.Call, env: dict[str, object]) -> None:
        """Queue the called function once per distinct set of known arguments."""
        func = self._closed[call.func.id]  # type: ignore[attr-defined]
        args = func.args  # type: ignore[attr-defined]
        positional = [a.arg for a in args.posonlyargs + args.args]
        bound: dict[str, object] = {}
        splat = any(isinstance(a, ast.Starred) for a in call.args) or any(k.arg is None for k in call.keywords)
        given = [(positional[i], a) for i, a in enumerate(call.args[:len(positional)])
                 if not any(isinstance(b, ast.Starred) for b in call.args[:i + 1])]
        given += [(k.arg, k.value) for k in call.keywords if k.arg is not None]
        for name, value in given:
            with contextlib.suppress(_Unknown):
                bound[name] = _evaluate(value, env)
        if not splat:
            names = [a.arg for a in args.kwonlyargs]
            defaults = list(zip(positional[len(positional) - len(args.defaults):], args.defaults, strict=True))
            defaults += [(n, d) for n, d in zip(names, args.kw_defaults, strict=True) if d is not None]
            for name, default in defaults:
                if name not in dict(given):
                    with contextlib.suppress(_Unknown):
                        bound[name] = _evaluate(default, self._module_env)
        contexts = self._contexts[call.func.id]  # type: ignore[attr-defined]
        key = repr(sorted(bound.items()))
        if key not in contexts:
            if len(contexts) >= 1000:   # a recursion that keeps building new arguments: run it with none known
                bound, key = {}, "{}"
                if key in contexts:
                    return
            contexts[key] = bound
            self._todo.append((func, bound))


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
        imported = {q for names in self._imports.values() for q in names.values()} | {
            a.name for tree in trees.values() for node in ast.walk(tree) if isinstance(node, ast.Import)
            for a in node.names}
        self._strings = {module: _Strings(module, tree, imported) for module, tree in trees.items()}
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
        """Which parameters and locals hold a client of which services, or a dict of clients (service names as keys),
        up to a fixed point: a local assigned ``client(..., "svc", ...)``, a dict of such clients or a member of one
        (``clients["svc"]``, ``clients.get(kind.client)``: any member), ``clients["svc"] = client(...)``, or a
        parameter some call passes any of these to. A name that may hold clients of several services stands for
        each of them."""
        assigns = [(d, node) for d in self.defs.values() for node in ast.walk(d.node)
                   if isinstance(node, ast.Assign) and len(node.targets) == 1]
        calls = [(d, node) for d in self.defs.values() for node in ast.walk(d.node) if isinstance(node, ast.Call)]
        changed = True
        while changed:
            changed = False
            for d, node in assigns:
                target = node.targets[0]
                if isinstance(target, ast.Name):
                    changed |= self._hold(d, target.id, node.value)
                elif isinstance(target, ast.Subscript) and isinstance(target.value, ast.Name):
                    services = self._known_client(d, node.value)
                    key = target.slice.value if isinstance(target.slice, ast.Constant) else None
                    changed |= self._merge(d.tables.setdefault(target.value.id, {}) if services else {}, key, services)
            for d, node in calls:
                passed = [(i, None, a) for i, a in enumerate(node.args)]
                passed += [(None, k.arg, k.value) for k in node.keywords]
                for position, keyword, arg in passed:
                    if not self._known_client(d, arg) and not self._known_table(d, arg):
                        continue
                    for callee in self._callees(d, node.func):
                        target_def = self.defs[callee]
                        params = target_def.params
                        name = keyword if keyword in params else (
                            params[position] if position is not None and position < len(params) else None)
                        if name:
                            changed |= self._hold(target_def, name, arg, d)

    def _hold(self, d: _Def, name: str, value: ast.AST, source: _Def | None = None) -> bool:
        """Let ``name`` in ``d`` also hold what ``value`` (an expression in ``source``, default ``d``) holds."""
        source = source or d
        changed = False
        services = self._known_client(source, value)
        if services and not services <= d.clients.get(name, frozenset()):
            d.clients[name] = d.clients.get(name, frozenset()) | services
            changed = True
        for key, members in self._known_table(source, value).items():
            changed |= self._merge(d.tables.setdefault(name, {}), key, members)
        return changed

    @staticmethod
    def _merge(table: dict[str | None, frozenset[str]], key: str | None, services: frozenset[str]) -> bool:
        if not services or services <= table.get(key, frozenset()):
            return False
        table[key] = table.get(key, frozenset()) | services
        return True

    def _known_table(self, d: _Def, node: ast.AST) -> dict[str | None, frozenset[str]]:
        """The clients of a dict of clients, by key (None: a key not known before run time)."""
        if isinstance(node, ast.Name):
            return d.tables.get(node.id, {})
        if isinstance(node, ast.Dict):
            table: dict[str | None, frozenset[str]] = {}
            for key, value in zip(node.keys, node.values, strict=True):
                services = self._known_client(d, value) if key is not None else frozenset()
                if services:
                    self._merge(table, key.value if isinstance(key, ast.Constant) else None, services)  # type: ignore[union-attr]
            return table
        return {}

    def _known_client(self, d: _Def, node: ast.AST) -> frozenset[str]:
        """The services of the client ``node`` evaluates to (empty: no client known)."""
        if isinstance(node, ast.Name):
            return d.clients.get(node.id, frozenset())
        if service := _client_call_service(node):
            return frozenset({service})
        table, key = None, None
        if isinstance(node, ast.Subscript):
            table, key = self._known_table(d, node.value), node.slice
        elif (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr == "get"
              and node.args):
            table, key = self._known_table(d, node.func.value), node.args[0]
        if not table:
            return frozenset()
        if isinstance(key, ast.Constant):
            return table.get(key.value, frozenset()) | table.get(None, frozenset())
        return frozenset().union(*table.values())

    def _dynamic(self, d: _Def, services: frozenset[str], where: str) -> None:
        """An operation of ``services`` picked at run time: every operation named by a string the module, or a
        project module it imports from, can build (``_Strings``). A string expression left unknown there that could
        name one of the other operations of the service is reported in ``ambiguous``."""
        ops = operations()
        modules = self._string_sources(d.module)
        texts = set().union(*(self._strings[m].values for m in modules))
        for service in sorted(services):
            found = {text for text in texts if service in ops.get(text, {})}
            d.calls.extend(Call(service, ops[text][service], where) for text in sorted(found))
            for m in modules:
                for pattern, at in self._strings[m].patterns:
                    if not re.search(r"[A-Za-z]", pattern.replace(".*", "")):
                        continue   # no letter of its own: nothing names an operation unless a known string does
                    missed = sorted(ops[t][service] for t in ops if service in ops[t] and t not in found
                                    and re.fullmatch(pattern, t))
                    if missed:
                        self.ambiguous.append(f"{where}: a run-time operation of {service} may be built at {at} "
                                              f"({pattern}), e.g. {missed[:3]}")

    def _string_sources(self, module: str) -> list[str]:
        """The module and the project modules it imports from (following a re-exported name to where it is made)."""
        out = [module]
        for qualified in self._imports[module].values():
            seen: set[str] = set()
            while qualified not in seen:
                seen.add(qualified)
                owner, _, name = qualified.rpartition(".")
                if qualified in self._strings:   # import of a whole module
                    out.append(qualified)
                elif owner in self._strings:
                    out.append(owner)
                    qualified = self._imports[owner].get(name, qualified)
        return list(dict.fromkeys(out))

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
            known = self._known_client(d, node.args[0])
            name_arg = node.args[1]
            if known and isinstance(name_arg, ast.Constant) and isinstance(name_arg.value, str):
                d.calls.extend(Call(s, op, where) for s, op in sorted(operations().get(name_arg.value, {}).items())
                               if s in known)
                return
            if not isinstance(name_arg, ast.Constant):
                # On a client of services not known here, in a module making clients: any of those services.
                self._dynamic(d, known or frozenset(services & SERVICES.keys()), where)
                if known:
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
        if name == "get_paginator" and node.args and not isinstance(node.args[0], ast.Constant):
            self._dynamic(d, known or frozenset(services & SERVICES.keys()), where)
            return
        if known:   # a client whose services are known: only their operations
            for service, op in sorted(operations().get(operation, {}).items()):
                if service in known:
                    d.calls.append(Call(service, op, where, self._entries if op == "TransactWriteItems" else ()))
            return
        # A client method name on a receiver that is (or names) a client of that service: ``self.client.x()``,
        # ``s3().x()``, or any call in a module that makes clients of the service. Same-named methods of other
        # objects (pydantic's ``SecretStr.get_secret_value()``, a JWT signer's ``sign()``, what a Google client
        # bundle returns: ``self.clients.projects().get_project()``) are not API calls.
        receiver = _tokens(func.value)
        holder = _holder(func.value)
        candidates = {s: op for s, op in operations().get(operation, {}).items()
                      if s in services or s in receiver or "client" in holder}
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
