"""The process tier's code policy: RestrictedPython plus guards, loaded *inside* the runner process.

``sandbox_image/runner.py --policy restricted`` imports this module and calls ``compile_cell(source,
filename)`` (RestrictedPython, Jupyter's split of the last expression) and ``prepare_globals(globals)``
(guarded builtins), after ``confine()`` (Landlock, from ``landlock.py``). It must stay importable without the
rest of the emulator (no pydantic, no settings).

What user code gets:

* **imports** from an allow-list only (the stdlib modules below, plus numpy/pandas/sympy/scipy/matplotlib
  when installed); anything else is an ``ImportError`` naming the tier. Sub-modules for native code, file
  I/O, code generation and test runners are refused even under an allowed package.
* **attributes** through ``guarded_getattr``: no ``_``-prefixed names, no frame/generator/code attributes,
  no value that is a module off the allow-list or that comes from ``os``/``sys``/``io``/``ctypes``/...;
  plus a deny-list of names that reach file I/O, native memory or an evaluator (``eval``, ``query``,
  ``savefig``, ``operator.attrgetter``, ``typing.get_type_hints``, ...).
* ``str.format``/``format_map`` work, but a template whose fields reach attributes (``"{0.__class__}"``)
  is refused: field lookups run in C, out of every guard's reach.
* writes (``a.b = c``, ``setattr``) are refused on modules and on classes the cell did not define.

Libraries that evaluate strings are the weak point of any in-process sandbox: sympy's ``sympify``/
``parse_expr`` and ``lambdify`` call ``eval``/``exec`` on text built from user input, so their modules get
``compile``/``exec``/``eval`` replaced by restricted versions (``_harden_sympy``). This tier is weaker than a
container and says so; the docker tier is the one for untrusted code.
"""

from __future__ import annotations

import ast
import builtins
import collections
import importlib
import importlib.util
import operator
import re
import string
import sys
import types
import weakref
from collections.abc import Callable
from typing import Any

from RestrictedPython import compile_restricted_eval, compile_restricted_exec, safe_builtins
from RestrictedPython.Guards import guarded_iter_unpack_sequence, guarded_unpack_sequence
from RestrictedPython.transformer import INSPECT_ATTRIBUTES, RestrictingNodeTransformer

# the runner calls ``policy.confine()`` (kernel confinement, ``landlock.py``) before it answers
from emulator.sandbox.landlock import confine as confine

TIER = "process-tier sandbox (restricted)"


def _words(text: str) -> frozenset[str]:
    return frozenset(text.split())


STDLIB_MODULES = _words(
    "math cmath fractions decimal statistics itertools functools operator collections re json datetime "
    "time random string textwrap heapq bisect copy pprint enum dataclasses typing numbers base64 hashlib "
    "uuid"
)
OPTIONAL_PACKAGES = ("numpy", "pandas", "sympy", "scipy", "matplotlib")

#: module path components refused under any allowed root: native code, file I/O, code generation, tests
DENIED_SUBMODULES = _words(
    "ctypeslib f2py distutils testing tests conftest io ast_parser interactive matchpy_connector autowrap "
    "codegen runtests stride_tricks"
)
#: attribute names refused on every object: guard bypasses, native memory, file/process I/O, evaluators
DENIED_ATTRIBUTES = _words(
    "attrgetter methodcaller get_type_hints ForwardRef singledispatch singledispatchmethod import_module "
    "ctypes ctypeslib as_strided load_library "
    "load save savez savez_compressed loadtxt savetxt genfromtxt fromfile fromregex tofile dump memmap "
    "open_memmap ExcelFile ExcelWriter HDFStore PdfPages "
    "DataSource savefig imsave imread rc_file switch_backend to_pickle to_csv to_excel to_json "
    "to_parquet to_hdf to_sql to_feather to_stata to_clipboard to_xml to_orc preview init_session "
    "system popen open environ eval query"
)
#: names refused on one module only (elsewhere they are harmless: ``plt.style.use`` is fine)
_DENIED_MODULE_ATTRIBUTES = {"matplotlib": frozenset({"use"}), "string": frozenset({"Formatter"})}
#: where values may come from besides the importable roots: C accelerators and the science stack's
#: own dependencies. A value from anywhere else (os, posix, sys, io, subprocess, ctypes, builtins'
#: eval/exec/open, distutils...) is refused at the attribute access that would reach it.
VALUE_ROOTS = _words(
    "__main__ builtins _operator _functools _collections _collections_abc _heapq _bisect _json _datetime "
    "_pydatetime _random _decimal _pydecimal _statistics _sre _hashlib _sha256 _sha512 _sha1 _md5 _sha3 "
    "_blake2 _uuid _string _struct abc _abc unicodedata binascii mpmath mpl_toolkits dateutil pytz "
    "zoneinfo cycler kiwisolver contourpy pyparsing"
)

