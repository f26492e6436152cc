"""The HTTP API's requests and replies (OpenAI's completions API, plus saurus's extras),
and its limits. Requests are strict: a wrong type or an unknown field is refused."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from saurus.generation.api import MAX_STOP_STRINGS
from saurus.generation.categories import MAX_CATEGORIES
from saurus.generation.sampling import DEFAULT_MAX_LEN, DEFAULT_TEXT_LENGTH
from saurus.music.sample import MAX_TEMPO, MIN_TEMPO, TOKENS_PER_BAR_CAP
from saurus.training.config import MAX_SEED

MAX_N = 1000  # choices per prompt
MAX_TOKENS = 10_000  # characters per choice
MAX_PROMPTS = 100
MAX_REQUEST_CHARS = 1_000_000  # prompts x n x max_tokens
MAX_TEMPERATURE = 5.0
MAX_TOP_K = 100_000
MAX_LOGPROBS = 5  # as OpenAI
MAX_SCORE_TEXTS = 1000
MAX_SCORE_CHARS = 1_000_000
MAX_CLASSIFY_NAMES = MAX_SCORE_TEXTS
MAX_CATEGORY_CHARS = 20_000  # a category or a blend string
DEFAULT_NAME_TOKENS = DEFAULT_MAX_LEN  # names end at the end token long before
DEFAULT_TEXT_TOKENS = DEFAULT_TEXT_LENGTH  # as `saurus sample --length`
DEFAULT_MUSIC_BARS = 4
MAX_MUSIC_BARS = 32
MAX_MUSIC_TOKENS = MAX_MUSIC_BARS * TOKENS_PER_BAR_CAP  # tokens one piece may draw
MAX_MUSIC_FRAMES = 1024  # frames one piece of a frame model may draw: 32 bars on an eighth-quarter grid

Strings = Annotated[list[str], Field(min_length=1, max_length=MAX_PROMPTS)]
Stops = Annotated[list[str], Field(max_length=MAX_STOP_STRINGS)]
TopLogprobs = Annotated[int, Field(ge=0, le=MAX_LOGPROBS)]
Weight = Annotated[float, Field(ge=0, allow_inf_nan=False)]
Blend = Annotated[dict[str, Weight], Field(max_length=MAX_CATEGORIES)]
CATEGORY_HELP = (
    'saurus, models trained on labelled names: a category ("Irish"), or a blend of them '
    '("Irish=0.7,Italian=0.3" or {"Irish": 0.7, "Italian": 0.3}, which mixes their '
    "embeddings); default: all of them, each by its share of the training names"
)


def category_field() -> Any:
    return Field(None, description=CATEGORY_HELP)


Category = Annotated[str, Field(max_length=MAX_CATEGORY_CHARS)] | Blend | None


class Request(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)


class StreamOptions(Request):
    include_usage: bool = Field(False, description="a last chunk with the usage and no choices")


class CompletionRequest(Request):
    model: str = Field(description="a model id from GET /v1/models")
    prompt: str | Strings = Field("", description="the text to continue, or a list of them")
    max_tokens: int | None = Field(
        None,
        ge=1,
        le=MAX_TOKENS,
        description=f"characters to draw (a token is a character); default {DEFAULT_NAME_TOKENS} "
        f"for names (a name ends at the end token), {DEFAULT_TEXT_TOKENS} for text",
    )
    temperature: float = Field(1.0, ge=0, le=MAX_TEMPERATURE, allow_inf_nan=False, description="0: greedy")
    top_p: float = Field(1.0, gt=0, le=1, allow_inf_nan=False)
    n: int = Field(1, ge=1, le=MAX_N, description="choices per prompt")
    stop: str | Stops | None = Field(None, description="strings that end a choice (left out of it)")
    seed: int | None = Field(None, ge=0, le=MAX_SEED, description="the same seed gives the same choices")
    logprobs: bool | TopLogprobs | None = Field(
        None,
        description="true or 0: each character's log-probability; k: also the k likeliest characters",
    )
    top_k: int = Field(0, ge=0, le=MAX_TOP_K, description="saurus: draw from the k likeliest (0: all)")
    novel: bool = Field(False, description="saurus, names models: only names not in the training data")
    ends_with: str = Field("", max_length=64, description="saurus, names: names that end with this")
    contains: list[str] = Field(
        default_factory=list, max_length=8, description="saurus, names: names that hold each of these"
    )
    excludes: list[str] = Field(
        default_factory=list, max_length=8, description="saurus, names: names without any of these"
    )
    min_len: int | None = Field(None, ge=1, le=10_000, description="saurus, names: at least this long")
    max_len: int | None = Field(
        None, ge=1, le=10_000, description="saurus, names: at most this long, prompt included"
    )
    pattern: str | None = Field(
        None, max_length=300, description="saurus, names: a regular expression the whole name matches"
    )
    category: Category = category_field()
    stream: bool = Field(False, description="send the text as it is drawn, as server-sent events")
    stream_options: StreamOptions | None = Field(None, description="with stream: include_usage")
    user: str | None = Field(None, description="accepted and ignored")


class Logprobs(BaseModel):
    tokens: list[str]
    token_logprobs: list[float]
    top_logprobs: list[dict[str, float]] | None
    text_offset: list[int]


class Choice(BaseModel):
    text: str
    index: int
    logprobs: Logprobs | None
    finish_reason: Literal["stop", "length"]
    in_training_data: bool | None = Field(
        None,
        description="saurus, names models: whether the whole name (prompt and text) is one the "
        "model was trained on (null for text, or a model that keeps no record of its names)",
    )


class Usage(BaseModel):
    prompt_tokens: int
    completion_tokens: int
    total_tokens: int


class CompletionResponse(BaseModel):
    id: str
    object: Literal["text_completion"] = "text_completion"
    created: int
    model: str
    choices: list[Choice]
    usage: Usage


class ModelCard(BaseModel):
    id: str
    object: Literal["model"] = "model"
    created: int
    owned_by: str = "saurus"
    mode: Literal["lines", "stream"] = Field(description="lines: names; stream: running text (music too)")
    kind: Literal["names", "text", "music"] = Field(
        description="names and text: /v1/completions and /v1/score; music: /v1/music"
    )
    lowercase: bool
    vocab: str = Field(description="the characters the model knows, in order")
    categories: list[str] | None = Field(
        None,
        description="saurus, a names model trained on labelled names: its categories, the values "
        "`category` takes and /v1/classify answers with (null for other models)",
    )
    category_counts: list[int] | None = Field(
        None, description="the training names of each category, in the order of `categories`"
    )
    frames: Literal["notes", "roll"] | None = Field(
        None,
        description="saurus, a frame model (JSB Chorales style, 88 keys a frame): notes (a frame's "
        "notes as tokens) or roll (a piano roll); null for other models",
    )
    step: float | None = Field(None, description="a frame model's grid, in quarter notes (null for others)")


class ModelList(BaseModel):
    object: Literal["list"] = "list"
    data: list[ModelCard]


class ScoreRequest(Request):
    model: str = Field(description="a model id from GET /v1/models")
    texts: str | Annotated[list[str], Field(min_length=1, max_length=MAX_SCORE_TEXTS)] = Field(
        description="names (a names model scores each as a whole name, end token included) or text"
    )
    category: Category = category_field()


class ScoreItem(BaseModel):
    index: int
    text: str
    logprob: float = Field(description="log p of the whole text (nats)")
    nats: float = Field(description="-log p per character")
    bits: float
    perplexity: float | None = Field(description="exp(nats); null beyond a float's range")
    chars: int = Field(description="characters scored (a name's end token included)")


class ScoreResponse(BaseModel):
    object: Literal["list"] = "list"
    model: str
    data: list[ScoreItem]


class ClassifyRequest(Request):
    model: str = Field(description="a names model trained on labelled names, from GET /v1/models")
    names: str | Annotated[list[str], Field(min_length=1, max_length=MAX_CLASSIFY_NAMES)] = Field(
        description="a name, or a list of them"
    )
    top: int = Field(1, ge=1, le=MAX_CATEGORIES, description="the likeliest categories to give per name")


class CategoryProbability(BaseModel):
    category: str
    probability: float = Field(description="p(category | name), by Bayes' rule with the training shares")


class ClassifyItem(BaseModel):
    index: int
    name: str
    categories: list[CategoryProbability] = Field(description="the likeliest first")


class ClassifyResponse(BaseModel):
    object: Literal["list"] = "list"
    model: str
    data: list[ClassifyItem]


class MusicRequest(Request):
    model: str = Field(description="a music model's id from GET /v1/models")
    bars: int = Field(DEFAULT_MUSIC_BARS, ge=1, le=MAX_MUSIC_BARS, description="bars to improvise")
    max_tokens: int | None = Field(
        None,
        ge=1,
        le=MAX_MUSIC_TOKENS,
        description=f"the most tokens to draw (default {TOKENS_PER_BAR_CAP} per bar, for a model "
        "that never draws a bar line); the piece may end before the bars asked for",
    )
    temperature: float = Field(1.0, ge=0, le=MAX_TEMPERATURE, allow_inf_nan=False, description="0: greedy")
    top_k: int = Field(0, ge=0, le=MAX_TOP_K, description="draw from the k likeliest tokens (0: all)")
    top_p: float = Field(1.0, gt=0, le=1, allow_inf_nan=False)
    seed: int | None = Field(None, ge=0, le=MAX_SEED, description="the same seed gives the same piece")
    tempo: float | None = Field(
        None, ge=MIN_TEMPO, le=MAX_TEMPO, allow_inf_nan=False, description="BPM (default: the model's)"
    )
    frames: int | None = Field(
        None,
        ge=1,
        le=MAX_MUSIC_FRAMES,
        description="frame models: frames to draw (default: `bars` bars of 4 quarter notes on the "
        "model's grid; 4 frames a bar on a quarter grid); give frames or bars, not both",
    )


class MusicAudio(BaseModel):
    format: Literal["wav"] = "wav"
    renderer: Literal["fluidsynth", "sine"] = Field(
        description="fluidsynth: General MIDI instruments; sine: sine tones (drums silent)"
    )
    data: str = Field(description="the WAV file (16-bit mono), base64")
    seconds: float = Field(description="the sound's length: the piece and a second for the last notes")
    note: str | None = Field(description="with sine tones, why, and how to install FluidSynth")


class MusicResponse(BaseModel):
    id: str
    object: Literal["music.piece"] = "music.piece"
    created: int
    model: str
    notes: int
    tokens: int = Field(description="tokens drawn (0 from a frame model: see frames)")
    frames: int | None = Field(None, description="frames drawn by a frame model (null for token models)")
    seconds: float = Field(description="from the start to the end of the last note")
    midi: str = Field(description="the standard MIDI file, base64")
    audio: MusicAudio
    piano_roll: str = Field(description="an SVG picture: time across, pitch up, a rectangle per note")


class ErrorDetail(BaseModel):
    message: str
    type: str
    param: str | None
    code: str | None


class ErrorResponse(BaseModel):
    error: ErrorDetail


def error_responses(bad_request: str) -> dict[int | str, dict[str, Any]]:
    """The refusals a generating route documents in the OpenAPI schema; `bad_request` says
    what its 400 is about."""
    return {
        400: {"model": ErrorResponse, "description": bad_request},
        404: {"model": ErrorResponse, "description": "no such model"},
        503: {
            "model": ErrorResponse,
            "description": "busy (code server_busy, with Retry-After) or past the time limit (code timeout)",
        },
    }
