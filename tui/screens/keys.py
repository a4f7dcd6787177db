"""The main screen's keys, in one place: the footer, the help screen and the command palette read them."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class KeyCommand:
    key: str          # Textual key name
    shown: str        # how the key is written on screen
    action: str       # app action name (without "action_")
    label: str        # short footer label
    help: str         # one line for the help screen and command palette


MAIN_KEYS: tuple[KeyCommand, ...] = (
    KeyCommand("r", "r", "run_flow", "Run", "Run the flow (starts the session; after a session error, starts it again)."),
    KeyCommand("s", "s", "stop_flow", "Stop", "Stop the flow and its session."),
    KeyCommand("c", "c", "reset_flow", "Reset", "Reset: clear transcript, statuses and audio streams."),
    KeyCommand("space", "space", "push_to_talk", "PTT", "Push-to-talk toggle: press to talk, press again to send (VAD off only)."),
    KeyCommand("m", "m", "toggle_mute", "Mute", "Mute or unmute the microphone."),
    KeyCommand("v", "v", "pick_voice", "Voice", "Choose the assistant's voice (before the session starts)."),
    KeyCommand("d", "d", "pick_vad", "VAD", "Choose turn detection: server VAD, semantic VAD or off (push-to-talk)."),
    KeyCommand("t", "t", "type_message", "Text", "Type a text message into the conversation."),
    KeyCommand("e", "e", "export", "Export", "Export the transcript (JSONL and Markdown) and name the recording."),
    KeyCommand("l", "l", "jump_live", "Live", "Jump to the live end of the transcript."),
)
APP_KEYS: tuple[KeyCommand, ...] = (
    KeyCommand("question_mark", "?", "help", "Help", "Show this help."),
    KeyCommand("ctrl+q", "ctrl+q", "quit_voxflow", "Quit", "Quit: stops the session and the audio devices first."),
)
