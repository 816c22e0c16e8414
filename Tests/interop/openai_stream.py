#!/usr/bin/env python3
"""Interop: the official OpenAI Python client, streaming and not, against a Switchyard endpoint.

Run by Tests/interop/run.sh inside its venv (see requirements.txt):

    openai_stream.py --base-url http://127.0.0.1:PORT/v1 --model sim-llama

Prints one PASS or FAIL line per check and exits non-zero if any check failed. Each check asserts
what a client relies on: the content arrives (in more than one chunk when streamed), the choice
carries a finish_reason, and the stream ends cleanly (the client stops at `data: [DONE]`).
"""
import argparse
import sys
import time

from openai import OpenAI

# Enough tokens that a streamed answer must span several SSE events, few enough to stay fast.
MAX_TOKENS = 24
# Per-request bound: the simulated replicas answer in well under a second; a hung router fails fast.
REQUEST_TIMEOUT_SECONDS = 15.0

CHAT_MESSAGES = [
    {"role": "system", "content": "You are a terse assistant."},
    {"role": "user", "content": "Count from one to twenty in words."},
]
PROMPT = "Once upon a time, in a data centre far away,"


class CheckFailed(Exception):
    pass


def require(condition: bool, message: str) -> None:
    if not condition:
        raise CheckFailed(message)


def chat_stream(client: OpenAI, model: str) -> str:
    started = time.monotonic()
    stream = client.chat.completions.create(
        model=model, messages=CHAT_MESSAGES, max_tokens=MAX_TOKENS, stream=True
    )
    pieces, finish_reason, events = [], None, 0
    for chunk in stream:
        events += 1
        for choice in chunk.choices:
            if choice.delta is not None and choice.delta.content:
                pieces.append(choice.delta.content)
            if choice.finish_reason:
                finish_reason = choice.finish_reason
    elapsed = time.monotonic() - started
    require(len(pieces) > 1, f"content arrived in {len(pieces)} chunk(s), want more than one")
    require(finish_reason is not None, "no chunk carried a finish_reason")
    return f"{events} events, {len(pieces)} content chunks, finish_reason={finish_reason}, {elapsed:.2f}s"


def completion_stream(client: OpenAI, model: str) -> str:
    started = time.monotonic()
    stream = client.completions.create(model=model, prompt=PROMPT, max_tokens=MAX_TOKENS, stream=True)
    pieces, finish_reason, events = [], None, 0
    for chunk in stream:
        events += 1
        for choice in chunk.choices:
            if choice.text:
                pieces.append(choice.text)
            if choice.finish_reason:
                finish_reason = choice.finish_reason
    elapsed = time.monotonic() - started
    require(len(pieces) > 1, f"text arrived in {len(pieces)} chunk(s), want more than one")
    require(finish_reason is not None, "no chunk carried a finish_reason")
    return f"{events} events, {len(pieces)} text chunks, finish_reason={finish_reason}, {elapsed:.2f}s"


def chat_whole(client: OpenAI, model: str) -> str:
    response = client.chat.completions.create(model=model, messages=CHAT_MESSAGES, max_tokens=MAX_TOKENS)
    require(len(response.choices) >= 1, "response has no choices")
    choice = response.choices[0]
    require(bool(choice.message.content), "choice has no message content")
    require(choice.finish_reason is not None, "choice has no finish_reason")
    usage = f", completion_tokens={response.usage.completion_tokens}" if response.usage else ""
    return f"{len(choice.message.content)} chars, finish_reason={choice.finish_reason}{usage}"


def completion_whole(client: OpenAI, model: str) -> str:
    response = client.completions.create(model=model, prompt=PROMPT, max_tokens=MAX_TOKENS)
    require(len(response.choices) >= 1, "response has no choices")
    choice = response.choices[0]
    require(bool(choice.text), "choice has no text")
    require(choice.finish_reason is not None, "choice has no finish_reason")
    return f"{len(choice.text)} chars, finish_reason={choice.finish_reason}"


def models_list(client: OpenAI, model: str) -> str:
    ids = [m.id for m in client.models.list()]
    require(model in ids, f"model {model!r} not listed; got {ids}")
    return f"ids={ids}"


CHECKS = [
    ("chat.completions stream", chat_stream),
    ("completions stream", completion_stream),
    ("chat.completions non-streaming", chat_whole),
    ("completions non-streaming", completion_whole),
    ("models.list", models_list),
]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--base-url", required=True, help="e.g. http://127.0.0.1:8080/v1")
    parser.add_argument("--model", default="sim-llama")
    args = parser.parse_args()

    # The router needs no key; the client insists on one. No retries: a retry would hide a failure.
    client = OpenAI(base_url=args.base_url, api_key="sk-interop-unused",
                    timeout=REQUEST_TIMEOUT_SECONDS, max_retries=0)
    failed = 0
    for name, check in CHECKS:
        try:
            print(f"PASS openai {name}: {check(client, args.model)}", flush=True)
        except Exception as error:  # any exception is this check's failure; the others still run
            failed += 1
            print(f"FAIL openai {name}: {type(error).__name__}: {error}", flush=True)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
