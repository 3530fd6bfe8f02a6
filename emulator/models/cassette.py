"""Cassettes: readable YAML (or JSON) scripts of model turns, replayed by the ``scripted`` backend.

A cassette is what a model said in one or more turns: per inference (a *step*) its reasoning, then either
code to run or the answer. Execution is real (the loop runs the code in the sandbox) unless the step pins
its ``output``. The typed loader fails loudly, naming the file and the field, on anything malformed::

    # power-single-step.yaml
    description: 123**21 in one execution
    steps:
      - reasoning: I will compute 123 to the power of 21 with Python.
        code: 123**21
        usage: {input_tokens: 312, output_tokens: 28, reasoning_tokens: 12}   # optional
        latency_ms: 150                                                      # optional, before the step
      - reasoning: The interpreter returned the exact value.
        answer: 123^21 = 77269364466549865653073473388030061522211723.

``steps`` is one turn; ``turns: [{steps: [...]}, ...]`` scripts a conversation (the n-th user message of the
transcript gets the n-th turn; a one-turn cassette answers every turn). ``reasoning`` and ``answer`` may be
lists of strings: then each string is one streamed delta (recordings keep the upstream's chunking). A step
may pin ``output: {stdout, stderr, result, images, error: {name, message, traceback}, reset}``; then the
sandbox is not run. ``faults`` takes the same spec as the ``x-emulator-fault`` header.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from emulator.core.errors import EmulatorError, ModelFailed
from emulator.models.faults import parse_faults
from emulator.sandbox.base import ExecError, ExecResult

NAME_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$")
CASSETTE_SUFFIXES = (".yaml", ".yml", ".json")


class CassetteError(ValueError):
    """A cassette is malformed (bad YAML/JSON, unknown field, wrong type, impossible step)."""


class CassetteExhausted(ModelFailed):
    """A replay asked the cassette for a step or a turn it does not have (500, never worth a retry)."""

    retryable = False


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class PinnedError(_Strict):
    name: str = Field(min_length=1)
    message: str = ""
    traceback: str = ""


class PinnedOutput(_Strict):
    """A fixed execution result: the loop reports it instead of running the sandbox."""

    stdout: str = ""
    stderr: str = ""
    result: str | None = None
    images: list[str] = Field(default_factory=list)  # base64 PNGs
    error: PinnedError | None = None
    reset: bool = False

    def to_exec_result(self) -> ExecResult:
        error = None
        if self.error is not None:
            error = ExecError(self.error.name, self.error.message, self.error.traceback)
        return ExecResult(
            stdout=self.stdout,
            stderr=self.stderr,
            result=self.result,
            images=tuple(self.images),
            error=error,
            reset=self.reset,
        )


class TokenUsage(_Strict):
    input_tokens: int = Field(ge=0)
    output_tokens: int = Field(ge=0)
    reasoning_tokens: int = Field(default=0, ge=0)


class Step(_Strict):
    """One inference: reasoning, then an answer or code (optionally with a pinned output).

    ``answer`` together with ``code`` is text the model streamed before its call (some models narrate).
    """

    reasoning: str | list[str] = ""
    code: str | None = None
    output: PinnedOutput | None = None
    answer: str | list[str] | None = None
    usage: TokenUsage | None = None
    latency_ms: float = Field(default=0.0, ge=0)  # before the step's first output
    delta_ms: float = Field(default=0.0, ge=0)  # between the step's streamed deltas

    @model_validator(mode="after")
    def _output_needs_code(self) -> Step:
        if self.output is not None and self.code is None:
            raise ValueError("`output` pins the result of `code`; this step has no code")
        return self


class Turn(_Strict):
    prompt: str | None = None  # the user message this turn answered (for readers; not checked)
    steps: list[Step] = Field(min_length=1)


class Cassette(_Strict):
    version: Literal[1] = 1
    name: str | None = None  # default: the file name without its suffix
    description: str = ""
    model: str | None = None  # the model that was recorded, if any (informational)
    faults: str | None = None  # fault spec applied to every replay (see models/faults.py)
    steps: list[Step] | None = None  # shorthand for a single turn
    turns: list[Turn] | None = None

    @field_validator("name")
    @classmethod
    def _valid_name(cls, name: str | None) -> str | None:
        if name is not None and not NAME_PATTERN.match(name):
            raise ValueError("names are letters, digits, '.', '_' and '-' (e.g. power-single-step)")
        return name

    @field_validator("faults")
    @classmethod
    def _valid_faults(cls, spec: str | None) -> str | None:
        if spec is not None:
            try:
                parse_faults(spec)
            except EmulatorError as exc:
                raise ValueError(exc.message) from None
        return spec

    @model_validator(mode="after")
    def _steps_or_turns(self) -> Cassette:
        if (self.steps is None) == (self.turns is None):
            raise ValueError("a cassette has either `steps` (one turn) or `turns`, exactly one of them")
        if self.steps is not None and not self.steps:
            raise ValueError("`steps` is empty")
        if self.turns is not None and not self.turns:
            raise ValueError("`turns` is empty")
        return self

    @property
    def all_turns(self) -> list[Turn]:
        return list(self.turns) if self.turns is not None else [Turn(steps=list(self.steps or []))]

    def step_for(self, turn_index: int, step_index: int) -> Step:
        """The step to replay; raises ``CassetteExhausted`` when the cassette has none."""
        turns = self.all_turns
        if len(turns) == 1:
            turn_index = 0  # a one-turn cassette answers every turn
        if turn_index >= len(turns):
            raise CassetteExhausted(
                f"Cassette '{self.name}' ran out of turns: it has {len(turns)} and this is turn "
                f"{turn_index + 1} of the conversation."
            )
        steps = turns[turn_index].steps
        if step_index >= len(steps):
            raise CassetteExhausted(
                f"Cassette '{self.name}' ran out of steps: turn {turn_index + 1} has {len(steps)} "
                f"and the model was asked for step {step_index + 1}."
            )
        return steps[step_index]

    def summary(self) -> dict[str, Any]:
        turns = self.all_turns
        return {
            "name": self.name,
            "description": self.description,
            "turns": len(turns),
            "steps": sum(len(t.steps) for t in turns),
            "executions": sum(1 for t in turns for s in t.steps if s.code is not None),
            "faults": self.faults,
        }


def _describe(exc: ValidationError) -> str:
    problems = []
    for error in exc.errors():
        where = ".".join(str(part) for part in error["loc"]) or "cassette"
        problems.append(f"{where}: {error['msg']}")
    return "; ".join(problems)


def parse_cassette(data: Any, *, name: str | None = None, source: str = "<cassette>") -> Cassette:
    """A validated cassette from already-decoded YAML/JSON; ``name`` fills in a missing ``name``."""
    if not isinstance(data, dict):
        raise CassetteError(f"{source}: a cassette is a mapping with `steps` or `turns`")
    if name is not None and data.get("name") is None:
        data = {**data, "name": name}
    try:
        cassette = Cassette.model_validate(data)
    except ValidationError as exc:
        raise CassetteError(f"{source}: {_describe(exc)}") from None
    if cassette.name is None:
        raise CassetteError(f"{source}: the cassette has no `name`")
    return cassette


def parse_cassette_text(text: str, *, name: str | None = None, source: str = "<cassette>") -> Cassette:
    """YAML or JSON text (JSON is YAML) to a validated cassette."""
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise CassetteError(f"{source}: not valid YAML/JSON: {exc}") from None
    return parse_cassette(data, name=name, source=source)


def load_cassette(path: Path) -> Cassette:
    """Read one cassette file; its name defaults to the file name without the suffix."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise CassetteError(f"{path}: cannot read: {exc}") from None
    return parse_cassette_text(text, name=path.stem, source=str(path))


