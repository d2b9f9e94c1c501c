"""A visitor's own images: the zip upload (Train and Retrieve both offer it), what the set needs, and choosing
its seen classes.

A zip is unpacked by :func:`lafg.app.uploads.extract_zip` into the visitor's folder; the set starts at its only
top-level folder when there is one (:func:`lafg.vision.data.unwrap_single_folder`). Text search and explanations of
the untrained backbone read a vocabulary of the *seen* classes' descriptions and a probe fitted on them, so a set
needs at least two seen classes with descriptions, and with the default split (the first half seen) at least
four classes: the panel says so and lets the visitor choose the seen classes.
"""

from __future__ import annotations

from pathlib import Path

import gradio as gr

from lafg.errors import InputError
from lafg.vision.data import unwrap_single_folder, write_seen_split

from .common import Session, file_path, user_errors
from .datasets import load_dataset_inside, shared_descriptions, within
from .safe_text import md, md_join
from .services import Services
from .uploads import discard_on_error, extract_zip, new_upload_folder, owner_of

ZIP_LAYOUT = """**What to upload**: a `.zip` with **one folder per class**, the class's images inside (jpg, png, webp, bmp,
gif). One top-level folder around them is fine (a file manager's *compress folder*); it is unwrapped.

```
birds.zip
└── birds/                 ← optional wrapper folder
    ├── 001.Red_Finch/     ← folder name = class name ("001.Red_Finch" → "Red Finch")
    │   ├── a.jpg
    │   └── b.jpg
    ├── 002.Blue_Finch/
    └── …
```
Or, instead of class folders, `classes.csv` (`class_id,name,split`, split `train` = seen) and `images.csv`
(`path,class_id,split`, paths relative to the zip's root). The **first half** of the classes (in name order) are
*seen* (training, and the vocabulary that explains results) unless you choose them below; the others are *unseen*
(evaluation). Text search and explanations need **at least 2 seen classes with descriptions** (tab 1), so with the
default split **at least 4 classes**."""


def code_text(text: str) -> str:
    """A visitor's folder name inside a Markdown code span (shown as text; a backtick would end the span)."""
    return text.replace("`", "'")[:120]


def seen_with_descriptions(seen: list[str], descriptions: dict[str, list[str]]) -> list[str]:
    return [c for c in seen if descriptions.get(c)]


def set_report(label: str, folder: Path, descriptions: dict[str, list[str]], unwrapped: str = "") -> str:
    """What the set holds, its split, and what it still lacks for text search and explanations."""
    image_set = load_dataset_inside(folder)
    _, _, seen = image_set.split("seen")
    _, _, unseen = image_set.split("unseen")
    known = {**shared_descriptions(folder), **{k: v for k, v in descriptions.items() if v}}
    described = seen_with_descriptions(seen, known)
    lines = [
        f"**{md(label, 120)}**: {len(image_set.classes)} classes, {len(image_set)} images"
        + (f" (read inside its top-level folder `{code_text(unwrapped)}/`)" if unwrapped else "") + ".",
        f"- **Seen** (training, explanations): {md_join(seen, limit=80)}",
        f"- **Unseen** (evaluation): {md_join(unseen, limit=80)}",
    ]
    if len(image_set.classes) < 4:
        lines.append(
            f"\n⚠️ **{len(image_set.classes)} classes are too few.** Text search and explanations need at least 2 seen "
            "classes with descriptions, and evaluation at least 2 unseen classes: **at least 4 classes**."
        )
    elif len(seen) < 2 or len(unseen) < 2:
        lines.append("\n⚠️ Choose **at least 2 seen and 2 unseen classes** below.")
    elif len(described) < 2:
        missing = [c for c in seen if c not in described]
        lines.append(
            f"\n⚠️ Only {len(described)} seen class(es) have descriptions: text search and explanations need 2. "
            f"Describe {md_join(missing[:6], limit=80)} in tab 1 (names → descriptions), then build the index again."
        )
    else:
        lines.append(f"\n✅ {len(described)} seen classes have descriptions: text search and explanations can work.")
    return "\n".join(lines)


def upload_block(svc: Services, state: gr.State, dataset: gr.Dropdown, choices, where: str) -> None:
    """The zip upload with its layout, report and seen-class chooser, updating ``dataset`` (a data set dropdown
    whose ``choices(svc, s)`` lists them). ``where``: a prefix for the event names (two tabs offer it)."""
    with gr.Accordion("How to lay out a zip", open=False):
        gr.Markdown(ZIP_LAYOUT)
    zip_file = gr.File(label="Upload a zip of class folders", file_types=[".zip"], type="filepath", height=90, elem_id=f"{where}-zip")
    report = gr.Markdown(elem_id=f"{where}-upload-info")
    seen_pick = gr.CheckboxGroup(label="Seen classes (training and explanations; the others are unseen)", visible=False, elem_id=f"{where}-seen")
    seen_btn = gr.Button("Use these seen classes", visible=False)

    @user_errors
    def add_zip(s: Session, path, request: gr.Request):
        path = file_path(path)
        if not path:
            return s, gr.skip()
        dest = new_upload_folder(svc.visitor_dir(owner_of(s, request)))
        with discard_on_error(dest):  # refused after unpacking: nothing of it stays
            extract_zip(path, dest, svc.limits)
            root = unwrap_single_folder(dest)
            image_set = load_dataset_inside(root, dest)
        label = f"{Path(path).stem} (upload, {len(image_set.classes)} classes)"
        s.datasets[label] = str(root)
        return s, gr.Dropdown(choices=choices(svc, s), value=label)

    def explain_set(s: Session, label: str | None):
        folder = s.datasets.get(label or "")
        if not folder:
            return "", gr.CheckboxGroup(visible=False), gr.Button(visible=False)
        root = Path(folder)
        try:
            image_set = load_dataset_inside(root)
        except InputError as exc:
            return f"⚠️ {exc}", gr.CheckboxGroup(visible=False), gr.Button(visible=False)
        unwrapped = root.name if root.parent.name.startswith("set-") else ""  # read inside the upload's wrapper
        seen = [image_set.classes[i] for i in sorted(image_set.seen)]
        text = set_report(label, root, s.descriptions, unwrapped)
        return text, gr.CheckboxGroup(choices=image_set.classes, value=seen, visible=True), gr.Button(visible=True)

    # The upload keeps its one output (the data set), as API clients read it; the report follows.
    zip_file.upload(add_zip, [state, zip_file], [state, dataset], api_name=f"{where}_dataset" if where != "train" else "upload_dataset").success(
        explain_set, [state, dataset], [report, seen_pick, seen_btn], api_name=f"{where}_upload_report", api_visibility="private"
    )
    dataset.input(explain_set, [state, dataset], [report, seen_pick, seen_btn], api_name=f"{where}_set_report")

    @user_errors
    def set_seen(s: Session, label: str | None, seen: list[str], request: gr.Request):
        folder = s.datasets.get(label or "")
        if not folder or not within(folder, svc.visitor_dir(owner_of(s, request))):
            raise InputError("choose one of your uploaded data sets first")
        image_set = load_dataset_inside(folder)
        if len(seen or []) < 1 or len(image_set.classes) - len(seen) < 2:
            raise InputError("choose at least one seen class and leave at least two unseen")
        write_seen_split(image_set, list(seen), folder)
        from .guide import unseen_images

        unseen_images.cache_clear()  # the unseen image count of this folder changed
        return explain_set(s, label)

    seen_btn.click(set_seen, [state, dataset, seen_pick], [report, seen_pick, seen_btn], api_name=f"{where}_seen_classes")
