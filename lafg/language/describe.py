"""Describe classes with an LLM: prompt per class name → clean one-attribute sentences, cached per class.

``describe_classes(names, llm, cfg, cache, progress)`` is the stage entry point; ``parse_descriptions`` turns
raw model text into sentences; ``load_descriptions_json`` / ``save_descriptions_json`` read and write the
``{class: [sentence, ...]}`` format (the same as ``shared/data/descriptors/*.json``).

The class name enters the prompt only as a JSON string (quotes and control characters escaped), in one
substitution pass, so a name can neither close its quotes nor inject another placeholder.
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

from lafg.errors import InputError
from lafg.language.llm.base import LLM
from lafg.store.atomic import write_json

log = logging.getLogger(__name__)

Progress = Callable[[int, int, str], None]
MAX_JSON_CHARS = 64 * 2**20  # descriptions files are small; refuse anything near memory-sized
PARSER_VERSION = 1  # bump when parse_descriptions changes what it keeps (part of the cache key)


def default_prompt_template() -> str:
    """The packaged prompt (``lafg/language/prompts/describe.txt``)."""
    return resources.files("lafg.language").joinpath("prompts/describe.txt").read_text(encoding="utf-8")


@dataclass
class DescribeConfig:
    n: int = 5  # sentences kept per class (the prompt asks for this many)
    prompt_template: str = field(default_factory=default_prompt_template)  # text with {class_name} (JSON-quoted) and {n}
    max_new_tokens: int = 160  # generation budget per class
    temperature: float = 0.0  # 0 = greedy decoding
    retry_temperature: float = 0.7  # temperature of the single retry when an answer has no usable sentence
    max_chars: int = 200  # sentences longer than this are dropped as rambling
    batch_size: int = 8  # prompts per generate_batch call (backends that batch run them together)

    def validate(self) -> DescribeConfig:
        if not 1 <= self.n <= 50:
            raise InputError(f"n must be between 1 and 50 sentences per class, got {self.n}")
        if not 1 <= self.max_new_tokens <= 8192:
            raise InputError(f"max_new_tokens must be between 1 and 8192, got {self.max_new_tokens}")
        if not 0.0 <= self.temperature <= 2.0:
            raise InputError(f"temperature must be between 0 and 2, got {self.temperature}")
        if "{class_name}" not in self.prompt_template:
            raise InputError("the prompt template must contain the placeholder {class_name}")
        if self.batch_size < 1:
            raise InputError(f"batch_size must be at least 1, got {self.batch_size}")
        return self

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def load_prompt_template(path: str | Path) -> str:
    """A prompt template from a UTF-8 file; it must contain ``{class_name}`` (``{n}`` is optional)."""
    path = Path(path)
    if not path.is_file():
        raise InputError(f"prompt file not found: {path}")
    try:
        text = path.read_text(encoding="utf-8-sig")
    except UnicodeDecodeError as exc:
        raise InputError(f"prompt file is not UTF-8 text: {path}") from exc
    if "{class_name}" not in text:
        raise InputError(f"prompt file {path} lacks the placeholder {{class_name}}")
    return text


_PLACEHOLDER = re.compile(r"\{(class_name|n)\}")


def build_prompt(template: str, class_name: str, n: int) -> str:
    """Fill the template in one pass; the name goes in as a JSON string literal (quoted, escaped)."""
    values = {"class_name": json.dumps(class_name, ensure_ascii=False), "n": str(int(n))}
    return _PLACEHOLDER.sub(lambda m: values[m.group(1)], template)


# ---------------------------------------------------------------- parsing raw LLM text

_THINK = re.compile(r"<think>.*?(?:</think>|$)", re.S | re.I)
_MARKUP = re.compile(r"\*\*|__|`+")
_BULLET = re.compile(
    r"^\s*(?:"
    r"[-*•·●▪‣–—>#]+\s*"  # bullets, quote marks, markdown headings
    r"|\(?\d{1,3}\s*[.):\]]\s*"  # 1.  1)  (1)  1:
    r"|\(?[a-zA-Z][.)]\s+"  # a)  b.
    r"|(?:description|attribute|feature|sentence|step)\s*#?\d+\s*[:.)-]\s*"  # Description 1:
    r")",
    re.I,
)
_CHATTER = re.compile(
    r"^(?:sure|certainly|of course|okay|ok|absolutely|great|alright|"
    r"here(?:'s|’s| is| are)|below (?:is|are)|the following|"
    r"i hope|hope this|let me know|feel free|note\b|in summary|overall,|"
    r"these (?:descriptions|sentences|features|attributes|are)|"
    r"i (?:can|cannot|can't|am|'m|will|would)|as an ai)\b",
    re.I,
)
_SENTENCE_SPLIT = re.compile(r"(?<=[.!?])\s+(?=(?:\(?\d{1,3}[.)]\s+)?[\"“(]?[A-Z])")
_LABEL = re.compile(r"^([A-Za-z][\w '/&-]{0,30}):\s+(.+)$")
_QUOTES = {'"': '"', "'": "'", "“": "”", "‘": "’", "«": "»"}


def _strip_bullets(text: str) -> str:
    previous = None
    while previous != text:
        previous, text = text, _BULLET.sub("", text, count=1).strip()
    return text


def _strip_quotes(text: str) -> str:
    """Remove quotes around the whole text, and a lone unmatched quote at either end."""
    while len(text) >= 2 and text[0] in _QUOTES and text[-1] == _QUOTES[text[0]]:
        text = text[1:-1].strip()
    for opening, closing in _QUOTES.items():
        if opening == closing:
            if text.count(opening) % 2 == 1:
                text = text[1:] if text.startswith(opening) else text[:-1] if text.endswith(opening) else text
        else:
            if text.startswith(opening) and closing not in text:
                text = text[1:]
            if text.endswith(closing) and opening not in text:
                text = text[:-1]
    return text.strip()


_TERMINAL = ".!?)\"”'’"
_SENTENCE_END = re.compile(r"[.!?][\"”'’)]?(?=\s)")


def _drop_truncated_tail(text: str) -> str:
    """Cut an unfinished last sentence (the token budget ran out mid-sentence).

    Only when the answer otherwise ends its sentences with punctuation; lists written without any full
    stop are left alone.
    """
    stripped = text.rstrip()
    if not stripped or stripped[-1] in _TERMINAL:
        return text
    ends = [m.end() for m in _SENTENCE_END.finditer(stripped)]
    if not ends:
        return text
    return stripped[: max(ends[-1], stripped.rfind("\n"))]


def _clean_sentence(text: str) -> str:
    text = _strip_quotes(_strip_bullets(text))
    label = _LABEL.match(text)
    if label and label.group(2)[:1].isupper() and len(label.group(2).split()) >= 4:
        text = label.group(2)  # "Wings: The wings are long and narrow." → keep the sentence itself
    text = _strip_quotes(text)
    return " ".join(text.split())


def _dedup_key(text: str) -> str:
    return " ".join(text.casefold().rstrip(".!?;, ").split())


def parse_descriptions(raw: str, n: int | None = None, max_chars: int = 200) -> list[str]:
    """Clean one-attribute sentences from raw LLM text, in order, at most ``n``.

    Drops numbering and bullets, markdown emphasis, ``<think>`` blocks, chatter ("Sure! Here are ...",
    headings ending in ":"), surrounding or unmatched quotes, blank and one-word lines, lines over
    ``max_chars``, case-insensitive duplicates, and a last sentence cut off by the token budget; lines
    holding several sentences are split into sentences.
    """
    text = _THINK.sub("\n", raw or "")
    text = _drop_truncated_tail(_MARKUP.sub("", text))
    out: list[str] = []
    seen: set[str] = set()
    for line in text.replace("\r\n", "\n").replace("\r", "\n").split("\n"):
        line = _strip_bullets(line)
        if not line or _CHATTER.match(line) or line.rstrip().endswith(":"):
            continue
        for piece in _SENTENCE_SPLIT.split(line):
            sentence = _clean_sentence(piece)
            if not sentence or _CHATTER.match(sentence) or sentence.endswith(":"):
                continue
            if len(sentence.split()) < 2 or not any(ch.isalpha() for ch in sentence) or len(sentence) > max_chars:
                continue
            key = _dedup_key(sentence)
            if key in seen:
                continue
            seen.add(key)
            out.append(sentence)
            if n is not None and len(out) >= n:
                return out
    return out or _salvage(raw or "", max_chars)


def _salvage(raw: str, max_chars: int) -> list[str]:
    """Last resort for a weak model whose whole answer is one over-long or cut-off sentence: keep its
    opening clause (cut at a comma, dash or word boundary before ``max_chars``) if it says something."""
    for line in _MARKUP.sub("", _THINK.sub("\n", raw)).splitlines():
        line = _clean_sentence(line)
        if not line or _CHATTER.match(line) or line.endswith(":"):
            continue
        if len(line) > max_chars:
            head = line[:max_chars]
            cut = max(head.rfind(", "), head.rfind(" - "), head.rfind("; "), head.rfind(" ("))
            line = head[:cut] if cut >= max_chars // 3 else head[: head.rfind(" ")]
        line = line.rstrip(" ,;-(")
        if len(line.split()) >= 4:
            return [line]
    return []


# ---------------------------------------------------------------- describing classes


def cache_parts(llm: LLM, cfg: DescribeConfig, class_name: str) -> dict[str, Any]:
    """Everything that determines one class's descriptions (the cache key)."""
    return {
        "kind": "descriptions",
        "parser": PARSER_VERSION,
        "backend": llm.name,
        "model": llm.model_id,
        "options": llm.options,
        "prompt": cfg.prompt_template,
        "class": class_name,
        "n": cfg.n,
        "max_new_tokens": cfg.max_new_tokens,
        "temperature": cfg.temperature,
        "max_chars": cfg.max_chars,
    }


