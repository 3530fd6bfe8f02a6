"""``emulator serve | ask | image build | doctor``.

Every ``serve`` flag is also an ``EMULATOR_*`` environment variable (see ``config.Settings``); a flag given
on the command line wins over the environment.
"""

from __future__ import annotations

import argparse
import logging
import sys
from typing import Any

from emulator.config import Settings


def _serve_parser(sub: Any) -> None:
    serve = sub.add_parser("serve", help="run the emulator's HTTP server")
    serve.add_argument("--host", help="bind address (default 127.0.0.1)")
    serve.add_argument("--port", type=int, help="port (default 8000)")
    serve.add_argument("--model", help="model backend: builtin (default) or openai-compatible")
    serve.add_argument(
        "--sandbox", choices=["auto", "restricted", "docker"], help="sandbox backend (default auto)"
    )
    serve.add_argument("--api-key", dest="api_key", help="require this Bearer key (default: accept any key)")
    serve.add_argument(
        "--exec-timeout", dest="exec_timeout", type=float, help="seconds per execution (default 30)"
    )
    serve.add_argument(
        "--max-rounds", dest="max_rounds", type=int, help="code executions per turn (default 5)"
    )
    serve.add_argument("--pool-size", dest="docker_pool_size", type=int, help="warm containers (default 2)")
    serve.add_argument(
        "--docker-runtime", dest="docker_runtime", help="container runtime, e.g. runsc (gVisor)"
    )
    serve.add_argument("--docker-image", dest="docker_image", help="sandbox image tag")
    serve.add_argument(
        "--cassette-dir", dest="cassette_dir", help="load scripted cassettes from this directory"
    )
    serve.add_argument("--record", dest="record_dir", help="record upstream turns as cassettes here")
    serve.add_argument("--upstream-url", dest="upstream_url", help="OpenAI-compatible base URL")
    serve.add_argument("--upstream-model", dest="upstream_model", help="model name at the upstream")
    serve.add_argument("--upstream-key", dest="upstream_key", help="API key for the upstream")
    serve.add_argument("--seed", type=int, help="pin ids and timestamps (recordings, replays)")
    serve.add_argument("--log-level", dest="log_level", help="debug, info, warning, error")


def settings_from_args(args: argparse.Namespace) -> Settings:
    not_settings = ("command", "image_command", "prompt", "model_name")
    given = {k: v for k, v in vars(args).items() if v is not None and k not in not_settings}
    return Settings(**given)


def serve(settings: Settings) -> int:
    import uvicorn

    from emulator.app import StartupError, create_app, select_sandbox

    logging.basicConfig(
        level=settings.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    if settings.sandbox == "docker":
        try:
            select_sandbox(settings)  # fail fast, before binding the port
        except StartupError as exc:
            print(f"emulator: {exc}", file=sys.stderr)
            return 2
    try:
        uvicorn.run(
            create_app(settings),
            host=settings.host,
            port=settings.port,
            log_level=settings.log_level.lower(),
            timeout_graceful_shutdown=10,
        )
    except StartupError as exc:
        print(f"emulator: {exc}", file=sys.stderr)
        return 2
    return 0


def image_build(settings: Settings) -> int:
    from emulator.sandbox.image import build_image

    tag = build_image(settings, progress=lambda line: print(line, flush=True))
    print(tag)
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="emulator", description=__doc__.splitlines()[0] if __doc__ else None
    )
    sub = parser.add_subparsers(dest="command", required=True)
    _serve_parser(sub)
    image = sub.add_parser("image", help="the Docker sandbox image")
    image_sub = image.add_subparsers(dest="image_command", required=True)
    build = image_sub.add_parser("build", help="build the sandbox image (offline fallback: debootstrap)")
    build.add_argument("--docker-image", dest="docker_image", help="tag to build (default: content hash)")
    ask_cmd = sub.add_parser("ask", help="run one code-interpreter turn in the terminal (no server)")
    ask_cmd.add_argument("prompt", help='e.g. "Berapa 123 pangkat 21?" or a message with ```python blocks')
    ask_cmd.add_argument(
        "--sandbox", choices=["auto", "restricted", "docker"], help="sandbox backend (default auto)"
    )
    ask_cmd.add_argument("--model", help="model backend (default builtin)")
    ask_cmd.add_argument("--model-name", dest="model_name", default="qwen3-max", help="model name to ask for")
    ask_cmd.add_argument("--exec-timeout", dest="exec_timeout", type=float, help="seconds per execution")
    doctor_cmd = sub.add_parser("doctor", help="what serve would use on this machine, and why")
    doctor_cmd.add_argument(
        "--sandbox", choices=["auto", "restricted", "docker"], help="sandbox backend (default auto)"
    )
    args = parser.parse_args(argv)
    try:
        settings = settings_from_args(args)
    except ValueError as exc:
        print(f"emulator: invalid setting: {exc}", file=sys.stderr)
        return 2
    if args.command == "serve":
        return serve(settings)
    if args.command == "ask":
        from emulator.app import StartupError
        from emulator.terminal import run_ask

        logging.basicConfig(level="WARNING")
        try:
            return run_ask(settings, args.prompt, args.model_name)
        except StartupError as exc:
            print(f"emulator: {exc}", file=sys.stderr)
            return 2
    if args.command == "doctor":
        from emulator.terminal import doctor

        return doctor(settings)
    return image_build(settings)


if __name__ == "__main__":
    sys.exit(main())
