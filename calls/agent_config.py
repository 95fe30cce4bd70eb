"""The bot's configuration, read from the YAML files under `AI/` into validated, typed objects.

`AI/` is data only: `prompts/agent.yaml` (persona, opening line, goodbye, wrap-up, silence and voicemail lines, turn
detection), `prompts/transcription.yaml` (vocabulary prompt for speech-to-text), `prompts/extraction.yaml` (the
post-call extraction's system prompt and field descriptions) and `tools/tools.yaml` (function tools for the Realtime
model). A file that does not parse or validate raises `AgentConfigError` naming the file, so a bad prompt fails a
test or a system check rather than a live call. The directory is an argument (Django's `AI_CONFIG_DIR`).

An agent profile (a campaign's `profile`) is a folder `AI/profiles/<name>/` with any of the same files: each one
present is merged key by key over AI/'s own, each one absent is AI/'s. An unknown profile name is an error, never
the defaults.
"""
from __future__ import annotations

import re
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from calls import prompt_variables

from calls.http_tools import HttpEndpoint
from calls.live.relay.handoff import TRANSFER_TOOL
from calls.live.relay.session import RelaySettings, TurnDetection
from contacts.phones import InvalidPhoneNumber, normalize_phone

DEFAULT_AI_DIR = Path(__file__).resolve().parent.parent / "AI"
PROFILES = "profiles"  # AI/profiles/<name>/: an agent profile, the same files as AI/, each one optional
PROFILE_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,99}$")
# What Twilio says when the AI fails and agent.yaml's own `apology` cannot be read (a broken live edit): the callee
# must hear something before the line goes dead. Spanish, the language of the shipped prompts and TWILIO_SAY_LANGUAGE.
FALLBACK_APOLOGY = (
    "Disculpe, estamos teniendo un problema técnico. Le volveremos a llamar más tarde. Gracias y hasta pronto."
)


class AgentConfigError(ValueError):
    """A file under AI/ is missing, not YAML, or does not match its schema; or an agent profile does not exist."""


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, str_strip_whitespace=True)


class TurnDetectionConfig(_Strict):
    type: Literal["server_vad", "semantic_vad"] = "server_vad"
    threshold: float = Field(0.9, ge=0.0, le=1.0)
    prefix_padding_ms: int = Field(300, ge=0)
    silence_duration_ms: int = Field(800, ge=0)
    eagerness: Literal["low", "medium", "high", "auto"] = "auto"


class KeypadConfig(_Strict):
    """Digits the callee presses reach the model as a user message (`{digit}` replaced), then it answers."""

    enabled: bool = False
    message: str = "{digit}"

    @field_validator("message")
    @classmethod
    def _has_digit(cls, value: str) -> str:
        if "{digit}" not in value:
            raise ValueError("must contain {digit}")
        return value