_MISSING = object()
_user_classes: weakref.WeakSet[type] = weakref.WeakSet()
_generated_code: weakref.WeakSet[types.CodeType] = weakref.WeakSet()
_allowed_roots: frozenset[str] | None = None


def allowed_roots() -> frozenset[str]:
    """The importable top-level names: the stdlib list plus the optional packages that are installed."""
    global _allowed_roots
    if _allowed_roots is None:
        found = {name for name in OPTIONAL_PACKAGES if importlib.util.find_spec(name) is not None}
        _allowed_roots = STDLIB_MODULES | found
    return _allowed_roots


def module_allowed(name: str) -> bool:
    parts = name.split(".")
    return (
        parts[0] in allowed_roots()
        and not any(part.startswith("_") for part in parts)
        and not any(part in DENIED_SUBMODULES for part in parts)
    )


def _refusal(name: str) -> str:
    return f"import of {name!r} is not allowed in the {TIER}; allowed: {', '.join(sorted(allowed_roots()))}"


def _origin(value: object) -> str | None:
    """The module a value comes from: its own for classes and functions, its owner's type's for bound
    methods (``"".join`` is builtins', ``file.read`` is ``_io``'s), its type's for everything else."""
    if isinstance(value, (type, types.FunctionType)):
        return value.__module__
    if isinstance(value, types.MethodType):
        return getattr(value.__func__, "__module__", None)
    if isinstance(value, types.BuiltinFunctionType):
        owner = value.__self__
        if owner is None or isinstance(owner, types.ModuleType):
            return value.__module__ or getattr(owner, "__name__", None)
        return type(owner).__module__
    return type(value).__module__


def value_allowed(value: object) -> bool:
    """May user code hold ``value``? Only modules on the allow-list and objects from allowed packages."""
    if id(value) in _SAFE_IDS:
        return True
    if isinstance(value, types.ModuleType):
        return module_allowed(value.__name__)
    try:
        origin = _origin(value)
    except Exception:  # an object that cannot say where it is from is refused
        return False
    if not isinstance(origin, str):
        return False
    root = origin.split(".")[0]
    if root == "builtins":  # builtin types, their instances and methods: yes; eval/exec/vars/getattr...: no
        return not (
            isinstance(value, types.BuiltinFunctionType) and isinstance(value.__self__, types.ModuleType)
        )
    return root in VALUE_ROOTS or root in allowed_roots()


def _check_template(template: str) -> str:
    """Refuse ``str.format`` fields that reach attributes; they are resolved in C, past every guard."""
    for _literal, field, spec, _conversion in string.Formatter().parse(template):
        if field is not None and "." in field:
            raise ValueError(f"format field {field!r} reaches an attribute; not allowed in the {TIER}")
        if spec:
            _check_template(spec)
    return template


def _guarded_format(obj: Any, name: str) -> Callable[..., str]:
    if isinstance(obj, collections.UserString) or (
        isinstance(obj, type) and issubclass(obj, (collections.UserString, string.Formatter))
    ):
        raise AttributeError(f"{type(obj).__name__}.{name} is not available in the {TIER}")
    method = getattr(obj, name)
    owner = getattr(method, "__self__", None)
    if isinstance(owner, str):  # "...".format, super().format

        def bound(*args: Any, **kwargs: Any) -> str:
            _check_template(owner)
            return method(*args, **kwargs)

        return bound
    if isinstance(obj, type) and issubclass(obj, str):  # str.format(template, ...)

        def unbound(template: str, *args: Any, **kwargs: Any) -> str:
            return method(_check_template(template), *args, **kwargs)

        return unbound
    if not value_allowed(method):
        raise AttributeError(f"{name!r} is not available in the {TIER}")
    return method


