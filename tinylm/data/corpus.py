"""Text corpora: a built-in one that needs no download, or your own files.

builtin_corpus()   the help topics of CPython itself (pydoc_data.topics: the
                   text behind `help("if")`, ~465 KB of English about Python,
                   shipped with every CPython), topics in sorted-name order
                   joined by newlines. The same on every machine with the same
                   Python version.
load_text(path)    a UTF-8 text file, or a folder: its .txt files (searched
                   recursively, sorted by path) joined by newlines.
load_corpus(spec)  None or "builtin" -> builtin_corpus(), anything else a path.

Errors name the problem: a missing path (FileNotFoundError), a file that is
not UTF-8 (ValueError naming the file and the byte offset of the first bad
byte), a folder without .txt files, a corpus that is empty or only
whitespace. A UTF-8 byte-order mark at the start of a file is dropped.
"""
import os
from pathlib import Path

BOM = b"\xef\xbb\xbf"


def builtin_corpus():
    """The text of CPython's help topics (pydoc_data.topics)."""
    try:
        from pydoc_data.topics import topics
    except ImportError:  # some trimmed-down Python builds leave pydoc_data out
        raise RuntimeError("the built-in corpus needs CPython's pydoc_data package, which this "
                           "Python lacks; pass a text file or folder instead") from None
    return "\n".join(topics[name] for name in sorted(topics))


def _read_utf8(path):
    data = path.read_bytes()
    start = len(BOM) if data.startswith(BOM) else 0
    try:
        return data[start:].decode("utf-8")
    except UnicodeDecodeError as e:
        bad = data[start + e.start:start + e.start + 4]
        raise ValueError(f"{str(path)!r} is not UTF-8 text: byte {start + e.start} "
                         f"(0x{data[start + e.start]:02x}, then {bad[1:].hex(' ') or 'end of file'}) "
                         f"{e.reason}; re-save the file as UTF-8") from None


def load_text(path):
    """The text of a UTF-8 file, or of the .txt files under a folder (sorted, joined by newlines)."""
    path = Path(os.fspath(path))
    if not path.exists():
        raise FileNotFoundError(f"corpus {str(path)!r} does not exist")
    if path.is_dir():
        files = sorted(p for p in path.rglob("*.txt") if p.is_file())
        if not files:
            raise ValueError(f"corpus folder {str(path)!r} holds no .txt files")
        text = "\n".join(_read_utf8(p) for p in files)
    else:
        text = _read_utf8(path)
    if not text.strip():
        raise ValueError(f"corpus {str(path)!r} is empty (nothing but whitespace)")
    return text


def load_corpus(spec=None):
    """spec None or "builtin": the built-in corpus; otherwise a file or folder path."""
    if spec is None or spec == "builtin":
        return builtin_corpus()
    return load_text(spec)
