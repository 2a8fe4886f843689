"""YAML recipes: read, validate (with line numbers and spelling hints) and write.

A recipe is plain data; it never executes code (``yaml.safe_load`` for values,
``yaml.compose`` node marks for line numbers; neither constructs Python
objects from tags). Everything is checked before anything runs: an unknown
key, stage or option is named with the line it is on and the closest valid
spelling.

Example::

    teacher: teacher.keras
    data: digits.npz
    output: out/
    stages:
      - distill: {}
      - prune: {method: magnitude, sparsity: 0.5, epochs: 2}
      - export: {format: int8}

Relative paths (``teacher``, ``data``, ``output``, ``student``) are relative
to the folder of the recipe file.

A recipe with ``budget: {max_bytes: N}`` (or ``max_params``, ``max_arena_bytes``, ``max_latency_us``) and no
``stages`` runs the default stages ``search → distill → qat → int8 export`` under that budget
(``tfcompress.pipeline.defaults``); with ``stages``, the budget is the default of every ``search`` stage that
gives none.
"""

import difflib
import inspect
import os

import yaml

from tfcompress.errors import ConfigError
from tfcompress.pipeline import registry
from tfcompress.stage import NO_STUDENT, first_without_student, stage_label

#: Top-level keys of a recipe.
TOP_LEVEL_KEYS = ("teacher", "data", "output", "student", "stages", "seed", "batch_size", "learning_rate",
                  "distill", "latency_runs", "budget", "tolerance", "strategy", "mixed_precision")
PATH_KEYS = ("teacher", "data", "output")
STUDENT_FAMILIES = ("cnn", "mlp", "mobilenet", "resnet")  # the builders of tfcompress.models.BUILDERS


def read_recipe(path):
    """Read and validate a recipe file; return the recipe dict with paths made absolute.

    Raises:
        ConfigError: the file is missing or not valid YAML, or the recipe is invalid (see ``validate_recipe``).
    """
    return read_recipe_stages(path)[0]


def read_recipe_stages(path):
    """Read and validate a recipe file once; return ``(recipe with absolute paths, its Stage objects)``."""
    if not os.path.isfile(path):
        raise ConfigError(f"recipe file {path!r} does not exist. Give the path of a YAML recipe "
                          "(run `tfcompress demo` to get an example recipe.yaml).")
    with open(path, encoding="utf-8") as f:
        text = f.read()
    recipe, stages = _parse(text, path, True)
    return resolve_paths(recipe, os.path.dirname(os.path.abspath(path))), stages


def parse_recipe(text, source="recipe", require_paths=True):
    """Parse YAML text and validate it; return the recipe dict (paths as written)."""
    return _parse(text, source, require_paths)[0]