def guarded_getattr(obj: Any, name: str, default: Any = _MISSING) -> Any:
    """``obj.name`` for user code (RestrictedPython's ``_getattr_``, and the ``getattr`` builtin)."""
    if type(name) is not str:
        raise TypeError("attribute name must be a string")
    if name.startswith("_"):
        raise AttributeError(f'"{name}" is an invalid attribute name because it starts with "_"')
    if name in INSPECT_ATTRIBUTES or name in DENIED_ATTRIBUTES or name.startswith("read_"):
        raise AttributeError(f"attribute {name!r} is not available in the {TIER}")
    if isinstance(obj, types.ModuleType) and name in _DENIED_MODULE_ATTRIBUTES.get(obj.__name__, ()):
        raise AttributeError(f"{obj.__name__}.{name} is not available in the {TIER}")
    if isinstance(obj, string.Formatter):
        raise AttributeError(f"string.Formatter is not available in the {TIER}")
    if name in ("format", "format_map"):
        return _guarded_format(obj, name)
    try:
        value = getattr(obj, name)
    except AttributeError:
        if default is _MISSING:
            raise
        return default
    if not value_allowed(value):
        raise AttributeError(f"{name!r} leads outside what the {TIER} allows")
    return value


def guarded_hasattr(obj: Any, name: str) -> bool:
    try:
        guarded_getattr(obj, name)
    except Exception:  # hasattr semantics: any failure means "no"
        return False
    return True


def guarded_write(obj: Any) -> Any:
    """The target of ``obj.x = ...``/``obj[k] = ...``: modules and foreign classes are read-only."""
    if isinstance(obj, types.ModuleType):
        raise TypeError(f"modules are read-only in the {TIER}")
    if isinstance(obj, type) and obj not in _user_classes:
        raise TypeError(f"class {obj.__name__!r} is read-only in the {TIER}")
    if not value_allowed(obj):
        raise TypeError(f"this object is read-only in the {TIER}")
    return obj


def guarded_setattr(obj: Any, name: str, value: Any) -> None:
    if type(name) is not str or name.startswith("_"):
        raise AttributeError(f"cannot set {name!r} in the {TIER}")
    setattr(guarded_write(obj), name, value)


def guarded_delattr(obj: Any, name: str) -> None:
    if type(name) is not str or name.startswith("_"):
        raise AttributeError(f"cannot delete {name!r} in the {TIER}")
    delattr(guarded_write(obj), name)


def guarded_import(
    name: str, globals: Any = None, locals: Any = None, fromlist: Any = (), level: int = 0
) -> types.ModuleType:
    if type(fromlist) is list and not fromlist and level == 0:
        # C code importing for itself (PyImport_Import: datetime.strptime, numpy's lazy imports) looks up
        # ``__import__`` in the running frame's builtins, which are ours; it passes an empty list, user
        # code cannot call this function at all (the name starts with "_")
        return builtins.__import__(name, None, None, fromlist, 0)
    if level != 0:
        raise ImportError(f"relative imports are not allowed in the {TIER}")
    if not isinstance(name, str) or not module_allowed(name):
        raise ImportError(_refusal(str(name)))
    for item in fromlist or ():
        if item.startswith("_") or item in DENIED_SUBMODULES or item in DENIED_ATTRIBUTES:
            raise ImportError(f"cannot import {item!r} from {name!r}: not allowed in the {TIER}")
    module = builtins.__import__(name, None, None, fromlist, 0)
    if name.split(".")[0] == "sympy":
        _harden_sympy()
    for item in fromlist or ():  # ``from x import y`` reads y with a raw getattr: check it here
        try:
            guarded_getattr(sys.modules[name], item)
        except AttributeError as exc:
            raise ImportError(f"cannot import {item!r} from {name!r}: {exc}") from None
    return module


def safe_type(obj: object, *rest: object) -> type:
    if rest:
        raise TypeError(f"type() with three arguments is not available in the {TIER}; use a class statement")
    return type(obj)


