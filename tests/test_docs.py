"""Citations resolve inside the repo: every link into docs/*.md names an anchor that exists, every section sign
is a paper's own section, and no tracked file points at documents a clone does not have."""

from __future__ import annotations

import re
import subprocess
from functools import cache
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

# Built from pieces so this file does not match its own patterns.
OUTSIDE_DOCUMENTS = re.compile("|".join([
    "runner" + "-anchors", "DESIGN" + r"\.md", "shared" + "/reference", "inception-family" + r"\.md",
    r"\.\./" + "shared/",
]))
OWN_ISSUE = re.compile(r"(?<![Ll]ightning )(?<![Pp]y[Tt]orch )(?<!Hydra )(?<!timm )\b[Ii]ssue[- ]#?\d+")
SECTION_SIGN = "\u00a7"
# A section sign must follow a paper's name ("Rethinking", "v4 paper", "GoogLeNet", "arXiv 1502.03167, " ...).
PAPER_NAMES = re.compile(r"Rethinking|GoogLeNet|BN paper|v4 paper|Inception-v4|Xception|EXIF 2\.3|arXiv \d+\.\d+")
PAPER_RIGHT_BEFORE = re.compile(r"[Pp]aper(?:'s)?[\s(]*$")
# A link may go on with ", #b (step 3), #c": #b and #c are anchors of the same file.
DOC_LINK = re.compile(r"\b(docs/[\w./-]+\.md)#([\w-]+)((?:(?: \((?:step|item) \d+\))?, #[a-z][a-z0-9-]*)*)")
LOCAL_LINK = re.compile(r"\]\(#([\w-]+)\)")


def tracked_text_files() -> dict[str, str]:
    try:
        out = subprocess.run(["git", "-C", str(ROOT), "ls-files", "-z"], check=True, capture_output=True).stdout
    except (OSError, subprocess.CalledProcessError):
        pytest.skip("not a git checkout")
    texts = {}
    for rel in out.decode().split("\0"):
        path = ROOT / rel
        if rel and path.is_file():
            try:
                texts[rel] = path.read_text(encoding="utf-8")
            except UnicodeDecodeError:
                continue
    return texts


@cache
def anchors(doc: str) -> frozenset[str]:
    """Explicit ``<a id>`` anchors and GitHub's heading anchors of a markdown file in the repo."""
    path = ROOT / doc
    if not path.is_file():
        return frozenset()
    text = path.read_text(encoding="utf-8")
    found = set(re.findall(r'<a id="([^"]+)"', text))
    for heading in re.findall(r"^#+\s+(.+?)\s*$", text, flags=re.M):
        slug = re.sub(r"[^\w\- ]", "", heading.lower()).replace(" ", "-")
        found.add(slug)
    return frozenset(found)


def where(rel: str, text: str, pos: int) -> str:
    return f"{rel}:{text.count(chr(10), 0, pos) + 1}"


def test_every_link_into_the_docs_resolves():
    broken = []
    for rel, text in tracked_text_files().items():
        for m in DOC_LINK.finditer(text):
            for anchor in [m[2], *re.findall(r"#([a-z][a-z0-9-]*)", m[3])]:
                if anchor not in anchors(m[1]):
                    broken.append(f"{where(rel, text, m.start())}: {m[1]}#{anchor}")
        if rel.endswith(".md"):
            for m in LOCAL_LINK.finditer(text):
                if m[1] not in anchors(rel):
                    broken.append(f"{where(rel, text, m.start())}: #{m[1]}")
    assert not broken, "links to anchors that do not exist:\n" + "\n".join(broken)


def test_reference_anchors_are_unique():
    text = (ROOT / "docs/reference.md").read_text(encoding="utf-8")
    ids = re.findall(r'<a id="([^"]+)"', text)
    assert len(ids) == len(set(ids)), sorted({i for i in ids if ids.count(i) > 1})


def test_no_tracked_file_points_outside_the_repo():
    found = []
    for rel, text in tracked_text_files().items():
        for m in OUTSIDE_DOCUMENTS.finditer(text):
            found.append(f"{where(rel, text, m.start())}: {m.group(0)}")
        for m in OWN_ISSUE.finditer(text):
            found.append(f"{where(rel, text, m.start())}: {m.group(0)}")
    assert not found, "mentions of documents outside the repo (cite the paper or docs/reference.md):\n" + "\n".join(found)


def test_every_section_sign_is_a_papers_section():
    bare = []
    for rel, text in tracked_text_files().items():
        for m in re.finditer(SECTION_SIGN, text):
            before = text[max(0, m.start() - 40):m.start()]
            if not (PAPER_NAMES.search(before) or PAPER_RIGHT_BEFORE.search(before)):
                bare.append(f"{where(rel, text, m.start())}: ...{before[-30:]}{text[m.start():m.start() + 8]!r}")
    assert not bare, ("a bare section sign is ambiguous: name the paper (Rethinking, v4 paper, ...) or link "
                      "docs/reference.md:\n"
                      + "\n".join(bare))