def _cached(cache: Any, parts: dict[str, Any]) -> list[str] | None:
    try:
        value = cache.get(parts)
    except Exception as exc:  # a damaged cache is a miss, never a crash
        log.warning("description cache unreadable (%s); regenerating", exc)
        return None
    if isinstance(value, dict) and isinstance(value.get("descriptions"), list) and value["descriptions"]:
        if all(isinstance(s, str) for s in value["descriptions"]):
            return list(value["descriptions"])
    return None


def _chunks(items: list[str], size: int) -> Iterable[list[str]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def describe_classes(
    names: list[str],
    llm: LLM,
    cfg: DescribeConfig | None = None,
    cache: Any | None = None,
    progress: Progress | None = None,
) -> dict[str, list[str]]:
    """``{class: [sentence, ...]}`` for every name, in input order.

    Cached classes (same backend, model, options, prompt, class, n, budget and temperature) cost one cache
    read. A class whose answer has no usable sentence is retried once at ``cfg.retry_temperature``; if that
    fails too it gets an empty list (reported through ``progress`` and the log) and is not cached.
    Backend errors propagate as :class:`~lafg.errors.BackendError`; classes finished before are cached.
    """
    cfg = (cfg or DescribeConfig()).validate()
    names = list(dict.fromkeys(names))
    total = len(names)
    stored = llm.stored_descriptions(names)
    if stored is not None:
        if progress:
            progress(total, total, f"imported descriptions for {total} classes")
        return stored
    use_cache = cache is not None and llm.cacheable
    result: dict[str, list[str]] = {}
    todo: list[str] = []
    done = 0
    for name in names:
        hit = _cached(cache, cache_parts(llm, cfg, name)) if use_cache else None
        if hit is not None:
            result[name] = hit
            done += 1
            if progress:
                progress(done, total, f"{name} (cached)")
        else:
            todo.append(name)
    # Backends that really batch get cfg.batch_size prompts at once; the others go one class at a time, so a
    # failure (endpoint down, deadline) loses nothing: every class finished before it is already cached.
    batches = type(llm).generate_batch is not LLM.generate_batch
    for chunk in _chunks(todo, cfg.batch_size if batches else 1):
        prompts = [build_prompt(cfg.prompt_template, name, cfg.n) for name in chunk]
        if progress:  # a batch can take a minute on a CPU: say what is being generated before it starts
            progress(done, total, f"generating {chunk[0]}" + (f" +{len(chunk) - 1}" if len(chunk) > 1 else ""))
        raws = llm.generate_batch(prompts, cfg.max_new_tokens, cfg.temperature)
        for name, prompt, raw in zip(chunk, prompts, raws, strict=True):
            sentences = parse_descriptions(raw, cfg.n, cfg.max_chars)
            if not sentences:
                retry_t = max(cfg.retry_temperature, cfg.temperature + 0.2)
                raw = llm.generate(prompt, cfg.max_new_tokens, retry_t)
                sentences = parse_descriptions(raw, cfg.n, cfg.max_chars)
            result[name] = sentences
            done += 1
            if sentences:
                if use_cache:
                    cache.set(cache_parts(llm, cfg, name), {"descriptions": sentences, "raw": raw})
                message = name
            else:
                log.warning("no usable descriptions for %r (raw answer: %r)", name, (raw or "")[:200])
                message = f"no usable descriptions for {name}"
            if progress:
                progress(done, total, message)
    return {name: result[name] for name in names}


def empty_classes(descriptions: dict[str, list[str]]) -> list[str]:
    """Classes that ended up without any sentence."""
    return [name for name, sentences in descriptions.items() if not sentences]


def uncached_classes(names: list[str], llm: LLM, cfg: DescribeConfig, cache: Any | None) -> list[str]:
    """The names :func:`describe_classes` would have to generate (all of them without a cache): tells a caller
    whether loading the model is needed at all."""
    if cache is None or not llm.cacheable:
        return list(dict.fromkeys(names))
    return [n for n in dict.fromkeys(names) if _cached(cache, cache_parts(llm, cfg, n)) is None]


def thin_classes(descriptions: dict[str, list[str]], n: int) -> dict[str, int]:
    """Class → sentence count, for every class with fewer than ``n`` sentences (empty ones included)."""
    return {name: len(sentences) for name, sentences in descriptions.items() if len(sentences) < n}


def retry_thin(
    descriptions: dict[str, list[str]],
    llm: LLM,
    cfg: DescribeConfig | None = None,
    rounds: int = 2,
    progress: Progress | None = None,
) -> dict[str, list[str]]:
    """Ask again for the classes below ``cfg.n`` sentences, sampling at ``cfg.retry_temperature``.

    New sentences are added to the ones a class already has (duplicates dropped, at most ``n``), so a retry can
    only add; up to ``rounds`` attempts per class, stopping early for classes that reach ``n``. Returns a new
    dict in the same order; the cache is not touched (it holds what the configured temperature produced).
    """
    cfg = (cfg or DescribeConfig()).validate()
    out = {name: list(sentences) for name, sentences in descriptions.items()}
    todo = list(thin_classes(out, cfg.n))
    total, done = len(todo) * max(rounds, 0), 0
    temperature = max(cfg.retry_temperature, cfg.temperature + 0.2)
    for attempt in range(max(rounds, 0)):
        for chunk in _chunks(todo, cfg.batch_size):
            if progress:
                progress(done, total, f"retry {attempt + 1}: {chunk[0]}")
            prompts = [build_prompt(cfg.prompt_template, name, cfg.n) for name in chunk]
            raws = llm.generate_batch(prompts, cfg.max_new_tokens, temperature)
            for name, raw in zip(chunk, raws, strict=True):
                keys = {_dedup_key(s) for s in out[name]}
                for sentence in parse_descriptions(raw, None, cfg.max_chars):
                    if len(out[name]) < cfg.n and _dedup_key(sentence) not in keys:
                        keys.add(_dedup_key(sentence))
                        out[name].append(sentence)
                done += 1
        finished = [name for name in todo if len(out[name]) >= cfg.n]
        done += len(finished) * (rounds - attempt - 1)  # their later attempts are not needed
        todo = [name for name in todo if len(out[name]) < cfg.n]
        if not todo:
            break
    if progress:
        progress(total, total, f"{len(todo)} class(es) still below {cfg.n} sentences")
    return out


# ---------------------------------------------------------------- JSON import / export


SHAPE = '{"class": ["sentence", ...]}'


def json_depth(text: str) -> int:
    """Deepest nesting of ``[``/``{`` in JSON text (strings skipped), without parsing it (no recursion)."""
    depth = deepest = 0
    in_str = escaped = False
    for ch in text:
        if in_str:
            if escaped:
                escaped = False
            elif ch == "\\":
                escaped = True
            elif ch == '"':
                in_str = False
        elif ch == '"':
            in_str = True
        elif ch in "[{":
            depth += 1
            deepest = max(deepest, depth)
        elif ch in "]}":
            depth -= 1
    return deepest


def validate_descriptions(data: Any, source: str = "descriptions", max_classes: int | None = None,
                          max_sentences: int | None = None, max_chars: int | None = None) -> dict[str, list[str]]:
    """Check the ``{class: [sentence, ...]}`` shape; sentences are stripped and blank ones dropped (and cut to
    ``max_chars``). A string value is refused, never split into characters. Limits of ``None`` are off."""
    if not isinstance(data, dict):
        raise InputError(f"{source}: expected a JSON object mapping each class name to a list of sentences {SHAPE}, got {type(data).__name__}")
    if not data:
        raise InputError(f"{source}: no classes in the descriptions")
    if max_classes is not None and len(data) > max_classes:
        raise InputError(f"{source} describes {len(data)} classes; at most {max_classes} are accepted")
    out: dict[str, list[str]] = {}
    for name, sentences in data.items():
        if not isinstance(name, str) or not name.strip():
            raise InputError(f"{source}: class names must be non-empty strings, got {name!r}")
        shown = repr(name[:60])
        if not isinstance(sentences, list):
            raise InputError(f"{source}: descriptions of {shown} must be a list of sentences {SHAPE}, got {type(sentences).__name__}")
        bad = [s for s in sentences if not isinstance(s, str)]
        if bad:
            raise InputError(f"{source}: descriptions of {shown} must be strings, got {repr(bad[0])[:60]} (a list of sentences per class)")
        if max_sentences is not None and len(sentences) > max_sentences:
            raise InputError(f"{source}: class {shown} has {len(sentences)} sentences; at most {max_sentences} are accepted")
        out[name] = [s.strip()[:max_chars] for s in sentences if s.strip()]
    return out


def load_descriptions_json(path: str | Path, *, show_as: str | None = None, max_bytes: int = MAX_JSON_CHARS,
                           max_depth: int = 4, max_classes: int | None = None, max_sentences: int | None = None,
                           max_chars: int | None = None) -> dict[str, list[str]]:
    """Read and validate a descriptions file (UTF-8, BOM tolerated; never unpickled): the one reader of the
    library, the CLI and the app. Size and nesting are checked before parsing (``{class: [sentence]}`` is 2
    deep). ``show_as`` names the file in messages (the app shows a visitor only the file name, never a server
    path); the ``max_*`` limits are the hosted app's (:class:`lafg.app.limits.Limits`)."""
    path = Path(path)
    source = show_as or str(path)
    if not path.is_file():
        raise InputError(f"descriptions file not found: {source}")
    if path.stat().st_size > max_bytes:
        raise InputError(f"{source} is larger than {max_bytes // 2**20} MB; descriptions files are small")
    try:
        text = path.read_text(encoding="utf-8-sig")
    except UnicodeDecodeError as exc:
        raise InputError(f"{source} is not a descriptions JSON file: not UTF-8 text") from exc
    depth = json_depth(text)
    if depth > max_depth:  # "[[[[...": far deeper than {class: [sentences]}; refused before the parser recurses
        raise InputError(f"{source} is nested {depth} levels deep; descriptions are {SHAPE}")
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise InputError(f"{source} is not a descriptions JSON file: not valid JSON ({exc.msg} at line {exc.lineno})") from exc
    return validate_descriptions(data, source, max_classes, max_sentences, max_chars)


def save_descriptions_json(descriptions: dict[str, list[str]], path: str | Path) -> None:
    """Write ``{class: [sentence, ...]}`` atomically; classes with no sentence are kept as empty lists."""
    if not isinstance(descriptions, dict) or not descriptions:
        raise InputError("no descriptions to save")
    for name, sentences in descriptions.items():
        if not isinstance(name, str) or not isinstance(sentences, list) or not all(isinstance(s, str) for s in sentences):
            raise InputError(f"descriptions must map class names to lists of strings (bad entry for {name!r})")
    write_json(path, {name: list(sentences) for name, sentences in descriptions.items()}, indent=2)