class _ClassFactory:
    """``__metaclass__`` for RestrictedPython's class statements: the real metaclass, remembered as the
    cell's own (``__prepare__`` delegates, so ``enum.Enum`` subclasses work)."""

    @staticmethod
    def _meta(bases: tuple[type, ...]) -> type:
        winner: type = type
        for base in bases:
            meta = type(base)
            if issubclass(meta, winner):
                winner = meta
            elif not issubclass(winner, meta):
                raise TypeError("metaclass conflict among the bases")
        return winner

    def __prepare__(self, name: str, bases: tuple[type, ...], **kwargs: Any) -> Any:
        return self._meta(bases).__prepare__(name, bases, **kwargs)

    def __call__(self, name: str, bases: tuple[type, ...], namespace: Any, **kwargs: Any) -> type:
        cls = self._meta(bases)(name, bases, namespace, **kwargs)
        _user_classes.add(cls)
        return cls


class _StdoutPrinter:
    """``_print_``: RestrictedPython routes ``print`` here; output goes to the captured stdout."""

    def __init__(self, _getattr_: object = None) -> None:
        pass

    def _call_print(self, *objects: object, **kwargs: Any) -> None:
        if kwargs.get("file") is not None:
            guarded_getattr(kwargs["file"], "write")
        print(*objects, **kwargs)

    def __call__(self) -> str:  # the ``printed`` name: nothing is collected, it all went to stdout
        return ""


_INPLACE = {
    "+=": operator.iadd, "-=": operator.isub, "*=": operator.imul, "/=": operator.itruediv,
    "//=": operator.ifloordiv, "%=": operator.imod, "**=": operator.ipow, "<<=": operator.ilshift,
    ">>=": operator.irshift, "&=": operator.iand, "^=": operator.ixor, "|=": operator.ior,
    "@=": operator.imatmul,
}  # fmt: skip

_EXTRA_BUILTINS = _words(
    "sum min max sorted enumerate zip map filter reversed list dict set frozenset tuple any all iter next "
    "object super bytes bytearray format bin ascii property staticmethod classmethod NotImplemented "
    "RecursionError ModuleNotFoundError StopAsyncIteration TimeoutError PermissionError "
    "FileNotFoundError"
)

SAFE_BUILTINS: dict[str, Any] = dict(safe_builtins)
SAFE_BUILTINS.update({name: getattr(builtins, name) for name in _EXTRA_BUILTINS})
SAFE_BUILTINS.update(
    {
        "getattr": guarded_getattr,
        "hasattr": guarded_hasattr,
        "setattr": guarded_setattr,
        "delattr": guarded_delattr,
        "type": safe_type,
        "dir": dir,
        "__import__": guarded_import,
        "__metaclass__": _ClassFactory(),
        "_getattr_": guarded_getattr,
        "_write_": guarded_write,
        "_getitem_": operator.getitem,
        "_getiter_": iter,
        "_iter_unpack_sequence_": guarded_iter_unpack_sequence,
        "_unpack_sequence_": guarded_unpack_sequence,
        "_inplacevar_": lambda op, x, y: _INPLACE[op](x, y),
        "_apply_": lambda func, *args, **kwargs: func(*args, **kwargs),
        "_print_": _StdoutPrinter,
        "_print": _StdoutPrinter(),
    }
)
_SAFE_IDS = frozenset(id(value) for value in (*SAFE_BUILTINS.values(), print))

TRACEBACK_HIDDEN_FILES = frozenset({__file__, sys.modules[guarded_unpack_sequence.__module__].__file__ or ""})


def _restricted(compiler: Callable[..., Any], node: ast.AST, filename: str, policy: type) -> types.CodeType:
    result = compiler(node, filename, policy=policy)
    if result.errors:
        raise SyntaxError("\n".join(result.errors))
    return result.code


class CellPolicy(RestrictingNodeTransformer):
    """RestrictedPython's policy plus annotated assignments (``x: int = 1``, dataclass fields): the
    annotation and the target go through the same guards as any expression."""

    def visit_AnnAssign(self, node: ast.AnnAssign) -> ast.AST:
        if isinstance(node.target, ast.Name):
            self.check_name(node, node.target.id)
        return self.node_contents_visit(node)