def _parse(text, source, require_paths):
    try:
        recipe = yaml.safe_load(text)
        node = yaml.compose(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" line {mark.line + 1}" if mark is not None else ""
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        raise ConfigError(f"{source}:{where} is not valid YAML ({problem}). Recipes are plain YAML "
                          "mappings without tags.") from None
    stages = validate_recipe(recipe, lines=line_map(node), source=source, require_paths=require_paths)
    return recipe, [stage for _, stage, _ in stages]


def line_map(node, path=()):
    """Map key paths (tuples of keys and list indices) of a composed YAML node to 1-based line numbers."""
    lines = {}
    if node is None:
        return lines
    lines[path] = node.start_mark.line + 1
    if isinstance(node, yaml.MappingNode):
        for key, value in node.value:
            sub = path + (getattr(key, "value", None),)
            lines.update(line_map(value, sub))
            lines[sub] = key.start_mark.line + 1
    elif isinstance(node, yaml.SequenceNode):
        for i, item in enumerate(node.value):
            lines.update(line_map(item, path + (i,)))
    return lines


def validate_recipe(recipe, lines=None, source="recipe", require_paths=True):
    """Check a recipe dict before anything runs.

    Args:
        recipe: the parsed recipe.
        lines: key path -> line number (from ``line_map``), for messages. Defaults to None.
        source: how to name the recipe in messages. Defaults to "recipe".
        require_paths: ``teacher``, ``data`` and ``output`` must be present. Defaults to True.

    Returns:
        The list of ``(key, stage_class, options)`` of the stages, in order.

    Raises:
        ConfigError: naming the problem, its line and, for misspellings, the closest valid name.
    """
    lines = lines or {}

    def where(*path):
        for n in range(len(path), -1, -1):
            if path[:n] in lines:
                return f"{source}: line {lines[path[:n]]}: "
        return f"{source}: "

    if not isinstance(recipe, dict):
        raise ConfigError(f"{where()}a recipe must be a YAML mapping with keys {', '.join(TOP_LEVEL_KEYS)}; "
                          f"received {type(recipe).__name__}.")
    for key in recipe:
        if key not in TOP_LEVEL_KEYS:
            raise ConfigError(f"{where(key)}unknown recipe key {key!r}{_hint(key, TOP_LEVEL_KEYS)}; "
                              f"valid keys: {', '.join(TOP_LEVEL_KEYS)}.")
    if require_paths:
        missing = [k for k in PATH_KEYS if k not in recipe]
        if missing:
            raise ConfigError(f"{where()}the recipe lacks {', '.join(missing)}; a recipe names the teacher model "
                              "file, the data .npz and the output folder.")
    for key in PATH_KEYS:
        if key == "data" and isinstance(recipe.get(key), dict):
            if not ({"folder", "tfrecord"} & set(recipe[key])):
                raise ConfigError(f"{where(key)}data must be a path (an .npz or an image folder), {{folder: DIR, "
                                  f"scale: ...}} or {{tfrecord: {{train: ..., val: ...}}, ...}}; received keys "
                                  f"{sorted(recipe[key])}.")
            continue
        if key in recipe and not (isinstance(recipe[key], str) and recipe[key]):
            raise ConfigError(f"{where(key)}{key} must be a path, received {recipe[key]!r}.")
    for key, kind in (("seed", int), ("batch_size", int), ("latency_runs", int), ("learning_rate", (int, float))):
        if key in recipe:
            value = recipe[key]
            if isinstance(value, bool) or not isinstance(value, kind) or value < (0 if key != "batch_size" else 1) \
                    or (key == "learning_rate" and value <= 0):
                raise ConfigError(f"{where(key)}{key} must be a {'positive' if key != 'seed' else 'non-negative'} "
                                  f"number, received {value!r}.")
    if "tolerance" in recipe:
        value = recipe["tolerance"]
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 <= value <= 1:
            raise ConfigError(f"{where('tolerance')}tolerance must be a number in [0, 1] (the largest drop of "
                              f"validation accuracy a stage may cause, e.g. 0.005), received {value!r}.")
    from tfcompress.pipeline.devices import check_recipe

    check_recipe(recipe, where)
    if "student" in recipe:
        _check_student(recipe["student"], where)
    if "distill" in recipe and recipe["distill"] is not None:
        _check_options(recipe["distill"], _distiller_options(), "distill", where, ("distill",))

    if recipe.get("budget") is not None:
        _check_budget(recipe["budget"], where)
    stages = recipe.get("stages")
    if not stages and recipe.get("budget") is not None:
        from tfcompress.pipeline.defaults import default_stages
        from tfcompress.search.budget import expand_budget

        stages = default_stages(expand_budget(recipe["budget"]))
    if stages is None:
        stages = []
    if not isinstance(stages, list):
        raise ConfigError(f"{where('stages')}stages must be a list of one-key mappings such as "
                          f"`- prune: {{sparsity: 0.5}}`; received {type(stages).__name__}.")
    out = []
    has_student = recipe.get("student") is not None
    for i, entry in enumerate(stages):
        if not isinstance(entry, dict) or len(entry) != 1:
            raise ConfigError(f"{where('stages', i)}each stage is a one-key mapping such as "
                              f"`- distill: {{epochs: 20}}`; received {entry!r}.")
        (key, options), = entry.items()
        key = str(key)
        if options is None:
            options = {}
        if not isinstance(options, dict):
            raise ConfigError(f"{where('stages', i, key)}options of stage {key!r} must be a mapping "
                              f"(e.g. `{{}}`), received {options!r}.")
        name = registry.canonical_name(key)
        if name is None:
            names = registry.stage_names()
            raise ConfigError(f"{where('stages', i, key)}unknown stage {key!r}{_hint(key, names)}; "
                              f"valid stages: {', '.join(names)}.")
        options = registry.normalize_options(name, options)
        method = options.get("method")
        methods = registry.stage_methods(name)
        if method is not None and method not in methods:
            raise ConfigError(f"{where('stages', i, key, 'method')}stage {key!r} has no method {method!r}"
                              f"{_hint(str(method), methods)}; valid methods: {', '.join(methods) or '(none)'}.")
        cls = registry.stage_class(name, method)
        params = _init_params(cls)
        kwargs = {k: v for k, v in options.items() if not (k == "method" and "method" not in params)}
        label = f"stage {key!r}" + (f" (method {cls.method})" if getattr(cls, "method", None) else "")
        _check_options(kwargs, params, label, where, ("stages", i, key))
        _check_common_values(kwargs, label, where, ("stages", i, key))
        try:
            stage = cls.from_config(kwargs)
        except (ConfigError, ValueError, TypeError) as exc:
            message = str(exc)
            own = f"{stage_label(cls)}: "  # the stage's own prefix, said already by `label`
            message = message[len(own):] if message.startswith(own) else message
            raise ConfigError(f"{where('stages', i, key, getattr(exc, 'option', None))}{label}: {message}") from None
        out.append((name, stage, kwargs))
    missing = first_without_student([stage for _, stage, _ in out], has_student)
    if missing is not None:
        key = str(next(iter(stages[missing])))
        raise ConfigError(f"{where('stages', missing, key)}stage {key!r} {NO_STUDENT}")
    return out


def _check_budget(budget, where):
    from tfcompress.search.budget import Budget

    if not isinstance(budget, dict) or not budget:
        raise ConfigError(f"{where('budget')}budget must be a mapping such as `{{max_bytes: 12000}}` (keys "
                          f"max_bytes, max_params, max_arena_bytes, max_latency_us); received {budget!r}.")
    try:
        Budget.coerce(budget)
    except (ConfigError, ValueError, TypeError) as exc:
        raise ConfigError(f"{where('budget')}budget: {exc}") from None


#: Options many stages share: name -> (check, what it must be). Checked here so every stage gets them (each
#: stage checks its ``epochs`` itself: ``distill`` also takes "auto").
_COMMON_VALUES = {
    "learning_rate": (lambda v: v is None or (_is_number(v) and v > 0), "a number > 0 (or null for the default)"),
    "batch_size": (lambda v: v is None or (_is_int(v) and v >= 1), "an integer >= 1 (or null for the default)"),
}


def _is_int(value):
    return isinstance(value, int) and not isinstance(value, bool)


def _is_number(value):
    return isinstance(value, (int, float)) and not isinstance(value, bool) and value == value


def _check_common_values(options, label, where, path):
    for opt, (ok, expected) in _COMMON_VALUES.items():
        if opt in options and not ok(options[opt]):
            raise ConfigError(f"{where(*path, opt)}{label}: {opt} must be {expected}, received {options[opt]!r}.")


def _check_student(student, where):
    if isinstance(student, str):
        return
    if not isinstance(student, dict):
        raise ConfigError(f"{where('student')}student must be a model path or a mapping "
                          f"{{family: {'|'.join(STUDENT_FAMILIES)}, ...}}; received {student!r}.")
    family = student.get("family")
    if family not in STUDENT_FAMILIES:
        raise ConfigError(f"{where('student', 'family')}student family must be one of "
                          f"{', '.join(STUDENT_FAMILIES)}{_hint(str(family), STUDENT_FAMILIES)}; received {family!r}.")
    from tfcompress.models import builder_options

    _check_options({k: v for k, v in student.items() if k != "family"}, builder_options(family),
                   f"student ({family})", where, ("student",))


def _check_options(options, params, label, where, path):
    if not isinstance(options, dict):
        raise ConfigError(f"{where(*path)}{label} options must be a mapping, received {options!r}.")
    if params is None:  # accepts anything (**kwargs)
        return
    for opt in options:
        if opt not in params:
            raise ConfigError(f"{where(*path, opt)}{label} has no option {opt!r}{_hint(str(opt), params)}; "
                              f"valid options: {', '.join(params) or '(none)'}.")


def _init_params(fn):
    """Keyword names accepted by a class's ``__init__`` (or a function); None if it takes ``**kwargs``."""
    target = fn.__init__ if inspect.isclass(fn) else fn
    sig = inspect.signature(target)
    if any(p.kind == p.VAR_KEYWORD for p in sig.parameters.values()):
        return None
    return [n for n, p in sig.parameters.items() if n != "self" and p.kind != p.VAR_POSITIONAL]


def _distiller_options():
    try:
        from tfcompress.distill.distiller import Distiller
    except ImportError:
        return None
    params = inspect.signature(Distiller.__init__).parameters  # its **kwargs only go to keras.Model
    return [n for n, p in params.items() if n not in ("self", "teacher", "student", "name")
            and p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD)]


