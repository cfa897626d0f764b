"""The machinery every section schema of ``params.yaml`` shares; the schemas are the package's other modules.

A stage reads only the sections it uses, through :func:`load_params` with a :class:`StageParams` naming them: a
typo or an impossible value in those fails before any work starts, with a message naming the key, the value and
what is allowed, and a change to another section's schema leaves the stage (and its DVC dependencies) alone.
``make check-params`` checks the whole file (:mod:`stages.params.file`).
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Annotated, Any, ClassVar, Protocol, TypeVar, get_args, get_origin

import yaml
from pydantic import AfterValidator, BaseModel, BeforeValidator, ConfigDict, Field, ValidationError, model_validator
from pydantic_core import ErrorDetails

DEFAULT_PARAMS_PATH = Path("params.yaml")

PositiveInt = Annotated[int, Field(gt=0)]
Fraction = Annotated[float, Field(ge=0.0, le=1.0)]
QUANTITY = re.compile(r"^[0-9]+(\.[0-9]+)?([mkMGTPE]i?|[KMGTPE]i)?$")


def _quantity(value: Any) -> Any:
    """A Kubernetes quantity ("500m", "2Gi", "2"); `dvc exp run -S k3s.cpu_request=2` hands over a number."""
    if isinstance(value, int | float) and not isinstance(value, bool):
        value = str(value)
    if not isinstance(value, str) or not QUANTITY.match(value):
        raise ValueError("expected a Kubernetes quantity such as 500m, 2 or 2Gi")
    return value


Quantity = Annotated[str, BeforeValidator(_quantity)]
# Tags pydantic adds to an error's location for each member of a union: not keys a user wrote.
UNION_TAG = re.compile(r"^(literal\[.*\]|constrained-\w+|function-\w+|[a-z]+\[.*\]|int|float|str|bool|none|absolute|"
                       r"relative)$")
# The sections a params file may have: a stage ignores the others but refuses a name outside this list, so that
# a misspelt section cannot pass unnoticed by every stage.
SECTIONS = ("model", "data", "tokenizer", "export", "convert", "runtime", "validate", "serve", "limits", "loadgen",
            "loadtest", "machine", "capacity", "compare", "gate", "cost", "resilience", "k3s")


class ParamsError(ValueError):
    """A ``params.yaml`` that cannot drive the pipeline; the message says which key and why."""


class Section(BaseModel):
    """One section of ``params.yaml`` (or a part of one): strict, closed to unknown keys, immutable."""

    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)


class StageParams(BaseModel):
    """The sections one stage reads, as fields named after them; the file's other sections are not validated."""

    model_config = ConfigDict(extra="ignore", strict=True, frozen=True)

    @model_validator(mode="before")
    @classmethod
    def _known_sections(cls, raw: Any) -> Any:
        unknown = sorted(set(raw) - set(SECTIONS)) if isinstance(raw, dict) else []
        if unknown:
            raise ValueError(f"unknown section {', '.join(map(repr, unknown))} (sections: {', '.join(SECTIONS)})")
        return raw


def pinned_image(image: str | None) -> str | None:
    """An image reference that names one build: a version tag or a digest, never none or ``:latest``."""
    if image is not None and (":" not in image.rsplit("/", 1)[-1] or image.endswith(":latest")) \
            and "@sha256:" not in image:
        raise ValueError(f"{image!r} must carry a version tag or a digest (not :latest): the pod must run the "
                         "Bento that was measured")
    return image


PinnedImage = Annotated[str, AfterValidator(pinned_image)]


class LocalSource(Protocol):
    source: str
    local_path: str | None
    _section: ClassVar[str]
    _local_what: ClassVar[str]


SourceT = TypeVar("SourceT", bound=LocalSource)


def require_local_path(section: SourceT) -> SourceT:
    """``source: local`` is useless without a path: say which key must name what."""
    if section.source == "local" and not section.local_path:
        raise ValueError(f"{section._section}.local_path must name {section._local_what} when "
                         f"{section._section}.source is 'local'")
    return section


