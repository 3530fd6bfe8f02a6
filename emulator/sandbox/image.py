"""Building the sandbox image (``emulator image build``, ``make image``).

The image is tagged with a hash of everything it is made from: ``sandbox_image/Dockerfile``, ``runner.py``,
``launch.py`` and the base image's id (``emulator-sandbox:<hash12>``), so an unchanged image is never
rebuilt and a changed runner never runs on a stale image. Each build also carries the label
``emulator.sandbox.inputs=<hash of the three files>``, which is how :func:`default_image_tag` finds a usable
image at run time without knowing which base was used.

The base is, in order: ``settings.docker_base_image``; ``python:3.11-slim-bookworm`` if it is present or can
be pulled; else a Debian bookworm root file system with the science stack as Debian packages, built once
per machine by ``sandbox_image/build-base.sh`` (debootstrap from the mirror of the machine's apt sources,
then ``docker import``) and tagged ``emulator-base:bookworm-<hash of the script>``. The image build talks to
the engine through docker-py; only the base build shells out (debootstrap, ``docker import``).
"""

from __future__ import annotations

import hashlib
import subprocess
import time
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import docker
import docker.errors

import sandbox_image

if TYPE_CHECKING:
    from emulator.config import Settings

SANDBOX_IMAGE_DIR = Path(sandbox_image.__file__).resolve().parent
INPUT_FILES = ("Dockerfile", "runner.py", "launch.py")
IMAGE_REPOSITORY = "emulator-sandbox"
BASE_REPOSITORY = "emulator-base"
PUBLIC_BASE_IMAGE = "python:3.11-slim-bookworm"
DEBIAN_SUITE = "bookworm"
DEFAULT_DEBIAN_MIRROR = "http://deb.debian.org/debian"
DEBIAN_SUITE_NAMES = frozenset(
    {"buster", "bullseye", "bookworm", "trixie", "forky", "sid"}
    | {"oldstable", "stable", "testing", "unstable", "experimental"}
)
#: the image's sandbox user (``ARG SANDBOX_UID`` in the Dockerfile); the working dir's tmpfs is owned by it
SANDBOX_UID = 10001
LABEL_INPUTS = "emulator.sandbox.inputs"
LABEL_BASE = "emulator.sandbox.base"

Progress = Callable[[str], None]


class ImageBuildError(RuntimeError):
    """The sandbox image (or its base) could not be built; the message says what to do."""


def inputs_digest(directory: Path = SANDBOX_IMAGE_DIR) -> str:
    """sha256 of the files the image is built from (not the base)."""
    digest = hashlib.sha256()
    for name in INPUT_FILES:
        path = directory / name
        if not path.is_file():
            raise ImageBuildError(f"missing sandbox image input {path}")
        digest.update(name.encode() + b"\0" + path.read_bytes() + b"\0")
    return digest.hexdigest()


def image_tag_for(base_id: str, directory: Path = SANDBOX_IMAGE_DIR) -> str:
    """The content-hashed tag of the image built from ``directory`` on the base with id ``base_id``."""
    digest = hashlib.sha256(f"{inputs_digest(directory)}\0{base_id}".encode()).hexdigest()
    return f"{IMAGE_REPOSITORY}:{digest[:12]}"


def debian_base_tag(directory: Path = SANDBOX_IMAGE_DIR) -> str:
    """The tag of the debootstrap-built base: the script fixes the suite and package list, so hash it."""
    script = (directory / "build-base.sh").read_bytes()
    return f"{BASE_REPOSITORY}:{DEBIAN_SUITE}-{hashlib.sha256(script).hexdigest()[:12]}"


def default_image_tag(
    settings: Settings | None = None, client: docker.DockerClient | None = None
) -> str | None:
    """The image the docker sandbox should run: ``settings.docker_image`` if set, else the newest local
    image built from the current Dockerfile and runner (any base), else ``None``: ``emulator image build``."""
    if settings is not None and settings.docker_image:
        return settings.docker_image
    client = client or docker.from_env()
    images = client.images.list(filters={"label": f"{LABEL_INPUTS}={inputs_digest()}"})
    tagged = [image for image in images if image.tags]
    if not tagged:
        return None
    newest = max(tagged, key=lambda image: str(image.attrs.get("Created", "")))
    own = [
        tag for tag in newest.tags if tag.startswith(f"{IMAGE_REPOSITORY}:") and not tag.endswith(":latest")
    ]
    return own[0] if own else newest.tags[0]


