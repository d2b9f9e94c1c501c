"""What a data set holds and whether its class names meet their descriptions (``lafg data check``, ``lafg train``).

:func:`check_data` counts images per class and side (seen / unseen), flags classes too small to query (< 2
images: a query needs another image of its class) and, given descriptions, matches the data set's class names
to the description keys (:func:`lafg.language.categories.match_names`). :func:`descriptions_for_training` is the same
matching as a gate: it re-keys descriptions by the data set's names and refuses, with one line naming them, when a
seen class has none (unless missing ones are allowed).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field

from lafg.errors import InputError
from lafg.language.categories import NameMatch, match_names
from lafg.vision.data import ImageSet

MIN_IMAGES = 2  # a retrieval query needs at least one other image of its class


def _shown(names: list[str], limit: int | None = 10) -> str:
    """Quoted names, the first ``limit`` of them (all with None)."""
    limit = len(names) if limit is None else limit
    text = ", ".join(repr(n) for n in names[:limit])
    return text + (f" and {len(names) - limit} more" if len(names) > limit else "")


@dataclass
class DescriptionMatch:
    """Descriptions re-keyed by a data set's class names, and what did not match."""

    descriptions: dict[str, list[str]]  # data-set class name → sentences (only classes that have some)
    match: NameMatch  # the name matching behind it
    seen_missing: list[str] = field(default_factory=list)  # seen classes without any sentence
    unseen_missing: list[str] = field(default_factory=list)  # unseen classes without any sentence

    def notes(self) -> list[str]:
        """One line per thing worth telling the user (loose matches, classes without descriptions, unused keys)."""
        lines = []
        if self.match.loose:
            pairs = ", ".join(f"{k!r} ~ {v!r}" for k, v in self.match.loose.items())
            lines.append(f"matched loosely (check these): {pairs}")
        if self.seen_missing:
            lines.append(
                f"{len(self.seen_missing)} seen class(es) without descriptions: {_shown(self.seen_missing, None)}"
            )
        if self.unseen_missing:
            lines.append(
                f"{len(self.unseen_missing)} unseen class(es) without descriptions: {_shown(self.unseen_missing, None)}"
            )
        if self.match.unused:
            lines.append(
                f"{len(self.match.unused)} description key(s) match no class of the data: {_shown(self.match.unused)}"
            )
        return lines


def match_descriptions(
    seen: list[str], unseen: list[str], descriptions: dict[str, list[str]]
) -> DescriptionMatch:
    """Match the data set's seen + unseen class names to the description keys (case, punctuation, spacing and
    unicode form ignored; see :func:`lafg.language.categories.match_names`)."""
    match = match_names(list(seen) + list(unseen), list(descriptions))
    renamed = {k: list(v) for k, v in match.renamed(descriptions).items() if v}
    return DescriptionMatch(
        descriptions=renamed,
        match=match,
        seen_missing=[n for n in seen if n not in renamed],
        unseen_missing=[n for n in unseen if n not in renamed],
    )


def descriptions_for_training(
    seen: list[str],
    unseen: list[str],
    descriptions: dict[str, list[str]],
    allow_missing: bool = False,
    warn: Callable[[str], None] | None = None,
) -> dict[str, list[str]]:
    """Descriptions keyed by the data set's own class names, ready for the language side.

    Raises :class:`InputError` (one line naming them) when a seen class has no description, unless
    ``allow_missing`` (then such classes fall back to their template prototype). Every other finding goes to
    ``warn`` one line at a time.
    """
    result = match_descriptions(seen, unseen, descriptions)
    if not result.descriptions or not any(n in result.descriptions for n in seen):
        raise InputError(
            f"the descriptions name none of the {len(seen)} seen classes (e.g. {_shown(seen, 3)}); "
            f"their keys look like {_shown(list(descriptions), 3)}"
        )
    if result.seen_missing and not allow_missing:
        raise InputError(
            f"{len(result.seen_missing)} seen class(es) have no descriptions: {_shown(result.seen_missing, None)} "
            "(fix the names or the descriptions file, see `lafg data check`, or pass --allow-missing)"
        )
    if warn is not None:
        for line in result.notes():
            warn(line)
    return result.descriptions