def _allowed_keys(model: type[BaseModel], loc: tuple[Any, ...]) -> list[str]:
    """Walk ``loc`` down the schema to list the keys allowed where an unknown one was found."""
    current: type[BaseModel] = model
    parts = iter(loc[:-1])
    for part in parts:
        field = next((f for name, f in current.model_fields.items() if (f.alias or name) == part), None)
        annotation = field.annotation if field is not None else None
        if get_origin(annotation) is dict:  # named entries (scenarios): skip the free-form name
            annotation = get_args(annotation)[1]
            next(parts, None)
        if not (isinstance(annotation, type) and issubclass(annotation, BaseModel)):
            return []
        current = annotation
    return sorted(f.alias or name for name, f in current.model_fields.items())


def _shown(value: Any) -> str:
    """An offending value as the user wrote it; a section (a mapping) or a long value is never echoed back."""
    text = repr(value)
    return "" if isinstance(value, dict) or len(text) > 80 else f" = {text}"


def _describe(errors: list[ErrorDetails], model: type[BaseModel], source: str) -> list[str]:
    """One line per offending key: the key, the value, what is allowed; the alternatives of a union merged."""
    lines: dict[str, list[str]] = {}
    for error in errors:
        loc = [str(part) for part in error["loc"] if not UNION_TAG.match(str(part))]
        key = ".".join(loc)
        if error["type"] == "extra_forbidden":
            allowed = ", ".join(_allowed_keys(model, tuple(error["loc"])))
            lines.setdefault(f"{source}: unknown key '{key}' (allowed here: {allowed})", [])
            continue
        message = error["msg"].removeprefix("Value error, ")
        head = f"{source}: {key}{_shown(error.get('input'))}" if key else source
        if message not in lines.setdefault(head, []):
            lines[head].append(message)
    return [f"{head}: {' or '.join(messages)}" if messages else head for head, messages in lines.items()]


ModelT = TypeVar("ModelT", bound=BaseModel)


def parse_params(model: type[ModelT], raw: Any, source: str = "params.yaml") -> ModelT:
    """Validate an already-parsed mapping as ``model``; raise :class:`ParamsError` listing every problem."""
    if raw is None:
        raw = {}
    if not isinstance(raw, dict):
        raise ParamsError(f"{source}: the top level must be a mapping of sections, got {type(raw).__name__}")
    try:
        return model.model_validate(raw)
    except ValidationError as exc:
        raise ParamsError("\n".join(_describe(exc.errors(), model, source))) from None


class UniqueKeyLoader(yaml.SafeLoader):
    """YAML's safe loader, refusing a mapping that names a key twice (PyYAML keeps the last one silently)."""

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
        seen: set[Any] = set()
        for key_node, _ in node.value:
            key = self.construct_object(key_node, deep=deep)
            if key in seen:
                raise yaml.constructor.ConstructorError(None, None, f"duplicate key {key!r}", key_node.start_mark)
            seen.add(key)
        return super().construct_mapping(node, deep=deep)


def read_params(path: Path | str = DEFAULT_PARAMS_PATH) -> Any:
    """The parsed YAML of a params file, unvalidated; a missing file or bad YAML is a :class:`ParamsError`."""
    path = Path(path)
    try:
        return yaml.load(path.read_text(encoding="utf-8"), Loader=UniqueKeyLoader)
    except FileNotFoundError:
        raise ParamsError(f"{path}: no such file; run from the project root or pass --params") from None
    except yaml.YAMLError as exc:
        where = getattr(exc, "problem_mark", None)
        line = f" (line {where.line + 1})" if where is not None else ""
        raise ParamsError(f"{path}: not valid YAML{line}: {getattr(exc, 'problem', None) or exc}") from None


def load_params(model: type[ModelT], path: Path | str = DEFAULT_PARAMS_PATH) -> ModelT:
    """Read ``params.yaml`` (or another file of the same shape) and validate the sections ``model`` names."""
    return parse_params(model, read_params(path), source=str(path))