class AgentPrompts(_Strict):
    """agent.yaml. Its texts may use the variables of calls.prompt_variables (`{{contact.name}}`...): an unknown one
    fails validation here, at load time; `rendered(values)` fills them in when a call starts."""

    persona: str = Field(min_length=1)
    say_exactly: str
    # Said first, at the start of the opening line (e.g. the recording notice GDPR asks for); "" says none.
    disclosure: str = ""
    opening_line: str = Field(min_length=1)
    goodbye: str = Field(min_length=1)
    wrap_up: str = Field(min_length=1)
    silence_prompt: str = Field(min_length=1)
    silence_goodbye: str = Field(min_length=1)
    voicemail: str = Field(min_length=1)
    apology: str = Field(min_length=1)  # said by Twilio (not the AI) when the AI fails mid-call
    tool_filler: str = ""  # said while a tool takes longer than a second; empty: nothing is said
    keypad: KeypadConfig = KeypadConfig()
    turn_detection: TurnDetectionConfig = TurnDetectionConfig()
    # transfer_call: the numbers a person answers, by reason (the model picks a reason, never a number).
    transfers: dict[str, str] = Field(default_factory=dict)
    transfer_line: str = Field("Le paso con una persona del equipo, un momento por favor.", min_length=1)
    transfer_whisper: str = ""  # said by Twilio to the person who picks up, before the callee joins ({reason})
    transfer_fallback: str = Field(  # said by Twilio to the callee when nobody picks up; then the call ends
        "Lo siento, ahora mismo no hay nadie disponible. Le llamaremos más tarde. Hasta pronto.", min_length=1)

    @field_validator("say_exactly")
    @classmethod
    def _has_line(cls, value: str) -> str:
        if "{line}" not in value:
            raise ValueError("must contain {line}")
        return value

    @field_validator("transfers")
    @classmethod
    def _numbers_callable(cls, value: dict[str, str]) -> dict[str, str]:
        numbers = {}
        for reason, number in value.items():
            if not re.match(r"^[a-z0-9_]{1,40}$", reason):
                raise ValueError(f"reason {reason!r} must be 1-40 lowercase letters, digits or _")
            try:
                numbers[reason] = normalize_phone(number)
            except InvalidPhoneNumber as exc:
                raise ValueError(f"{reason}: {exc.message}") from None
        return numbers

    @model_validator(mode="after")
    def _known_variables(self) -> AgentPrompts:
        problems = [f"{name}: unknown variable {{{{{variable}}}}}" for name, text in self._texts().items()
                    for variable in prompt_variables.unknown_variables(text)]
        if problems:
            raise ValueError("; ".join(problems) + " (known: " + ", ".join(prompt_variables.FIXED)
                             + f", {prompt_variables.ATTRIBUTE_PREFIX}<key>)")
        return self

    def _texts(self) -> dict[str, str]:
        return {name: value for name, value in self if isinstance(value, str)}

    def variables(self) -> list[str]:
        """Every variable its texts use, each once."""
        return list(dict.fromkeys(name for text in self._texts().values()
                                  for name in prompt_variables.variables_in(text)))

    def rendered(self, values: dict[str, str]) -> AgentPrompts:
        """A copy with every variable of every text replaced by its value (a missing one by nothing)."""
        return self.model_copy(update={name: prompt_variables.render(text, values)
                                       for name, text in self._texts().items()})

    def say(self, line: str) -> str:
        """An instruction to say `line` word for word (replace, not format: prompts may contain braces)."""
        return self.say_exactly.replace("{line}", line)

    def opening(self) -> str:
        """The bot's first words: the disclosure (when there is one), then the opening line."""
        return f"{self.disclosure} {self.opening_line}" if self.disclosure else self.opening_line


class TranscriptionPrompt(_Strict):
    prompt: str = ""


class ExtractionPrompts(_Strict):
    """Field descriptions are keyed by the EXTRACTION_SCHEMA model's field names, which a deployment chooses;
    extraction's own system check matches them against the schema, so no field name is fixed here."""

    system: str = Field(min_length=1)
    fields: dict[str, str] = Field(default_factory=dict)
    # An agent profile's own extraction model (dotted path to a Pydantic model); empty: EXTRACTION_SCHEMA's.
    schema_path: str = Field("", alias="schema", pattern=r"^([A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)+)?$")


class ToolSpec(_Strict):
    name: str = Field(pattern=r"^[A-Za-z0-9_-]{1,64}$")
    description: str = Field(min_length=1)
    parameters: dict[str, Any] = Field(default_factory=lambda: {"type": "object", "properties": {}})
    http: HttpEndpoint | None = None  # the business's endpoint that does it (calls.http_tools)
    profiles: tuple[str, ...] = ()  # offered only to calls of these agent profiles; empty: to every call

    def offered_to(self, profile: str) -> bool:
        return not self.profiles or profile in self.profiles

    def to_wire(self) -> dict[str, Any]:
        """The GA Realtime function tool shape for `session.tools`."""
        return {"type": "function", "name": self.name, "description": self.description,
                "parameters": self.parameters}


