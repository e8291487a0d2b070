"""Provider profiles: how each streaming API ends its event stream, and what the ending means.

Theory of operation
-------------------
The HTTP framing says whether the bytes arrived; only the application's own
terminal event says whether the *stream* was finished, and providers end
streams differently (their API references, 2026):

    profile              terminal events (meaning)
    openai-chat          data [DONE] (completed); data {"error": ...} (failed)
    openai-responses     response.completed (completed), response.incomplete (incomplete),
                         response.failed, error (failed)
    openai-assistants    thread.run.completed, thread.run.requires_action (completed),
                         thread.run.incomplete (incomplete), thread.run.failed,
                         thread.run.cancelled, thread.run.expired, error (failed); then done
    anthropic-messages   message_stop (completed), error (failed)
    generic              done, message_stop, data [DONE], --terminal-event names (completed)

The generic terminal events end a stream as completed under every profile too
(the decoder's ``sse.complete`` counts them, and the two axes must agree).

``ProfileWatcher`` asks the SSE decoder for the events whose names any
profile cares about (``watch_names``), keeps the first few with what their
data says (an error message, an incomplete reason, a stop reason: bounded), and
at the end of the stream :meth:`ProfileWatcher.outcome` picks the profile --
forced, else from the event names, else from the request path -- and turns
what arrived into one outcome:

- ``completed``: a success terminal event arrived and nothing was cut after it;
- ``failed``: the provider sent an error or a failure terminal event;
- ``incomplete``: the provider said the output is incomplete (with its reason);
- ``cut``: the stream ended without a terminal event, or in the middle of an event;
- ``unknown``: generic profile with no terminal event expected (or the body
  could not be decoded), so nothing can be said.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from .report import SseEvent, SseSummary

__all__ = [
    "OUTCOMES",
    "PROFILES",
    "Outcome",
    "Profile",
    "ProfileWatcher",
    "profile_from_path",
]

COMPLETED = "completed"
FAILED = "failed"
INCOMPLETE = "incomplete"
CUT = "cut"
UNKNOWN = "unknown"
#: Every value ``sse.outcome`` takes.
OUTCOMES = (COMPLETED, FAILED, INCOMPLETE, CUT, UNKNOWN)

DONE = "[DONE]"  # the key of an event whose data is [DONE], whatever its name
ERROR_DATA = 'data {"error": ...}'  # the key of an unnamed event whose data is an error object
_MAX_WATCHED = 16
_MAX_TEXT = 300


@dataclass(frozen=True, slots=True)
class Profile:
    """One provider's stream ending: ``terminal`` maps an event (name, or ``[DONE]``) to its
    meaning; ``closing`` events may follow the terminal one (Assistants' ``done``) and end the
    stream as a success when no terminal event came before them."""

    name: str
    description: str
    terminal: Mapping[str, str]
    closing: tuple[str, ...] = ()
    paths: tuple[str, ...] = ()  # request-path regexes that identify the API


PROFILES: dict[str, Profile] = {
    p.name: p
    for p in (
        Profile(
            "openai-chat",
            "OpenAI Chat Completions (and compatible APIs)",
            {DONE: COMPLETED, ERROR_DATA: FAILED},
            paths=(r"/chat/completions$", r"/completions$"),
        ),
        Profile(
            "openai-responses",
            "OpenAI Responses",
            {
                "response.completed": COMPLETED,
                "response.incomplete": INCOMPLETE,
                "response.failed": FAILED,
                "error": FAILED,
            },
            paths=(r"/responses(/[^/]+)?$",),
        ),
        Profile(
            "openai-assistants",
            "OpenAI Assistants (runs on threads)",
            {
                "thread.run.completed": COMPLETED,
                "thread.run.requires_action": COMPLETED,
                "thread.run.incomplete": INCOMPLETE,
                "thread.run.failed": FAILED,
                "thread.run.cancelled": FAILED,
                "thread.run.expired": FAILED,
                "error": FAILED,
            },
            closing=("done",),
            paths=(r"/threads(/[^/]+)?/runs(/[^/]+)?(/submit_tool_outputs)?$",),
        ),
        Profile(
            "anthropic-messages",
            "Anthropic Messages",
            {"message_stop": COMPLETED, "error": FAILED},
            paths=(r"/messages$",),
        ),
        Profile(
            "generic",
            "any event stream: done, message_stop, data [DONE] and --terminal-event names",
            {"done": COMPLETED, "message_stop": COMPLETED, DONE: COMPLETED},
        ),
    )
}

_ANTHROPIC_NAMES = frozenset(
    {
        "message_start",
        "content_block_start",
        "content_block_delta",
        "content_block_stop",
        "message_delta",
        "message_stop",
    }
)
_DEFAULT_TERMINAL = ("done", "message_stop", DONE)  # core/sse.py's DEFAULT_TERMINAL_NAMES
_ANTHROPIC_ERROR = re.compile(r'\s*\{\s*"type"\s*:\s*"error"\s*,\s*"error"\s*:\s*\{')
# Events watched for what their data says, not because they end a stream.
_INFO_NAMES = ("message_delta",)


def profile_from_path(path: str | None) -> str | None:
    """The profile a request path names (``/v1/chat/completions`` -> ``openai-chat``), if any."""
    if not path:
        return None
    path = path.split("?", 1)[0].rstrip("/")
    for profile in PROFILES.values():
        if any(re.search(pattern, path) for pattern in profile.paths):
            return profile.name
    return None


def _text(value: Any) -> str:
    text = value if isinstance(value, str) else json.dumps(value, separators=(",", ":"))
    return text if len(text) <= _MAX_TEXT else text[:_MAX_TEXT] + "…"


def _dig(obj: Any, *keys: str) -> Any:
    for key in keys:
        if not isinstance(obj, dict):
            return None
        obj = obj.get(key)
    return obj


def _reason(name: str, data: Any) -> str | None:
    """What a terminal event's data says about how the stream ended (bounded), if anything."""
    if not isinstance(data, dict):
        return None
    candidates: list[Any]
    if name == "response.incomplete":
        candidates = [_dig(data, "response", "incomplete_details", "reason")]
    elif name == "response.failed":
        candidates = [_dig(data, "response", "error"), _dig(data, "response", "status")]
    elif name == "thread.run.failed":
        candidates = [data.get("last_error"), data.get("status")]
    elif name == "thread.run.incomplete":
        candidates = [_dig(data, "incomplete_details", "reason"), data.get("status")]
    elif name == "thread.run.requires_action":
        candidates = [_dig(data, "required_action", "type")]
    elif name in ("thread.run.cancelled", "thread.run.expired"):
        candidates = [data.get("status")]
    elif name == "message_delta":
        candidates = [_dig(data, "delta", "stop_reason")]
    else:  # error events: OpenAI {"code", "message"}, Anthropic {"error": {"type", "message"}}
        candidates = [data.get("error"), data.get("message") and data]
    for value in candidates:
        if value:
            if isinstance(value, dict):
                value = {
                    k: v for k, v in value.items() if k in ("type", "code", "message", "param")
                }
            return _text(value)
    return None


@dataclass(frozen=True, slots=True)
class _Seen:
    event: SseEvent
    name: str
    done: bool  # its data is [DONE]
    error_data: bool  # its data is an object whose first key is "error"
    reason: str | None

    def key(self, profile: Mapping[str, str], closing: tuple[str, ...]) -> str:
        """What this event is to a profile: its name if the profile knows it, else what its
        data is ([DONE], an error object)."""
        if self.name in profile or self.name in closing:
            return self.name
        if self.done:
            return DONE
        return ERROR_DATA if self.error_data else self.name


@dataclass(frozen=True, slots=True)
class Outcome:
    """The application axis of the verdict: which profile, what became of the stream, and why.

    ``summary`` is the short phrase the text report prints (``thread.run.completed then done``);
    ``event`` the event that decided the outcome; ``reason`` what the provider said about it
    (an error, an incomplete reason, a stop reason); ``terminal_events`` the terminal and
    closing events seen, in order (the first 16).
    """

    profile: str
    detected_from: str  # "--profile", "events", "request path" or "default"
    outcome: str
    summary: str
    reason: str | None = None
    event: SseEvent | None = None
    terminal_events: tuple[str, ...] = ()
    expected: tuple[str, ...] = field(default=())

    @property
    def known(self) -> bool:
        """A terminal event was expected, so ``cut``/``failed``/``incomplete`` mean a problem."""
        return self.outcome != UNKNOWN

    def to_dict(self) -> dict[str, Any]:
        return {
            "detected_from": self.detected_from,
            "summary": self.summary,
            "reason": self.reason,
            # the deciding event without its read time (sse.terminal_event has the whole record)
            "event": None
            if self.event is None
            else {k: v for k, v in self.event.to_dict().items() if k != "t"},
            "terminal_events": list(self.terminal_events),
            "expected": list(self.expected),
        }


def _display(key: str) -> str:
    return "data [DONE]" if key == DONE else key


class ProfileWatcher:
    """Watch an SSE stream's terminal events and give its outcome under a provider profile.

    Hand :attr:`watch_names` and :meth:`observe` to the SSE decoder (its
    ``watch_names``/``on_watched``), then call :meth:`outcome` with the
    decoder's final summary. ``profile`` forces a profile (a key of
    :data:`PROFILES`); ``terminal_names`` (``--terminal-event``) are success
    terminal events under every profile. Memory is bounded: the first
    ``16`` watched events are kept, with at most 300 characters of what
    their data says.
    """

    def __init__(self, *, profile: str | None = None, terminal_names: Iterable[str] = ()) -> None:
        if profile is not None and profile not in PROFILES:
            raise ValueError(f"unknown profile {profile!r}; known: {', '.join(PROFILES)}")
        self.forced = profile
        self.extra = tuple(terminal_names)
        names = {k for p in PROFILES.values() for k in (*p.terminal, *p.closing) if k != DONE}
        names.update(_INFO_NAMES)
        names.update(self.extra)
        self.watch_names = tuple(sorted(names))
        #: data prefixes watched whatever the event's name (OpenAI-style error objects)
        self.watch_data = (b'{"error"',)
        self._seen: list[_Seen] = []
        self._stop_reason: str | None = None
        self._seen_count = 0

    def observe(self, event: SseEvent, data: bytes) -> None:
        """One watched event as the decoder dispatched it, with its whole data."""
        key = event.name
        error_data = data.startswith(b'{"error"')
        parsed: Any = None
        if data[:1] in (b"{", b" ", b"\t", b"\n"):
            try:
                parsed = json.loads(data)
            except ValueError:
                parsed = None
        reason = _reason("error" if error_data else key, parsed)
        if key in _INFO_NAMES:
            if reason:
                self._stop_reason = reason
            return
        self._seen_count += 1
        if len(self._seen) < _MAX_WATCHED:
            self._seen.append(_Seen(event, key, data == b"[DONE]", error_data, reason))

    def detect(self, summary: SseSummary, request_path: str | None) -> tuple[str, str]:
        """The profile and what it was detected from."""
        if self.forced is not None:
            return self.forced, "--profile"
        names = summary.names
        if any(n.startswith("thread.") for n in names):
            return "openai-assistants", "events"
        if any(n.startswith("response.") for n in names):
            return "openai-responses", "events"
        if _ANTHROPIC_NAMES.intersection(names):
            return "anthropic-messages", "events"
        if any(s.done for s in self._seen):
            return "openai-chat", "events"
        last = summary.last_event
        if last is not None and last.name == "message" and '"chat.completion.chunk"' in last.data:
            return "openai-chat", "events"
        by_path = profile_from_path(request_path)
        if by_path is not None:
            return by_path, "request path"
        # An error event alone: Anthropic nests the error object, OpenAI Responses does not
        for s in self._seen:
            if s.name == "error" and _ANTHROPIC_ERROR.match(s.event.data):
                return "anthropic-messages", "events"
        return "generic", "default"

    def outcome(
        self,
        summary: SseSummary,
        *,
        request_path: str | None = None,
        undecoded: str | None = None,
    ) -> Outcome:
        """The outcome of the stream ``summary`` describes (the decoder's final summary).

        ``undecoded`` says why the body could not be (wholly) decoded, if so:
        without a terminal event, the outcome is then ``unknown``.
        """
        name, source = self.detect(summary, request_path)
        profile = PROFILES[name]
        terminal = dict(profile.terminal)
        for extra in self.extra:
            terminal.setdefault(extra, COMPLETED)
        expected = tuple(_display(k) for k in (*terminal, *profile.closing))
        closing = profile.closing
        # The decoder's default terminal events end a stream under every profile too, so
        # that sse.complete and sse.outcome never contradict each other.
        fallback = tuple(k for k in _DEFAULT_TERMINAL if k not in terminal and k not in closing)
        seen = [(s.key(terminal, closing + fallback), s) for s in self._seen]
        ended = [(k, s) for k, s in seen if k in terminal or k in closing or k in fallback]
        keys = tuple(_display(k) for k, _ in ended)
        decisive_key, decisive = next(((k, s) for k, s in ended if k in terminal), (None, None))
        if decisive is None and ended:
            decisive_key, decisive = ended[0]  # a closing event (done), no terminal event before it
        partial = summary.partial_event

        def result(outcome: str, text: str, seen: _Seen | None = None) -> Outcome:
            reason = None if seen is None else seen.reason
            if outcome == COMPLETED and name == "anthropic-messages" and self._stop_reason:
                reason = f"stop_reason {self._stop_reason}"
            return Outcome(
                name,
                source,
                outcome,
                text,
                reason,
                None if seen is None else seen.event,
                keys,
                expected,
            )

        if decisive is not None and decisive_key is not None:
            meaning = terminal.get(decisive_key, COMPLETED)
            text = " then ".join(keys[:4]) + (" then …" if len(keys) > 4 else "")
            if decisive_key in fallback:
                text += f" (not a terminal event of {name})"
            elif decisive_key in closing and decisive_key not in terminal:
                text += " (no run status event before it)"
            elif closing and not any(k in closing for k, _ in ended):
                text += f", no {' or '.join(closing)} event after it"
            if partial is not None and int(partial.get("offset", 0)) >= decisive.event.end:
                return result(
                    CUT,
                    f"{text}, then cut inside an event at offset {partial.get('offset')}",
                    decisive,
                )
            return result(meaning, text, decisive)
        if undecoded is not None:
            return result(UNKNOWN, undecoded)
        if partial is not None:
            return result(CUT, f"cut inside an event at offset {partial.get('offset')}")
        if name == "generic" and not self.extra:
            return result(UNKNOWN, "generic stream: no terminal event expected")
        return result(CUT, "no terminal event")
