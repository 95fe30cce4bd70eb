"""`python -m simulator --product-url http://127.0.0.1:6060`: the demo's simulated Twilio and OpenAI
(simulator/demo.py), in demo mode only.

It refuses to start unless DEMO_MODE is on. Once listening it prints one JSON line, the environment that points
voicebot at it, and runs until SIGINT or SIGTERM.
"""
import argparse
import asyncio
import json
import signal
import sys

from decouple import config

from simulator.demo import simulate


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m simulator", description=__doc__.splitlines()[0])
    parser.add_argument("--product-url", required=True, help="where voicebot listens, e.g. http://127.0.0.1:6060")
    args = parser.parse_args(argv)
    if not config("DEMO_MODE", default=False, cast=bool):
        print("The simulator runs in demo mode only (DEMO_MODE=true): use `make demo`.", file=sys.stderr)
        return 2
    asyncio.run(_run(args.product_url))
    return 0


async def _run(product_url: str) -> None:
    stopping = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stopping.set)

    def ready(env: dict[str, str]) -> None:
        print(json.dumps(env), flush=True)

    running = asyncio.create_task(simulate(product_url=product_url, ready=ready))
    await asyncio.wait({running, asyncio.create_task(stopping.wait())}, return_when=asyncio.FIRST_COMPLETED)
    if running.done():
        running.result()  # it failed: say why
    running.cancel()
    await asyncio.gather(running, return_exceptions=True)


if __name__ == "__main__":
    sys.exit(main())
