"""The rule script: function calls with the service's event sequence (checked with the SDK's models)."""

from __future__ import annotations

import json

import pytest
from openai.types.realtime.realtime_server_event import RealtimeServerEvent
from pydantic import TypeAdapter

from audio.base.errors import VoxflowError
from audio.server.tool_script import ToolScript, looks_like_rules
from tests.realtime_server.client import WAIT

SCRIPT = """
- when: "(?i)weather.*(paris|london)"
  call: get_weather
  arguments: {city: "{1}"}
  say: "It is {tool_output}."
- when: "(?i)lights? (on|off)"
  call: set_lights
  arguments: {state: "{1}"}
- when: ".*"
  say: "You said: {text}"
"""
TEXT_ONLY = {"type": "realtime", "output_modalities": ["text"], "audio": {"input": {"turn_detection": None}}}
SERVER_EVENT = TypeAdapter(RealtimeServerEvent)


def say(client, text: str) -> None:
    client.send("conversation.item.create", item={"type": "message", "role": "user",
                                                  "content": [{"type": "input_text", "text": text}]})
    client.send("response.create")


@pytest.mark.slow
async def test_a_call_then_the_reply_with_its_output(make_server, make_client) -> None:
    server = await make_server(rules=ToolScript.parse(SCRIPT), speech=False)
    client = make_client(server.base_url)
    await client.connect(TEXT_ONLY)
    say(client, "What is the weather in Paris")
    done = await client.next("response.done")
    [item] = done["response"]["output"]
    assert item["type"] == "function_call" and item["name"] == "get_weather"
    assert json.loads(item["arguments"]) == {"city": "Paris"}
    start = client.events.index(done)
    sequence = [event["type"] for event in client.events[:start + 1] if event["type"].startswith(("response.", "conversation.item"))]
    kinds = [t for t in sequence if t != "conversation.item.added"]
    assert kinds[kinds.index("response.output_item.added"):] == [
        "response.output_item.added", "response.function_call_arguments.delta", "response.function_call_arguments.delta",
        "response.function_call_arguments.done", "conversation.item.done", "response.output_item.done", "response.done"]
    deltas = "".join(e["delta"] for e in client.events if e["type"] == "response.function_call_arguments.delta")
    assert deltas == item["arguments"]
    for event in client.events:  # every event is one the SDK knows, with the fields it requires
        SERVER_EVENT.validate_python(event)

    # the reply waits for the output item, then speaks it
    client.send("response.create")
    client.send("conversation.item.create", item={"type": "function_call_output", "call_id": item["call_id"],
                                                  "output": "sunny and 21 degrees"})
    reply = await client.next("response.output_text.done", after=start + 1)
    assert reply["text"] == "It is sunny and 21 degrees."
    for event in client.events:
        SERVER_EVENT.validate_python(event)


@pytest.mark.slow
async def test_rules_without_say_or_without_call(make_server, make_client) -> None:
    server = await make_server(rules=ToolScript.parse(SCRIPT), speech=False)
    client = make_client(server.base_url)
    await client.connect(TEXT_ONLY)
    say(client, "hello there")
    assert (await client.next("response.output_text.done"))["text"] == "You said: hello there"
    start = client.events.index(await client.next("response.done")) + 1
    say(client, "lights off please")
    done = await client.next("response.done", after=start)
    call = done["response"]["output"][0]
    assert json.loads(call["arguments"]) == {"state": "off"}
    client.send("conversation.item.create", item={"type": "function_call_output", "call_id": call["call_id"],
                                                  "output": "the lights are off"})
    client.send("response.create")
    reply = await client.next("response.output_text.done", after=client.events.index(done) + 1)
    assert reply["text"] == "The set_lights tool says: the lights are off"


@pytest.mark.parametrize(("text", "message"), [
    ("- when: '('\n  say: x\n", "rule 1: 'when' is not a valid regex"),
    ("- when: x\n", "rule 1: give 'say', 'call' or both"),
    ("- when: x\n  say: y\n  reply: z\n", "unknown key 'reply'"),
    ("- when: x\n  call: f\n  arguments: [1]\n", "'arguments' is a mapping"),
    ("[", "not valid YAML"),
])
def test_script_errors(text: str, message: str) -> None:
    with pytest.raises(VoxflowError, match="rules.yaml") as caught:
        ToolScript.parse(text, "rules.yaml")
    assert message in str(caught.value)


def test_rule_scripts_are_told_from_reply_lines() -> None:
    assert looks_like_rules(SCRIPT)
    assert not looks_like_rules("Hello there.\nIt is sunny.\n")
    assert not looks_like_rules("weather: sunny\n")


@pytest.mark.slow
def test_serve_realtime_takes_a_rule_script_and_reports_a_broken_one(tmp_path) -> None:
    import subprocess
    import sys

    from tests.checkout import checkout_env
    from tests.realtime_server.serve_process import serve_realtime

    rules = tmp_path / "rules.yaml"
    rules.write_text(SCRIPT)
    with serve_realtime("--no-speech", "--script", str(rules)) as served:
        pass
    assert "(reply: rule script;" in served.banner
    rules.write_text("- when: '('\n  say: x\n")
    broken = subprocess.run([sys.executable, "-m", "tui", "serve-realtime", "--port", "0", "--script", str(rules)],
                            capture_output=True, text=True, timeout=60, env=checkout_env())
    assert broken.returncode != 0 and "Traceback" not in broken.stderr
    assert f"{rules}: rule 1: 'when' is not a valid regex" in broken.stderr
