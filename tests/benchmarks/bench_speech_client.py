"""Benchmark: a caller sentence through ``/v1/audio/speech``, fetched and then served from the disk cache.

    python tests/benchmarks/bench_speech_client.py [--repeat 20] [--openai]

Against a local Realtime server on loopback (eSpeak behind OpenAI's route), or with ``--openai``
against OpenAI's endpoint (``OPENAI_API_KEY``, ``OPENAI_BASE_URL``). Figures: the median and worst
time of a fetch (HTTP round trip and synthesis, no cache), of a disk-cache hit (a fresh client, a
fresh ``SpeechCache``, reading and checking the file), and the seconds of speech per sentence.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from audio.server import LocalRealtimeServer, ServerConfig  # noqa: E402
from audio.speech import SPEECH_RATE, SpeechCache, SpeechClient  # noqa: E402
from audio.wire import DEFAULT_BASE_URL, normalize_base_url  # noqa: E402

SENTENCES = ["What's the weather in Paris today?", "Hello, can you hear me?",
             "Tell me a long story about the sea and the mountains.", "Sorry, please go on."]


async def measure(base_url: str, key: str, repeat: int) -> None:
    fetches, hits, seconds = [], [], []
    with tempfile.TemporaryDirectory() as folder:
        for n in range(repeat):
            text = f"{SENTENCES[n % len(SENTENCES)]} ({n})" if repeat > len(SENTENCES) else SENTENCES[n]
            started = time.perf_counter()
            audio = await SpeechClient(base_url, key, cache=SpeechCache(Path(folder))).speak(text, "marin")
            fetches.append(time.perf_counter() - started)
            seconds.append(len(audio) / SPEECH_RATE)
            started = time.perf_counter()
            again = await SpeechClient(base_url, key, cache=SpeechCache(Path(folder))).speak(text, "marin")
            hits.append(time.perf_counter() - started)
            assert len(again) == len(audio)
    print(f"{len(fetches)} sentences, {statistics.median(seconds):.2f} s of speech each (median)")
    print(f"fetch:     median {statistics.median(fetches) * 1000:7.1f} ms, worst {max(fetches) * 1000:7.1f} ms")
    print(f"cache hit: median {statistics.median(hits) * 1000:7.2f} ms, worst {max(hits) * 1000:7.2f} ms")


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeat", type=int, default=20)
    parser.add_argument("--openai", action="store_true", help="OpenAI's endpoint instead of a local server")
    args = parser.parse_args()
    if args.openai:
        key = os.environ.get("OPENAI_API_KEY") or sys.exit("--openai needs OPENAI_API_KEY")
        await measure(normalize_base_url(os.environ.get("OPENAI_BASE_URL") or DEFAULT_BASE_URL), key, args.repeat)
        return
    async with LocalRealtimeServer(ServerConfig(port=0)) as server:
        await measure(server.base_url, "voxflow-local", args.repeat)


if __name__ == "__main__":
    asyncio.run(main())
