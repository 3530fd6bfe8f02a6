"""Image tags and the apt-sources mirror lookup, without an engine."""

from __future__ import annotations

import shutil
from pathlib import Path

from emulator.sandbox.image import (
    SANDBOX_IMAGE_DIR,
    apt_debian_mirror,
    debian_base_tag,
    image_tag_for,
    inputs_digest,
)


def test_image_tag_is_a_content_hash_of_inputs_and_base(tmp_path: Path) -> None:
    for name in ("Dockerfile", "runner.py", "launch.py", "build-base.sh"):
        shutil.copy(SANDBOX_IMAGE_DIR / name, tmp_path / name)
    tag = image_tag_for("sha256:base1", tmp_path)
    assert tag.startswith("emulator-sandbox:") and len(tag.split(":")[1]) == 12
    assert image_tag_for("sha256:base1", tmp_path) == tag
    assert image_tag_for("sha256:base2", tmp_path) != tag
    digest = inputs_digest(tmp_path)
    (tmp_path / "runner.py").write_text((tmp_path / "runner.py").read_text() + "\n# changed\n")
    assert inputs_digest(tmp_path) != digest
    assert image_tag_for("sha256:base1", tmp_path) != tag


def test_debian_base_tag_names_the_suite_and_hashes_the_script() -> None:
    assert debian_base_tag().startswith("emulator-base:bookworm-")


def test_mirror_from_deb822_sources_skips_security_and_third_party(tmp_path: Path) -> None:
    (tmp_path / "sources.list.d").mkdir()
    (tmp_path / "sources.list.d" / "nodesource.sources").write_text(
        "Types: deb\nURIs: https://deb.nodesource.com/node_20.x\nSuites: nodistro\nComponents: main\n"
    )
    (tmp_path / "sources.list.d" / "debian.sources").write_text(
        "Types: deb\n"
        "# http://snapshot.debian.org/archive/debian/20250520T000000Z\n"
        "URIs: http://deb.debian.org/debian\n"
        "Suites: bookworm bookworm-updates\n"
        "Components: main\n"
        "\n"
        "Types: deb\n"
        "URIs: http://deb.debian.org/debian-security\n"
        "Suites: bookworm-security\n"
    )
    assert apt_debian_mirror(tmp_path) == "http://deb.debian.org/debian"


def test_mirror_from_one_line_sources_list_with_options(tmp_path: Path) -> None:
    (tmp_path / "sources.list").write_text(
        "# comment\n"
        "deb-src http://src.example/debian bookworm main\n"
        "deb https://packages.cloud.google.com/apt cloud-sdk-bookworm main\n"
        "deb [arch=amd64 signed-by=/usr/share/keyrings/k.gpg] http://mirror.example/debian/ bookworm main\n"
    )
    assert apt_debian_mirror(tmp_path) == "http://mirror.example/debian"


def test_disabled_sources_and_other_suffixes_are_ignored(tmp_path: Path) -> None:
    (tmp_path / "sources.list.d").mkdir()
    (tmp_path / "sources.list.d" / "a.sources").write_text(
        "Enabled: no\nTypes: deb\nURIs: http://off.example/debian\nSuites: bookworm\n"
    )
    (tmp_path / "sources.list.d" / "b.list.disabled").write_text(
        "deb http://off2.example/debian bookworm main\n"
    )
    assert apt_debian_mirror(tmp_path) is None