class ToolsFile(_Strict):
    tools: list[ToolSpec]

    @field_validator("tools")
    @classmethod
    def _has_end_call(cls, value: list[ToolSpec]) -> list[ToolSpec]:
        end_call = next((tool for tool in value if tool.name == "end_call"), None)
        if end_call is None or "reason" not in end_call.parameters.get("properties", {}):
            raise ValueError("an end_call tool with a 'reason' argument is required")
        if end_call.http is not None or end_call.profiles:
            raise ValueError("end_call is the relay's own: it takes no http endpoint and no profiles")
        return value


class AgentConfig(_Strict):
    agent: AgentPrompts
    transcription: TranscriptionPrompt
    extraction: ExtractionPrompts
    tools: list[ToolSpec]


SCHEMAS: dict[str, type[_Strict]] = {
    "prompts/agent.yaml": AgentPrompts,
    "prompts/transcription.yaml": TranscriptionPrompt,
    "prompts/extraction.yaml": ExtractionPrompts,
    "tools/tools.yaml": ToolsFile,
}


def profile_dir(ai_dir: Path | str | None, profile: str) -> Path:
    """The folder of agent profile `profile` (AI/profiles/<name>/); AgentConfigError when there is no such one."""
    root = Path(ai_dir) if ai_dir is not None else DEFAULT_AI_DIR
    folder = root / PROFILES / profile
    if not (PROFILE_NAME.match(profile) and folder.is_dir()):
        raise AgentConfigError(f"No agent profile {profile!r}: it must be a folder under {root / PROFILES}")
    return folder


def profile_names(ai_dir: Path | str | None = None) -> list[str]:
    """Every folder under AI/profiles/, sorted."""
    root = Path(ai_dir) if ai_dir is not None else DEFAULT_AI_DIR
    folder = root / PROFILES
    return sorted(p.name for p in folder.iterdir() if p.is_dir()) if folder.is_dir() else []


