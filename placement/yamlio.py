"""YAML in, pydantic models out, with errors that name the file, the line and the field."""

from __future__ import annotations

from pathlib import Path
from typing import Any, TypeVar

import yaml
from pydantic import BaseModel, ValidationError
from pydantic_core import InitErrorDetails, PydanticCustomError

ModelT = TypeVar("ModelT", bound=BaseModel)


class ConfigError(ValueError):
    """Bad input in a YAML file or document. ``problems`` holds one line per problem."""

    def __init__(self, source: str, problems: list[str]):
        self.source = source
        self.problems = problems
        super().__init__(f"{source}: invalid\n" + "\n".join(f"  {p}" for p in problems))


def field_error(loc: tuple[str | int, ...], message: str, value: Any) -> ValidationError:
    """A validation error located at ``loc``, for a model validator to raise: its own errors carry no field, so
    a 422 or a YAML error could not name one."""
    detail = InitErrorDetails(type=PydanticCustomError("invalid", message), loc=loc, input=value)
    return ValidationError.from_exception_data("input", [detail])


def _line_of(node: yaml.Node | None, loc: tuple[Any, ...]) -> int | None:
    """Follow a pydantic error location through the YAML node tree to the deepest line we can find."""
    line = node.start_mark.line + 1 if node is not None else None
    for part in loc:
        if isinstance(node, yaml.MappingNode):
            for key_node, value_node in node.value:
                if key_node.value == str(part) or key_node.value == str(part).replace("_", "-"):
                    node = value_node
                    line = key_node.start_mark.line + 1
                    break
            else:
                return line
        elif isinstance(node, yaml.SequenceNode) and isinstance(part, int) and part < len(node.value):
            node = node.value[part]
            line = node.start_mark.line + 1
        else:
            return line
    return line


def format_loc(loc: tuple[Any, ...]) -> str:
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += ("." if out else "") + str(part)
    return out or "(document)"


def validation_problems(exc: ValidationError, root: yaml.Node | None = None) -> list[str]:
    problems = []
    for err in exc.errors():
        # Tagged unions add the tag to the location; drop it so the path matches the file.
        loc = tuple(p for p in err["loc"] if not (isinstance(p, str) and p.startswith("function-")))
        line = _line_of(root, loc)
        where = f"line {line}: " if line else ""
        problems.append(f"{where}{format_loc(loc)}: {err['msg']}")
    return problems


def parse_yaml_model(text: str, model: type[ModelT], source: str = "<string>") -> ModelT:
    try:
        root = yaml.compose(text, Loader=yaml.SafeLoader)
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"line {mark.line + 1}: " if mark is not None else ""
        raise ConfigError(source, [f"{where}not valid YAML: {getattr(exc, 'problem', exc)}"]) from None
    if data is None:
        raise ConfigError(source, ["the document is empty"])
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise ConfigError(source, validation_problems(exc, root)) from None


def load_yaml_model(path: Path, model: type[ModelT]) -> ModelT:
    try:
        text = Path(path).read_text()
    except OSError as exc:
        raise ConfigError(str(path), [f"cannot read: {exc.strerror or exc}"]) from None
    return parse_yaml_model(text, model, source=str(path))
