"""What every tokenizer file shares: a JSON object with a "type" and a
"version", written atomically, and read back with errors that name the
file and what is wrong with it."""
import json
import os
import tempfile

FORMAT_VERSION = 1


def write_json(path, obj):
    """Write obj as JSON to path via a temporary file, so a crash never leaves half a file."""
    path = os.fspath(path)
    folder = os.path.dirname(os.path.abspath(path))
    fd, tmp = tempfile.mkstemp(dir=folder, prefix=".tokenizer-", suffix=".json")
    try:
        # ensure_ascii keeps any string (even a lone surrogate) writable and readable
        with os.fdopen(fd, "w", encoding="ascii") as f:
            json.dump(obj, f, indent=1)
            f.write("\n")
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.remove(tmp)
        raise


def read_json(path, expected_type=None):
    """The JSON object in path, checked to be a tokenizer file (of expected_type if given)."""
    path = os.fspath(path)
    if not os.path.isfile(path):
        raise FileNotFoundError(f"tokenizer file {path!r} does not exist")
    try:
        with open(path, encoding="utf-8") as f:
            obj = json.load(f)
    except (UnicodeDecodeError, json.JSONDecodeError) as e:
        raise ValueError(f"tokenizer file {path!r} is not valid JSON: {e}") from None
    if not isinstance(obj, dict) or "type" not in obj:
        raise ValueError(f"tokenizer file {path!r} has no \"type\" field: is it a tokenizer file?")
    if expected_type is not None and obj["type"] != expected_type:
        raise ValueError(f"tokenizer file {path!r} holds a {obj['type']!r} tokenizer, "
                         f"not {expected_type!r}")
    if obj.get("version") != FORMAT_VERSION:
        raise ValueError(f"tokenizer file {path!r} has format version {obj.get('version')!r}; "
                         f"this tinylm reads version {FORMAT_VERSION}")
    return obj


def field(obj, name, kind, path):
    """obj[name], checked to be of type kind, or a ValueError naming the file."""
    path = os.fspath(path)
    if name not in obj:
        raise ValueError(f"tokenizer file {path!r} lacks the {name!r} field")
    value = obj[name]
    if not isinstance(value, kind) or isinstance(value, bool) and kind is not bool:
        names = kind.__name__ if isinstance(kind, type) else " or ".join(k.__name__ for k in kind)
        raise ValueError(f"tokenizer file {path!r}: {name!r} must be a {names}, "
                         f"got {type(value).__name__}")
    return value