class _BlockDumper(yaml.SafeDumper):
    """Multi-line strings as ``|`` blocks, so recorded code reads like code; list items indented."""

    def increase_indent(self, flow: bool = False, indentless: bool = False) -> None:
        super().increase_indent(flow, False)


def _str_presenter(dumper: yaml.SafeDumper, value: str) -> yaml.ScalarNode:
    style = "|" if "\n" in value and not value.endswith((" ", "\t")) else None
    return dumper.represent_scalar("tag:yaml.org,2002:str", value, style=style)


class _Inline(dict[str, Any]):
    """A small mapping written on one line (``usage: {input_tokens: 90, output_tokens: 12}``)."""


def _inline_presenter(dumper: yaml.SafeDumper, value: _Inline) -> yaml.MappingNode:
    return dumper.represent_mapping("tag:yaml.org,2002:map", value, flow_style=True)


_BlockDumper.add_representer(str, _str_presenter)
_BlockDumper.add_representer(_Inline, _inline_presenter)


def dump_cassette(cassette: Cassette) -> str:
    """The cassette as readable YAML (defaults left out)."""
    data = cassette.model_dump(mode="json", exclude_defaults=True)
    data.pop("version", None)
    for turn in data.get("turns") or [data]:
        for step in turn.get("steps") or []:
            if "usage" in step:
                step["usage"] = _Inline(step["usage"])
    return yaml.dump(data, Dumper=_BlockDumper, sort_keys=False, allow_unicode=True, width=110)


def dump_cassette_json(cassette: Cassette) -> str:
    return json.dumps(cassette.model_dump(mode="json", exclude_defaults=True), ensure_ascii=False)


class CassetteLibrary:
    """The loaded cassettes by name (from ``cassette_dir`` at start, and the admin API at run time)."""

    def __init__(self, cassettes: list[Cassette] | None = None) -> None:
        self._cassettes: dict[str, Cassette] = {}
        for cassette in cassettes or []:
            self.add(cassette)

    def __contains__(self, name: str) -> bool:
        return name in self._cassettes

    def __len__(self) -> int:
        return len(self._cassettes)

    def add(self, cassette: Cassette) -> None:
        if cassette.name is None:
            raise CassetteError("a cassette needs a `name` to be loaded")
        self._cassettes[cassette.name] = cassette

    def get(self, name: str) -> Cassette | None:
        return self._cassettes.get(name)

    def remove(self, name: str) -> bool:
        return self._cassettes.pop(name, None) is not None

    def names(self) -> list[str]:
        return sorted(self._cassettes)

    def all(self) -> list[Cassette]:
        return [self._cassettes[name] for name in self.names()]

    def load_dir(self, directory: Path) -> list[str]:
        """Load every ``*.yaml``/``*.yml``/``*.json`` file; the first malformed one raises."""
        if not directory.is_dir():
            raise CassetteError(f"{directory}: the cassette directory does not exist")
        loaded = []
        for path in sorted(directory.iterdir()):
            if path.suffix in CASSETTE_SUFFIXES and path.is_file():
                cassette = load_cassette(path)
                self.add(cassette)
                loaded.append(str(cassette.name))
        return loaded
