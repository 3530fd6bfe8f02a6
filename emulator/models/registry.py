"""Which backend answers a requested model name."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from emulator.core.errors import ModelNotFound
from emulator.models.base import Model


class ModelRegistry:
    """An ordered list of backends; the first that ``serves`` a name answers for it."""

    def __init__(self, backends: Sequence[Model]) -> None:
        self.backends = list(backends)

    def resolve(self, name: str, options: Mapping[str, str] | None = None) -> Model:
        """The backend for ``name``; a backend with ``claims(options)`` may take a request by its headers
        (the scripted backend takes any request carrying ``x-emulator-script``)."""
        if options:
            for backend in self.backends:
                claims = getattr(backend, "claims", None)
                if claims is not None and claims(options):
                    return backend
        for backend in self.backends:
            if backend.serves(name):
                return backend
        raise ModelNotFound(
            f"The model `{name}` does not exist or you do not have access to it.", param="model"
        )

    def add(self, backend: Model) -> None:
        self.backends.insert(0, backend)

    async def aclose(self) -> None:
        for backend in self.backends:
            await backend.aclose()