def ensure_image(settings: Settings, client: docker.DockerClient, *, progress: Progress = print) -> str:
    """The tag of a usable sandbox image, building it when the default one is missing (slow the first time
    on a machine: see :func:`build_image`). An explicit ``settings.docker_image`` must exist already."""
    tag = default_image_tag(settings, client)
    if tag is not None and _image_exists(client, tag):
        return tag
    if settings.docker_image:
        raise ImageBuildError(
            f"sandbox image {settings.docker_image} not found: run `emulator image build "
            f"--docker-image {settings.docker_image}` or unset EMULATOR_DOCKER_IMAGE"
        )
    progress("no sandbox image for this runner yet: building it now (`emulator image build` does it ahead)")
    return build_image(settings, progress=progress, client=client)


def build_image(
    settings: Settings,
    *,
    progress: Progress = print,
    client: docker.DockerClient | None = None,
    directory: Path = SANDBOX_IMAGE_DIR,
) -> str:
    """Build the sandbox image unless an identical one exists; return its tag (``settings.docker_image``
    when set: the content-hashed image is tagged with that name too). Blocking: minutes the first time on a
    machine without a registry, where the Debian base is built with debootstrap."""
    client = client or docker.from_env(timeout=600)
    base = _resolve_base(settings, client, progress, directory)
    base_id = client.images.get(base).id
    tag = image_tag_for(base_id, directory)
    if _image_exists(client, tag):
        progress(f"{tag} is up to date (base {base})")
    else:
        _build(client, tag, base, progress, directory)
    if settings.docker_image and settings.docker_image != tag:
        repository, _, name = settings.docker_image.rpartition(":")
        if not repository or "/" in name:  # no tag given ("repo" or "host:port/repo")
            repository, name = settings.docker_image, "latest"
        client.images.get(tag).tag(repository, name)
        progress(f"tagged {tag} as {settings.docker_image}")
        return settings.docker_image
    return tag


def _build(client: docker.DockerClient, tag: str, base: str, progress: Progress, directory: Path) -> None:
    progress(f"building {tag} from {directory} on {base}")
    chunks = client.api.build(
        path=str(directory),
        tag=tag,
        buildargs={"BASE_IMAGE": base, "SANDBOX_UID": str(SANDBOX_UID)},
        labels={LABEL_INPUTS: inputs_digest(directory), LABEL_BASE: base},
        rm=True,
        forcerm=True,
        pull=False,
        decode=True,
    )
    _follow_build(chunks, progress)
    client.images.get(tag).tag(IMAGE_REPOSITORY, "latest")
    progress(f"built {tag}")


def _follow_build(chunks: Iterable[dict[str, object]], progress: Progress) -> None:
    for chunk in chunks:
        if "error" in chunk:
            raise ImageBuildError(f"docker build failed: {str(chunk['error']).strip()}")
        text = chunk.get("stream") or chunk.get("status")
        if isinstance(text, str) and text.strip():
            progress(text.rstrip())


def _image_exists(client: docker.DockerClient, ref: str) -> bool:
    try:
        client.images.get(ref)
    except docker.errors.ImageNotFound:
        return False
    return True


def _resolve_base(
    settings: Settings, client: docker.DockerClient, progress: Progress, directory: Path
) -> str:
    if settings.docker_base_image:
        if not _image_exists(client, settings.docker_base_image):
            progress(f"pulling {settings.docker_base_image}")
            try:
                client.images.pull(settings.docker_base_image)
            except docker.errors.APIError as exc:
                raise ImageBuildError(f"cannot pull base image {settings.docker_base_image}: {exc}") from exc
        return settings.docker_base_image
    if _image_exists(client, PUBLIC_BASE_IMAGE):
        return PUBLIC_BASE_IMAGE
    debian = debian_base_tag(directory)
    if _image_exists(client, debian):
        return debian
    try:
        progress(f"pulling {PUBLIC_BASE_IMAGE}")
        client.images.pull(PUBLIC_BASE_IMAGE)
        return PUBLIC_BASE_IMAGE
    except docker.errors.APIError as exc:
        progress(f"cannot pull {PUBLIC_BASE_IMAGE} ({_first_line(exc)}); building a Debian base instead")
    mirror = settings.docker_debian_mirror or apt_debian_mirror() or DEFAULT_DEBIAN_MIRROR
    _build_debian_base(debian, mirror, progress, directory)
    return debian


