"""The vendored browser libraries: each is the release its note names, with its licence.

Every chart of the page loads plotly.js's cartesian bundle (vendor/plotly.js-cartesian); the figures are
built and validated (tests/test_figures.py) with the plotly package: the two must be the same release, or a
figure the package accepts could draw differently, or not at all, in the page.
"""

import hashlib
import re
from pathlib import Path

import plotly

VENDOR = Path(__file__).resolve().parent.parent / "vendor"


def _header_version(path: Path) -> str:
    """The version a minified release names in its opening comment ("plotly.js (…) v4.1.1", "axe v4.14.1")."""
    head = path.read_text(encoding="utf-8", errors="replace")[:400]
    found = re.search(r"\bv(\d+\.\d+\.\d+)\b", head)
    assert found, f"{path.name} names no version in its header: {head[:120]!r}"
    return found.group(1)


def test_cartesian_plotly_is_the_plotly_package_release():
    ours = _header_version(VENDOR / "plotly.js-cartesian" / "plotly-cartesian.min.js")
    package = _header_version(Path(plotly.__file__).parent / "package_data" / "plotly.min.js")
    assert ours == package, (
        f"vendor/plotly.js-cartesian is plotly.js {ours}, the plotly package ships {package}: "
        "update it as its VERSION.md says"
    )


def test_every_vendored_library_has_its_licence_and_a_note_naming_its_version():
    libraries = {"plotly.js-cartesian": "plotly-cartesian.min.js", "axe-core": "axe.min.js"}
    assert {folder.name for folder in VENDOR.iterdir() if folder.is_dir()} == set(libraries) | set(TFJS)
    for folder, script in libraries.items():
        version = _header_version(VENDOR / folder / script)
        assert (VENDOR / folder / "LICENSE").read_text().strip(), folder
        note = (VENDOR / folder / "VERSION.md").read_text()
        assert f"@{version}" in note and note.splitlines()[0].endswith(version), (folder, version)


# TensorFlow.js (the page's model in the browser): its files name no version in a header, so each
# note lists the files with their sha256, and the scripts' own version constants are checked.
TFJS = {
    "tfjs": {"tf.es2017.min.js": '"tfjs-layers 4.22.0"'},
    "tfjs-backend-wasm": {
        "tf-backend-wasm.es2017.min.js": 'version_wasm="4.22.0"',
        "tfjs-backend-wasm-simd.wasm": None,
        "tfjs-backend-wasm.wasm": None,
    },
}


def test_tensorflow_js_is_the_release_its_notes_name_file_by_file():
    versions = set()
    for folder, files in TFJS.items():
        note = (VENDOR / folder / "VERSION.md").read_text()
        version = note.splitlines()[0].rsplit(" ", 1)[-1]
        versions.add(version)
        assert f"`@tensorflow/{folder}`, version {version}" in note and f"@tensorflow/{folder}@{version}" in note
        assert "Apache License" in (VENDOR / folder / "LICENSE").read_text(), folder
        assert {path.name for path in (VENDOR / folder).iterdir()} == {*files, "LICENSE", "VERSION.md"}, folder
        for name, marker in files.items():
            data = (VENDOR / folder / name).read_bytes()
            assert f"{name}`" in note and f"sha256 {hashlib.sha256(data).hexdigest()}" in note, (
                f"vendor/{folder}/{name} is not the file its VERSION.md names (sha256)"
            )
            if marker:  # the release's own version constant, as the file says it
                assert marker.replace("4.22.0", version).encode() in data, (folder, name)
    assert len(versions) == 1, f"tfjs and its WASM backend must be one release, not {versions}"
