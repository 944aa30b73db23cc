#!/usr/bin/env python3
"""Fail on a broken relative link or #anchor in README.md and docs/**/*.md (offline).

A link's file must exist (relative to the page; `.html` in the book stands for its `.md`), and
its #anchor must be a heading of that page as mdBook numbers them: the heading's text lower-cased,
whitespace to '-', everything but letters, digits, '-' and '_' dropped, '-1', '-2' … appended to
repeats; an explicit `{#id}` and `<a id=…>`/`name=` count too. External links (a scheme such
as https:) are not fetched. Prints file:line: link for each broken one; exit 1 if any.
Usage: python3 scripts/check-links.py [ROOT]
"""

import re
import sys
from pathlib import Path

INLINE = re.compile(r"!?\[(?:[^\[\]]|\[[^\]]*\])*\]\(\s*<?([^)\s>]*)>?(?:\s+\"[^\"]*\")?\s*\)")
REFERENCE_DEF = re.compile(r"^\s{0,3}\[[^\]]+\]:\s*<?(\S+?)>?(?:\s+.*)?$")
HEADING = re.compile(r"^\s{0,3}(#{1,6})\s+(.*?)\s*#*\s*$")
EXPLICIT_ID = re.compile(r"\s*\{#([^}\s]+)[^}]*\}\s*$")
HTML_ID = re.compile(r"<a\s[^>]*\b(?:id|name)=\"([^\"]+)\"", re.I)
SCHEME = re.compile(r"^[a-zA-Z][a-zA-Z0-9+.-]*:")


def prose_lines(text):
    """(line number, line) outside fenced code blocks, inline code spans blanked out."""
    fence = None
    for number, line in enumerate(text.splitlines(), 1):
        stripped = line.lstrip()
        if fence:
            if stripped.startswith(fence):
                fence = None
            continue
        match = re.match(r"(`{3,}|~{3,})", stripped)
        if match:
            fence = match.group(1)
            continue
        yield number, line


def without_code(line):
    return re.sub(r"(`+).+?\1", lambda m: " " * len(m.group(0)), line)


def heading_text(raw):
    """The text mdBook renders for a heading's Markdown."""
    text = re.sub(r"!?\[([^\]]*)\]\([^)]*\)", r"\1", raw)  # links and images: their text
    text = re.sub(r"<[^>]+>", "", text)  # inline HTML
    parts = text.split("`")
    for i in range(0, len(parts), 2):  # emphasis markers outside code spans
        parts[i] = re.sub(r"\*+", "", parts[i])
        parts[i] = re.sub(r"(?<![A-Za-z0-9])_+|_+(?![A-Za-z0-9])", "", parts[i])
    return "".join(parts)


def normalize_id(text):
    out = []
    for ch in text:
        if ch.isalnum() or ch in "-_":
            out.append(ch.lower() if ch.isascii() else ch)
        elif ch.isspace():
            out.append("-")
    return "".join(out)


_anchors = {}


def anchors_of(path):
    if path not in _anchors:
        seen, ids = {}, set()
        for _, line in prose_lines(path.read_text(encoding="utf-8")):
            ids.update(HTML_ID.findall(line))
            match = HEADING.match(line)
            if not match:
                continue
            text = match.group(2)
            explicit = EXPLICIT_ID.search(text)
            if explicit:
                ids.add(explicit.group(1))
                continue
            base = normalize_id(heading_text(text))
            count = seen.get(base, 0)
            seen[base] = count + 1
            ids.add(base if count == 0 else f"{base}-{count}")
        _anchors[path] = ids
    return _anchors[path]


def check_link(root, page, target):
    """None if `target` (as written in `page`) resolves, else why not."""
    if not target or SCHEME.match(target) or target.startswith("//"):
        return None
    path_part, _, anchor = target.partition("#")
    path_part = re.sub(r"\?.*$", "", path_part)
    if path_part.startswith("/"):
        return "absolute path (use a relative link)"
    file = (page.parent / path_part).resolve() if path_part else page
    if not file.exists() and file.suffix == ".html":
        file = file.with_suffix(".md")
    if not file.exists():
        return "no such file"
    try:
        file.relative_to(root)
    except ValueError:
        return "outside the repository"
    if anchor and file.suffix == ".md" and anchor not in anchors_of(file):
        return f"no heading #{anchor} in {file.relative_to(root)}"
    return None


def main():
    root = Path(sys.argv[1] if len(sys.argv) > 1 else Path(__file__).resolve().parent.parent)
    root = root.resolve()
    pages = [root / "README.md"] if (root / "README.md").exists() else []
    pages += sorted((root / "docs").rglob("*.md")) if (root / "docs").exists() else []
    broken = checked = 0
    for page in pages:
        for number, line in prose_lines(page.read_text(encoding="utf-8")):
            prose = without_code(line)
            targets = [m.group(1) for m in INLINE.finditer(prose)]
            definition = REFERENCE_DEF.match(prose)
            if definition:
                targets.append(definition.group(1))
            for target in targets:
                checked += 1
                why = check_link(root, page, target)
                if why:
                    broken += 1
                    print(f"{page.relative_to(root)}:{number}: {target}: {why}")
    if broken:
        print(f"check-links: {broken} broken of {checked} links in {len(pages)} files", file=sys.stderr)
        return 1
    print(f"check-links: {checked} links in {len(pages)} files, all resolve")
    return 0


if __name__ == "__main__":
    sys.exit(main())