def _build_debian_base(tag: str, mirror: str, progress: Progress, directory: Path) -> None:
    script = directory / "build-base.sh"
    progress(f"building base {tag} with debootstrap from {mirror} (a few minutes, once per machine)")
    command = ["bash", str(script), mirror, tag, DEBIAN_SUITE]
    with subprocess.Popen(
        command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, errors="replace"
    ) as proc:
        assert proc.stdout is not None
        tail: list[str] = []
        for line in proc.stdout:
            progress(line.rstrip())
            tail = [*tail[-19:], line.rstrip()]
        code = proc.wait()
    if code != 0:
        raise ImageBuildError(f"building the Debian base failed (exit {code}):\n" + "\n".join(tail))


def _first_line(exc: BaseException) -> str:
    return str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__


# --- apt sources -------------------------------------------------------------------------------------------


def apt_debian_mirror(apt_dir: Path = Path("/etc/apt")) -> str | None:
    """The first Debian archive (not the security archive) in the machine's apt sources, one-line
    ``sources.list`` format or deb822 ``*.sources``; ``None`` when there is none."""
    for uri in _apt_uris(apt_dir):
        if uri.startswith(("http://", "https://")) and "security" not in uri:
            return uri.rstrip("/")
    return None


def _apt_uris(apt_dir: Path) -> Iterator[str]:
    files: list[Path] = []
    if (apt_dir / "sources.list").is_file():
        files.append(apt_dir / "sources.list")
    parts = apt_dir / "sources.list.d"
    if parts.is_dir():
        files += sorted(p for p in parts.iterdir() if p.suffix in (".list", ".sources"))
    for path in files:
        try:
            text = path.read_text(errors="replace")
        except OSError:
            continue
        yield from _deb822_uris(text) if path.suffix == ".sources" else _one_line_uris(text)


def _one_line_uris(text: str) -> Iterator[str]:
    for raw in text.splitlines():
        words = raw.split("#", 1)[0].split()
        if not words or words[0] != "deb":
            continue
        words = words[1:]
        if words and words[0].startswith("["):  # options: [arch=amd64 signed-by=...]
            while words and not words[0].endswith("]"):
                words = words[1:]
            words = words[1:]
        if len(words) >= 2 and _is_debian_suite(words[1]):
            yield words[0]


def _deb822_uris(text: str) -> Iterator[str]:
    for paragraph in text.split("\n\n"):
        fields: dict[str, str] = {}
        key = ""
        for line in paragraph.splitlines():
            if not line.strip() or line.lstrip().startswith("#"):
                continue
            if line[0].isspace() and key:  # continuation line
                fields[key] += " " + line.strip()
            elif ":" in line:
                key, _, value = line.partition(":")
                key = key.strip().lower()
                fields[key] = value.strip()
        if fields.get("enabled", "yes").lower() == "no" or "deb" not in fields.get("types", "").split():
            continue
        if any(_is_debian_suite(suite) for suite in fields.get("suites", "").split()):
            yield from fields.get("uris", "").split()


def _is_debian_suite(suite: str) -> bool:
    """A suite of the main Debian archive (bookworm, trixie, stable, bookworm-updates, ...), not a
    third-party repository's (``nodistro``, ``cloud-sdk-bookworm``)."""
    name = suite.split("-", 1)[0]
    return name in DEBIAN_SUITE_NAMES


def main() -> None:
    """``python -m emulator.sandbox.image``: build the sandbox image, printing progress (CI uses this)."""
    from emulator.config import Settings

    started = time.monotonic()
    tag = build_image(Settings(), progress=lambda line: print(line, flush=True))
    print(f"sandbox image: {tag} ({time.monotonic() - started:.0f} s)", flush=True)


if __name__ == "__main__":
    main()