def _hint(word, choices):
    close = difflib.get_close_matches(str(word), [str(c) for c in choices], n=1, cutoff=0.6)
    return f" (did you mean {close[0]!r}?)" if close else ""


def resolve_paths(recipe, base_dir):
    """A copy of ``recipe`` with relative ``teacher``, ``data``, ``output`` and ``student`` paths made absolute."""
    def absolute(value):
        if isinstance(value, str) and not os.path.isabs(value):
            return os.path.normpath(os.path.join(base_dir, os.path.expanduser(value)))
        return value

    out = dict(recipe)
    for key in PATH_KEYS + ("student",):
        out[key] = absolute(out.get(key)) if key in out else None
        if out[key] is None:
            del out[key]
    data = out.get("data")
    if isinstance(data, dict):  # an image folder or TFRecord patterns
        data = dict(data)
        if "folder" in data:
            data["folder"] = absolute(data["folder"])
        if isinstance(data.get("tfrecord"), dict):
            data["tfrecord"] = {k: ([absolute(p) for p in v] if isinstance(v, list) else absolute(v))
                                for k, v in data["tfrecord"].items()}
        out["data"] = data
    return out


def to_yaml(recipe):
    """A recipe dict as YAML text (stages one per line, in flow style)."""
    head = {k: v for k, v in recipe.items() if k != "stages"}
    text = yaml.safe_dump(_plain(head), sort_keys=False, default_flow_style=False) if head else ""
    text += "stages:\n"
    for entry in recipe.get("stages", []):
        text += "  - " + yaml.safe_dump(_plain(entry), sort_keys=False, default_flow_style=True, width=10**6)
    return text


def _plain(value):
    """Tuples -> lists, NumPy scalars -> Python, recursively (what ``yaml.safe_dump`` can write)."""
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if hasattr(value, "item") and not isinstance(value, (str, bytes)):
        return value.item()
    return value


__all__ = ["read_recipe", "read_recipe_stages", "parse_recipe", "validate_recipe", "line_map", "resolve_paths",
           "to_yaml", "TOP_LEVEL_KEYS"]