@dataclass
class DataReport:
    """What :func:`check_data` found."""

    root: str  # the data folder
    layout: str  # "csv" or "folders"
    classes: list[str]  # class names, label order
    counts: list[int]  # images per class
    seen: list[int]  # seen class indices
    skipped: int  # non-image files skipped
    descriptions: DescriptionMatch | None = None  # name matching against descriptions, when given

    @property
    def small(self) -> list[str]:
        """Classes with fewer than :data:`MIN_IMAGES` images."""
        return [n for n, c in zip(self.classes, self.counts, strict=True) if c < MIN_IMAGES]

    def side(self, seen: bool) -> tuple[int, int]:
        """(classes, images) of the seen or the unseen side."""
        chosen = set(self.seen)
        idx = [i for i in range(len(self.classes)) if (i in chosen) == seen]
        return len(idx), sum(self.counts[i] for i in idx)

    @property
    def problems(self) -> list[str]:
        """Findings that stop or spoil training (the CLI exits 1 when there are any)."""
        out = []
        if self.small:
            out.append(f"{len(self.small)} class(es) with fewer than {MIN_IMAGES} images: {_shown(self.small, None)}")
        if not self.side(True)[0] or not self.side(False)[0]:
            out.append("the split leaves one side empty: need at least one seen and one unseen class")
        if self.descriptions is not None and self.descriptions.seen_missing:
            out.append(
                f"{len(self.descriptions.seen_missing)} seen class(es) without descriptions: "
                f"{_shown(self.descriptions.seen_missing, None)}"
            )
        return out

    def lines(self, list_classes: bool = False) -> list[str]:
        """The human report, one finding per line."""
        counts = self.counts or [0]
        seen_c, seen_i = self.side(True)
        unseen_c, unseen_i = self.side(False)
        layout = "classes.csv + images.csv" if self.layout == "csv" else "one folder per class"
        out = [
            f"data: {self.root} ({layout})",
            f"classes: {len(self.classes)}; images: {sum(self.counts)} "
            f"(per class min {min(counts)}, median {sorted(counts)[len(counts) // 2]}, max {max(counts)})",
            f"seen (train): {seen_c} classes, {seen_i} images; unseen (test): {unseen_c} classes, {unseen_i} images",
        ]
        chosen = set(self.seen)
        for label, pick in (("seen", True), ("unseen", False)):
            names = [n for i, n in enumerate(self.classes) if (i in chosen) == pick]
            if names:
                out.append(f"{label} classes: {_shown(names, 3)}")
        if self.skipped:
            out.append(f"skipped {self.skipped} non-image file(s)")
        out.append(
            f"classes with fewer than {MIN_IMAGES} images: {_shown(self.small, None) if self.small else 'none'}"
        )
        if self.descriptions is not None:
            d = self.descriptions
            matched = len(self.classes) - len(d.seen_missing) - len(d.unseen_missing)
            renamed = sum(1 for k, v in d.match.pairs.items() if k != v and k in d.descriptions)
            out.append(
                f"descriptions: {matched} of {len(self.classes)} classes matched ({renamed} by a normalised name)"
            )
            out.extend(d.notes() or ["every class has descriptions"])
        if list_classes:
            chosen = set(self.seen)
            for i, (name, count) in enumerate(zip(self.classes, self.counts, strict=True)):
                out.append(f"  {i:>4}  {'seen  ' if i in chosen else 'unseen'}  {count:>6}  {name}")
        return out


def check_data(image_set: ImageSet, descriptions: dict[str, list[str]] | None = None) -> DataReport:
    """Counts, split and (given descriptions) name matching of a loaded image set."""
    per_class = Counter(label for _, label in image_set.items)
    counts = [per_class.get(i, 0) for i in range(len(image_set.classes))]
    match = None
    if descriptions is not None:
        seen = [image_set.classes[i] for i in sorted(image_set.seen)]
        unseen = [image_set.classes[i] for i in image_set.unseen]
        match = match_descriptions(seen, unseen, descriptions)
    return DataReport(
        root=str(image_set.root),
        layout=image_set.layout,
        classes=list(image_set.classes),
        counts=counts,
        seen=sorted(image_set.seen),
        skipped=len(image_set.skipped),
        descriptions=match,
    )


def unreadable_images(paths: list, progress: Callable[[int, int, str], None] | None = None) -> list:
    """The paths PIL cannot open and verify (header and structure, without decoding every pixel)."""
    from PIL import Image

    bad = []
    for i, path in enumerate(paths, 1):
        try:
            with Image.open(path) as img:
                img.verify()
        except Exception:  # any failure to parse means "not usable as an image"
            bad.append(path)
        if progress and (i % 50 == 0 or i == len(paths)):
            progress(i, len(paths), str(path.name) if hasattr(path, "name") else str(path))
    return bad