def _read(path: Path) -> Any:
    try:
        return yaml.safe_load(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise AgentConfigError(f"{path}: cannot read ({exc.strerror})") from exc
    except yaml.YAMLError as exc:
        raise AgentConfigError(f"{path}: not valid YAML ({exc})") from exc


def _merge(base: Any, override: Any) -> Any:
    """`override` over `base`: mappings merge key by key (recursively); anything else (a list, a text) replaces."""
    if isinstance(base, dict) and isinstance(override, dict):
        return {**base, **{key: _merge(base.get(key), value) for key, value in override.items()}}
    return override


def load_part(relative: str, ai_dir: Path | str | None = None, profile: str = "") -> _Strict:
    """Read and validate one file of the configuration, by its path relative to the AI directory. With `profile`,
    AI/profiles/<profile>/<relative> (when it exists) is merged over AI/<relative>: its keys replace the default's."""
    root = Path(ai_dir) if ai_dir is not None else DEFAULT_AI_DIR
    schema = SCHEMAS.get(relative)
    if schema is None:
        raise AgentConfigError(f"{root / relative}: no schema for this file (expected one of {', '.join(SCHEMAS)})")
    source = root / relative
    data = _read(source)
    named = str(source)
    if profile:
        override = profile_dir(root, profile) / relative
        if override.exists():
            over = _read(override)
            if over is not None and not isinstance(over, dict):
                raise AgentConfigError(f"{override}: expected a mapping of keys to override, not {type(over).__name__}")
            data = _merge(data if data is not None else {}, over or {})
            named = f"{override} (over {source})"
    try:
        return schema.model_validate(data if data is not None else {})
    except ValidationError as exc:
        problems = "; ".join(f"{'.'.join(map(str, e['loc'])) or '(file)'}: {e['msg']}" for e in exc.errors())
        raise AgentConfigError(f"{named}: {problems}") from exc


def load_agent_config(ai_dir: Path | str | None = None, profile: str = "") -> AgentConfig:
    """Every file of the bot's configuration, validated: AI/'s own, or agent profile `profile`'s over them."""
    if profile:
        folder = profile_dir(ai_dir, profile)
        stray = sorted(str(path) for path in folder.rglob("*")
                       if path.is_file() and path.relative_to(folder).as_posix() not in SCHEMAS)
        if stray:  # a misspelt file name would otherwise be ignored: the default's would be used instead
            raise AgentConfigError(f"{stray[0]}: not a file of an agent profile (any of {', '.join(SCHEMAS)})")
    loaded = {name: load_part(name, ai_dir, profile) for name in SCHEMAS}
    tools = loaded["tools/tools.yaml"]
    assert isinstance(tools, ToolsFile)
    unknown = sorted({name for tool in tools.tools for name in tool.profiles} - set(profile_names(ai_dir)))
    if unknown:  # a misspelt profile would silently never get the tool
        raise AgentConfigError(f"tools/tools.yaml: profiles: no agent profile {unknown[0]!r}")
    return AgentConfig(agent=loaded["prompts/agent.yaml"], transcription=loaded["prompts/transcription.yaml"],
                       extraction=loaded["prompts/extraction.yaml"],
                       tools=[tool for tool in tools.tools if tool.offered_to(profile)])


def apology_text(ai_dir: Path | str | None = None, profile: str = "") -> str:
    """agent.yaml's `apology` (the profile's), or FALLBACK_APOLOGY when that cannot be read or is invalid."""
    try:
        agent = load_part("prompts/agent.yaml", ai_dir, profile)
    except AgentConfigError:
        return FALLBACK_APOLOGY
    assert isinstance(agent, AgentPrompts)
    return agent.apology


def _offered(tool: ToolSpec, transfers: dict[str, str]) -> dict[str, Any]:
    """The tool as the model sees it; transfer_call's `reason` lists exactly the configured reasons."""
    wire = tool.to_wire()
    if tool.name == TRANSFER_TOOL:
        reason = {"type": "string", **wire["parameters"].get("properties", {}).get("reason", {}),
                  "enum": list(transfers)}
        wire["parameters"] = {**wire["parameters"], "type": "object",
                              "properties": {**wire["parameters"].get("properties", {}), "reason": reason},
                              "required": ["reason"]}
    return wire


def relay_settings(
    config: AgentConfig, *, voice: str, transcription_model: str, language: str, duration_limit_s: float,
    grace_s: float = 15.0, silence_timeout_s: float = 0.0, input_gain_db: float | None = None,
    goodbye_mark_cap_s: float = 10.0, wait_for_amd: bool = False, amd_wait_s: float = 0.0,
) -> RelaySettings:
    """The relay's per-call settings from the files under AI/ and the deployment's settings."""
    agent = config.agent
    return RelaySettings(
        instructions=agent.persona,
        opening_instruction=agent.say(agent.opening()),
        goodbye_instruction=agent.goodbye,
        wrap_up_instruction=agent.wrap_up,
        silence_prompt_instruction=agent.silence_prompt,
        silence_goodbye_instruction=agent.silence_goodbye,
        voicemail_instruction=agent.say(agent.voicemail),
        tool_filler_instruction=agent.say(agent.tool_filler) if agent.tool_filler else "",
        keypad_message=agent.keypad.message if agent.keypad.enabled else "",
        voice=voice,
        turn_detection=TurnDetection(**agent.turn_detection.model_dump()),
        transcription_model=transcription_model,
        transcription_language=language,
        transcription_prompt=config.transcription.prompt,
        tools=tuple(_offered(tool, agent.transfers) for tool in config.tools
                    if tool.name != TRANSFER_TOOL or agent.transfers),
        transfer_reasons=tuple(agent.transfers),
        transfer_instruction=agent.say(agent.transfer_line),
        duration_limit_s=duration_limit_s,
        grace_s=grace_s,
        silence_timeout_s=silence_timeout_s,
        input_gain_db=input_gain_db,
        goodbye_mark_cap_s=goodbye_mark_cap_s,
        wait_for_amd=wait_for_amd, amd_wait_s=amd_wait_s,
    )