def compile_cell(source: str, filename: str = "<cell>") -> tuple[types.CodeType, types.CodeType | None]:
    """RestrictedPython with Jupyter's split: the cell's body, then its last statement if an expression."""
    tree = ast.parse(source, filename, "exec")
    last = None
    if tree.body and isinstance(tree.body[-1], ast.Expr):
        last = ast.Expression(tree.body[-1].value)
        tree.body.pop()
    body = _restricted(compile_restricted_exec, tree, filename, CellPolicy)
    tail = _restricted(compile_restricted_eval, last, filename, CellPolicy) if last else None
    return body, tail


def prepare_globals(namespace: dict[str, Any]) -> None:
    namespace["__builtins__"] = SAFE_BUILTINS
    namespace["__name__"] = "__main__"


# --- libraries that evaluate generated source (sympy) -------------------------------------------------


class _GeneratedCodePolicy(CellPolicy):
    """Generated code names things ``_lambdifygenerated``/``_Dummy_12``: single-underscore *names* pass,
    dunder names and every attribute guard stay."""

    def check_name(self, node: Any, name: str | None, allow_magic_methods: bool = False) -> None:
        if name is not None and name.startswith("_") and not name.startswith("__"):
            return
        super().check_name(node, name, allow_magic_methods)


_PLAIN_IMPORT = re.compile(
    r"\s*(?:import\s+([\w.]+)(?:\s+as\s+\w+)?|from\s+([\w.]+)\s+import\s+[\w*,\s]+)\s*"
)


def _is_plain_import(source: str) -> bool:
    """``exec("from mpmath import *", ...)``: the only trusted strings (lambdify builds namespaces so).

    Imports of modules off the allow-list raise ``ImportError``, which lambdify expects of a missing one.
    """
    modules = []
    for statement in re.split(r"[;\n]", source):
        if statement.strip():
            match = _PLAIN_IMPORT.fullmatch(statement)
            if match is None:
                return False
            modules.append(match.group(1) or match.group(2))
    for module in modules:
        if module.split(".")[0] not in allowed_roots() | {"mpmath"}:
            raise ImportError(_refusal(module))
    return bool(modules)


def _generated_compile(
    source: Any, filename: str = "<generated>", mode: str = "exec", *_: Any, **__: Any
) -> Any:
    compiler = compile_restricted_eval if mode == "eval" else compile_restricted_exec
    code = _restricted(compiler, source, filename, _GeneratedCodePolicy)
    _generated_code.add(code)
    return code


def _allowed_items(namespace: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in namespace.items() if k not in DENIED_ATTRIBUTES and value_allowed(v)}


def _generated_run(mode: str) -> Callable[..., Any]:
    real = exec if mode == "exec" else eval

    def run(source: Any, globals: dict[str, Any] | None = None, locals: dict[str, Any] | None = None) -> Any:
        if isinstance(source, str) and mode == "exec" and _is_plain_import(source):
            return real(source, {} if globals is None else globals, locals)
        if isinstance(source, types.CodeType) and source not in _generated_code:
            raise RuntimeError(f"running code not compiled by the sandbox is not allowed in the {TIER}")
        code = (
            source if isinstance(source, types.CodeType) else _generated_compile(source, "<generated>", mode)
        )
        shared = {} if globals is None else globals
        # a sanitized copy: the caller's dict may be the user's own, never hand it the builtins
        namespace = {**_allowed_items(shared), "__builtins__": SAFE_BUILTINS}
        if locals is not None:
            for key in set(locals) - set(_allowed_items(locals)):
                del locals[key]
        try:
            return real(code, namespace, namespace if locals is None else locals)
        finally:
            for key, value in namespace.items():  # what the code defined, e.g. MYNEWLAMBDA
                if key != "__builtins__" and shared.get(key, _MISSING) is not value:
                    shared[key] = value

    return run


_HARDENED = ("sympy.parsing.sympy_parser", "sympy.utilities.lambdify", "sympy.plotting.experimental_lambdify")


def _harden_sympy() -> None:
    """Give sympy's string-evaluating modules restricted ``compile``/``exec``/``eval`` (module globals
    shadow builtins), so ``sympify("__import__('os')")`` or a crafted ``Symbol`` name in ``lambdify`` runs
    under the same guards as a cell."""
    for name in _HARDENED:
        module = importlib.import_module(name)
        if module.__dict__.get("compile") is not _generated_compile:
            module.__dict__.update(
                compile=_generated_compile, exec=_generated_run("exec"), eval=_generated_run("eval")
            )
