"""Follow the teacher: a class whose students see the teacher's view live.

A teacher starts a class and gets a short code (read aloud, typed from a projector, or scanned
from :func:`qr_svg`'s QR code of the join link) and a secret token that only the teacher's page
holds. Each change of the teacher's view (tab, model, images, filter, layer, tour step: the URL
parameters of ``urlstate.encode``) is published with that token and bumps the class's version;
students poll :meth:`ClassStore.version` twice a second and re-read the view when it grows, then
parse it with ``urlstate.parse`` like any link. Guessing a code only ever joins read-only.

Where a class lives (:func:`open_store`):

* :class:`MemoryStore`: this server's memory, nothing to install; right for one ConvLab server.
* :class:`RedisStore`: Redis at ``$CONVLAB_REDIS_URL``, so a teacher and students served by
  different ConvLab servers behind a load balancer share a class. redis-py is imported only
  then, so the app without a Redis URL never imports it.

Only a SHA-256 of a token is stored, compared with ``hmac.compare_digest``; :meth:`ClassStore.is_teacher`
lets the page refuse a forged teacher key in a link. A class ends when the teacher ends it or
:data:`QUIET_SECONDS` after its last publish or :meth:`ClassStore.touch` (the teacher's page's
heartbeat while it is open), or after its start. A store is bounded for a lecture hall: at most
:data:`MAX_CLASSES` live classes (:class:`TooManyClasses`), and each client (an IP address or a
session id, hashed) starts at most :data:`STARTS_PER_MINUTE` classes a minute (:class:`StartLimited`).
Everything that arrives from a page (code, token, view) is checked before the store is touched.
"""

from __future__ import annotations

import abc
import contextlib
import dataclasses
import hashlib
import hmac
import io
import json
import math
import os
import re
import secrets
import threading
import time
from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass

import segno

CODE_LENGTH = 6
CODE_ALPHABET = "ABCDEFGHJKMNPQRSTUVWXYZ23456789"  # no 0/O, 1/I/L: read aloud and typed from a projector
QUIET_SECONDS = 3600
ENV_VAR = "CONVLAB_REDIS_URL"
MAX_VIEW_KEYS = 32
MAX_VIEW_TEXT = 200  # characters, for each key and each value
MAX_DRAWING_TEXT = 1046  # but the drawing pad's picture (urlstate.drawing_text): 784 bytes in base64
START_ATTEMPTS = 20  # fresh codes tried before giving up; 31**6 codes make even one retry rare
SOCKET_TIMEOUT = 1.0  # s: a dead or unreachable Redis fails a page's call quickly, never hangs it
QR_SCALE = 10  # px per module: a link's QR code about 400 px wide, readable across a classroom
MAX_CLASSES = 500  # live classes at once: a lecture hall's worth many times over, and memory stays small
STARTS_PER_MINUTE = 3  # per client: a teacher who reloads is fine, a script filling the store is not
START_WINDOW_SECONDS = 60
REDIS_PREFIX = "convlab:class:"
REDIS_CLASSES = "convlab:classes"  # sorted set: code -> expiry in ms (Redis's clock), to count live classes
REDIS_STARTS_PREFIX = "convlab:starts:"  # + a client's SHA-256: its starts in the current minute

_TOKEN_BYTES = 16
_TOKEN_PATTERN = re.compile(r"[A-Za-z0-9_-]{22}")  # exactly what secrets.token_urlsafe(16) makes
_SHOWN_LENGTH = 20


class ClassError(ValueError):
    """An unknown, ended or expired class, or a malformed code or view; the message is for the page."""


class NotTheTeacher(PermissionError):
    """A publish, touch or end without the class's token: only the teacher's page may change a class."""


class TooManyClasses(ClassError):
    """The store already holds its most live classes; the message says to end one or wait."""


class StartLimited(ClassError):
    """One client started its most classes in the last minute; the message says how long to wait."""


class StoreUnavailable(RuntimeError):
    """Redis can't be reached (or the URL is unusable); the message names CONVLAB_REDIS_URL and the fix."""


@dataclass(frozen=True)
class Started:
    """A new class: the code for everyone, and the token for the teacher's page only."""

    code: str
    token: str = dataclasses.field(repr=False)  # never in a log line or a traceback's locals


@dataclass(frozen=True)
class ClassState:
    """What students follow: the teacher's view and how many times it has changed."""

    version: int  # grows by one with each publish; 0 right after start
    view: dict[str, str]  # the teacher's view as URL parameters (urlstate.encode's output)
    updated: float  # time.time() of the last publish or touch (or of the start)


# -- checks on what a page sends ------------------------------------------------------------
def _shown(text: object) -> str:
    """Page input safe to quote in a message: short, and as a repr so blanks show."""
    text = str(text)
    return repr(text[:_SHOWN_LENGTH] + ("…" if len(text) > _SHOWN_LENGTH else ""))


def valid_code(text: object) -> str:
    """The class code in ``text``, without blanks and in capitals; ClassError if it can't be one."""
    code = text.strip().upper() if isinstance(text, str) else ""
    if len(code) != CODE_LENGTH or any(char not in CODE_ALPHABET for char in code):
        raise ClassError(
            f"{_shown(text)} is not a class code: a class code is {CODE_LENGTH} letters and digits, like K7PQ2M "
            "(never 0, O, 1, I or L). Check it against the teacher's screen."
        )
    return code


def _digest(token: str) -> str:
    """What a store keeps of a token: its SHA-256, in hex."""
    return hashlib.sha256(token.encode()).hexdigest()


def _token_digest(code: str, token: object) -> str:
    """The digest of a well-formed token; NotTheTeacher for anything else, the store untouched."""
    if not isinstance(token, str) or not _TOKEN_PATTERN.fullmatch(token):
        raise _not_the_teacher(code)
    return _digest(token)


def _same_digest(stored: str, given: str) -> bool:
    return hmac.compare_digest(stored.encode(), given.encode())


def _not_the_teacher(code: str) -> NotTheTeacher:
    return NotTheTeacher(
        f"Only the teacher who started class {code} can change or end it, from the teacher link the class "
        "started with. Open that link again, or start a class of your own."
    )


def _unknown_class(code: str) -> ClassError:
    return ClassError(
        f"There is no class {code} right now: the teacher ended it, it was quiet for "
        f"{QUIET_SECONDS // 60} minutes, or the code is mistyped. Ask for the code on the teacher's screen."
    )


def _spoken_duration(seconds: float) -> str:
    """A quiet period as a page says it: "an hour", "90 minutes", "0.5 seconds"."""
    if seconds == 3600:
        return "an hour"
    if seconds >= 120 and seconds % 60 == 0:
        return f"{seconds / 60:g} minutes"
    return f"{seconds:g} seconds"


def _too_many_classes(max_classes: int, quiet_seconds: float) -> TooManyClasses:
    return TooManyClasses(
        f"This server already runs {max_classes} classes, as many as it runs at once: end one, or wait: "
        f"quiet classes end after {_spoken_duration(quiet_seconds)}."
    )


def _start_limited(starts_per_minute: int, wait_seconds: float) -> StartLimited:
    classes = "class" if starts_per_minute == 1 else "classes"
    return StartLimited(
        f"You started {starts_per_minute} {classes} in the last minute: wait {max(1, math.ceil(wait_seconds))} s, "
        "or use the class you have."
    )


def _client_key(client: object) -> str | None:
    """What a store keeps of a client: its SHA-256 in hex (a bounded key, and no IP address kept),
    or None for no limit; ValueError for anything but text or None."""
    if client is None:
        return None
    if not isinstance(client, str):
        raise ValueError(
            f"start's client is text naming who starts (an IP address or a session id), "
            f"or None for no limit; not {type(client).__name__}."
        )
    return _digest(client)


def _positive_count(name: str, value: object) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f"{name} is a whole number of at least 1, not {value!r}.")
    return value


def _checked_view(view: object) -> dict[str, str]:
    """A plain copy of a small mapping of strings to strings; ClassError otherwise (it comes from a page)."""
    if not isinstance(view, Mapping):
        raise ClassError(f"A class's view is a mapping of URL parameters, not {type(view).__name__}.")
    if len(view) > MAX_VIEW_KEYS:
        raise ClassError(f"A class's view holds at most {MAX_VIEW_KEYS} URL parameters, not {len(view)}.")
    for key, value in view.items():
        if not (isinstance(key, str) and isinstance(value, str)):
            raise ClassError(
                f"A class's view maps text to text; {_shown(key)} is {type(key).__name__} -> {type(value).__name__}."
            )
        longest = MAX_DRAWING_TEXT if key == "drawing" else MAX_VIEW_TEXT
        if len(key) > MAX_VIEW_TEXT or len(value) > longest:
            raise ClassError(
                f"A class's view keeps each parameter under {longest} characters; {_shown(key)} is longer."
            )
    return dict(view)


def _new_code() -> str:
    return "".join(secrets.choice(CODE_ALPHABET) for _ in range(CODE_LENGTH))


# -- the stores -----------------------------------------------------------------------------
class ClassStore(abc.ABC):
    """Where classes live. Every method checks its input first, so a malformed code, token or
    view fails (ClassError, NotTheTeacher) without touching the store; a store that can't be
    reached raises StoreUnavailable. Subclasses hold the data (the ``_`` methods).
    """

    quiet_seconds: float
    max_classes: int
    starts_per_minute: int

    def start(self, client: str | None = None) -> Started:
        """A new class at version 0 with an empty view; its token goes to the teacher's page only.
        ``client`` (an IP address or a session id) starts at most ``starts_per_minute`` classes a
        minute (StartLimited); None means no limit. TooManyClasses if ``max_classes`` are live."""
        client_key = _client_key(client)
        for _ in range(START_ATTEMPTS):
            code, token = _new_code(), secrets.token_urlsafe(_TOKEN_BYTES)
            if self._create(code, _digest(token), client_key):
                return Started(code, token)
        raise RuntimeError(f"No free class code after {START_ATTEMPTS} tries: are millions of classes running?")

    def publish(self, code: str, token: str, view: Mapping[str, str]) -> int:
        """Set the class's view; returns its new version. NotTheTeacher on a wrong token,
        ClassError if the class is unknown, ended or expired or the view is malformed."""
        code = valid_code(code)
        digest = _token_digest(code, token)
        return self._publish(code, digest, _checked_view(view))

    def touch(self, code: str, token: str) -> None:
        """The teacher's page's heartbeat: the class's quiet period starts again now, its version and
        view unchanged. NotTheTeacher on a wrong token, ClassError if the class is gone."""
        code = valid_code(code)
        self._touch(code, _token_digest(code, token))

    def is_teacher(self, code: str, token: str) -> bool:
        """True only if the class runs and ``token`` is its teacher's; False for a malformed code or
        token (they come from a link). StoreUnavailable still raises: the answer is unknown then."""
        try:
            code = valid_code(code)
            digest = _token_digest(code, token)
        except (ClassError, NotTheTeacher):
            return False
        return self._is_teacher(code, digest)

    def read(self, code: str) -> ClassState:
        """The class's version, view and time of last publish or touch; ClassError if there's no such class."""
        return self._read(valid_code(code))

    def end(self, code: str, token: str) -> None:
        """End the class for everyone; NotTheTeacher on a wrong token, ClassError if already gone."""
        code = valid_code(code)
        self._end(code, _token_digest(code, token))

    def version(self, code: str) -> int:
        """Just the class's version: the cheap call students poll; ClassError if there's no such class."""
        return self._version(valid_code(code))

    @abc.abstractmethod
    def describe(self) -> str:
        """Where the classes live, for the page (never a password)."""

    @abc.abstractmethod
    def _create(self, code: str, digest: str, client_key: str | None) -> bool:
        """Store a new class; False if the code is taken, StartLimited or TooManyClasses past a bound."""

    @abc.abstractmethod
    def _publish(self, code: str, digest: str, view: dict[str, str]) -> int: ...

    @abc.abstractmethod
    def _touch(self, code: str, digest: str) -> None: ...

    @abc.abstractmethod
    def _is_teacher(self, code: str, digest: str) -> bool: ...

    @abc.abstractmethod
    def _read(self, code: str) -> ClassState: ...

    @abc.abstractmethod
    def _end(self, code: str, digest: str) -> None: ...

    @abc.abstractmethod
    def _version(self, code: str) -> int: ...


@dataclass(frozen=True)
class _Class:
    state: ClassState
    digest: str  # SHA-256 of the teacher's token


class MemoryStore(ClassStore):
    """Classes in this server's memory: for one ConvLab server, nothing to install.

    Thread-safe (Streamlit runs each session's script in its own thread). A class past its quiet
    period counts as gone as soon as anyone asks, and is swept out when a class starts. Memory
    stays bounded: never more than ``max_classes`` classes, and each client's recent starts (its
    SHA-256 and at most ``starts_per_minute`` times), dropped once its newest start is a minute old.
    ``clock`` returns the time (``time.time`` by default) so tests can move it.
    """

    def __init__(
        self,
        *,
        quiet_seconds: float = QUIET_SECONDS,
        max_classes: int = MAX_CLASSES,
        starts_per_minute: int = STARTS_PER_MINUTE,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.quiet_seconds = quiet_seconds
        self.max_classes = _positive_count("max_classes", max_classes)
        self.starts_per_minute = _positive_count("starts_per_minute", starts_per_minute)
        self.clock = clock
        self._classes: dict[str, _Class] = {}
        self._starts: dict[str, deque[float]] = {}  # client's SHA-256 -> times of its starts, oldest first
        self._lock = threading.Lock()

    def describe(self) -> str:
        return "this server's memory"

    def _live(self, code: str) -> _Class:
        """The class under ``code`` if it is still running (caller holds the lock); ClassError if not."""
        entry = self._classes.get(code)
        if entry is not None and self._expired(entry):
            del self._classes[code]
            entry = None
        if entry is None:
            raise _unknown_class(code)
        return entry

    def _expired(self, entry: _Class) -> bool:
        return self.clock() - entry.state.updated >= self.quiet_seconds

    def _owned(self, code: str, digest: str) -> _Class:
        entry = self._live(code)
        if not _same_digest(entry.digest, digest):
            raise _not_the_teacher(code)
        return entry

    def _sweep_classes(self) -> None:
        # Sweep at each start: starts are rare, and quiet classes must not pile up in a long-lived server.
        for old in [old for old, entry in self._classes.items() if self._expired(entry)]:
            del self._classes[old]

    def _recent_starts(self, client_key: str, now: float) -> deque[float]:
        """The client's starts in the last minute (caller holds the lock); forgets clients quiet for one."""
        cutoff = now - START_WINDOW_SECONDS
        for old in [old for old, times in self._starts.items() if times[-1] <= cutoff]:
            del self._starts[old]
        times = self._starts.get(client_key, deque(maxlen=self.starts_per_minute))
        while times and times[0] <= cutoff:
            times.popleft()
        return times

    def _create(self, code: str, digest: str, client_key: str | None) -> bool:
        with self._lock:
            now = self.clock()
            starts = None if client_key is None else self._recent_starts(client_key, now)
            if starts is not None and len(starts) >= self.starts_per_minute:
                raise _start_limited(self.starts_per_minute, starts[0] + START_WINDOW_SECONDS - now)
            self._sweep_classes()
            if len(self._classes) >= self.max_classes:
                raise _too_many_classes(self.max_classes, self.quiet_seconds)
            if code in self._classes:
                return False
            self._classes[code] = _Class(ClassState(0, {}, now), digest)
            if starts is not None:
                starts.append(now)
                self._starts[client_key] = starts
            return True

    def _publish(self, code: str, digest: str, view: dict[str, str]) -> int:
        with self._lock:
            entry = self._owned(code, digest)
            state = ClassState(entry.state.version + 1, view, self.clock())
            self._classes[code] = dataclasses.replace(entry, state=state)
            return state.version

    def _touch(self, code: str, digest: str) -> None:
        with self._lock:
            entry = self._owned(code, digest)
            state = dataclasses.replace(entry.state, updated=self.clock())
            self._classes[code] = dataclasses.replace(entry, state=state)

    def _is_teacher(self, code: str, digest: str) -> bool:
        with self._lock:
            try:
                self._owned(code, digest)
            except (ClassError, NotTheTeacher):
                return False
            return True

    def _read(self, code: str) -> ClassState:
        with self._lock:
            state = self._live(code).state
        return dataclasses.replace(state, view=dict(state.view))  # the caller may change its copy

    def _end(self, code: str, digest: str) -> None:
        with self._lock:
            self._owned(code, digest)
            del self._classes[code]

    def _version(self, code: str) -> int:
        with self._lock:
            return self._live(code).state.version


# Redis scripts run atomically: nothing else happens between their commands. KEYS[2] is always
# the set of live classes; an expiry there is taken on Redis's clock, the one PEXPIRE uses.
_NOW_MS = """
local clock = redis.call('TIME')
local now_ms = tonumber(clock[1]) * 1000 + math.floor(tonumber(clock[2]) / 1000)
local function expiry(ttl_ms) return string.format('%.0f', now_ms + tonumber(ttl_ms)) end
"""
# KEYS: the class, the set of classes, the client's starts (absent: no limit).
# ARGV: digest, updated, ttl ms, code, max classes, starts per minute, window ms.
_CREATE = (
    _NOW_MS
    + """
if KEYS[3] and tonumber(redis.call('GET', KEYS[3]) or '0') >= tonumber(ARGV[6]) then
  return {'limited', redis.call('PTTL', KEYS[3])}
end
redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', now_ms)
if redis.call('ZCARD', KEYS[2]) >= tonumber(ARGV[5]) then return {'full', 0} end
if redis.call('EXISTS', KEYS[1]) == 1 then return {'taken', 0} end
redis.call('HSET', KEYS[1], 'version', 0, 'view', '{}', 'updated', ARGV[2], 'token', ARGV[1])
redis.call('PEXPIRE', KEYS[1], ARGV[3])
redis.call('ZADD', KEYS[2], expiry(ARGV[3]), ARGV[4])
if KEYS[3] and redis.call('INCR', KEYS[3]) == 1 then redis.call('PEXPIRE', KEYS[3], ARGV[7]) end
return {'created', 0}
"""
)
# The token was already compared in Python (compare_digest); this check only guards against the
# class ending (or its code being reused) between that comparison and the write.
# ARGV: digest, view, updated, ttl ms, code.
_PUBLISH = (
    _NOW_MS
    + """
if redis.call('HGET', KEYS[1], 'token') ~= ARGV[1] then return -1 end
local version = redis.call('HINCRBY', KEYS[1], 'version', 1)
redis.call('HSET', KEYS[1], 'view', ARGV[2], 'updated', ARGV[3])
redis.call('PEXPIRE', KEYS[1], ARGV[4])
redis.call('ZADD', KEYS[2], expiry(ARGV[4]), ARGV[5])
return version
"""
)
# ARGV: digest, updated, ttl ms, code.
_TOUCH = (
    _NOW_MS
    + """
if redis.call('HGET', KEYS[1], 'token') ~= ARGV[1] then return -1 end
redis.call('HSET', KEYS[1], 'updated', ARGV[2])
redis.call('PEXPIRE', KEYS[1], ARGV[3])
redis.call('ZADD', KEYS[2], expiry(ARGV[3]), ARGV[4])
return 1
"""
)
# ARGV: digest, code.
_END = """
if redis.call('HGET', KEYS[1], 'token') ~= ARGV[1] then return -1 end
redis.call('ZREM', KEYS[2], ARGV[2])
return redis.call('DEL', KEYS[1])
"""


class RedisStore(ClassStore):
    """Classes in Redis, shared by every ConvLab server pointed at the same ``url``.

    A class is one hash, ``convlab:class:<code>`` (version, view as JSON, updated, the token's
    SHA-256), that Redis deletes ``quiet_seconds`` after its start or last publish or touch. The
    sorted set ``convlab:classes`` maps each code to that expiry, so a start counts live classes
    (at most ``max_classes``); ``convlab:starts:<client's SHA-256>`` counts a client's starts in a
    fixed minute (at most ``starts_per_minute``). Writes are Lua scripts, so two publishes never
    lose a version and two starts never pass a bound together. Sockets time out after
    :data:`SOCKET_TIMEOUT` and a failed call is retried once at most (a pooled connection may be
    stale after a Redis restart), so a dead Redis fails a page's call within seconds; every
    redis-py error becomes StoreUnavailable. Nothing connects until the first call (:meth:`ping`).
    """

    def __init__(
        self,
        url: str,
        *,
        quiet_seconds: float = QUIET_SECONDS,
        max_classes: int = MAX_CLASSES,
        starts_per_minute: int = STARTS_PER_MINUTE,
    ) -> None:
        import redis  # only here: the app without a Redis URL never imports redis-py
        from redis.backoff import NoBackoff
        from redis.retry import Retry

        self.url = url
        self.quiet_seconds = quiet_seconds
        self.max_classes = _positive_count("max_classes", max_classes)
        self.starts_per_minute = _positive_count("starts_per_minute", starts_per_minute)
        self._redis_error = redis.RedisError
        try:
            self._client = redis.Redis.from_url(
                url,
                decode_responses=True,
                socket_timeout=SOCKET_TIMEOUT,
                socket_connect_timeout=SOCKET_TIMEOUT,
                retry=Retry(NoBackoff(), 1),
            )
        except ValueError as error:  # redis-py's word for a URL it can't parse
            raise StoreUnavailable(
                f"{ENV_VAR} is not a Redis URL ({error}). Set it to one like redis://127.0.0.1:6379/0, "
                "or unset it to keep classes in this server's memory (one server only)."
            ) from None  # the URL may hold a password: keep it out of the traceback
        self._scripts = {
            name: self._client.register_script(source)
            for name, source in (("create", _CREATE), ("publish", _PUBLISH), ("touch", _TOUCH), ("end", _END))
        }

    def describe(self) -> str:
        options = self._client.connection_pool.connection_kwargs
        if options.get("path"):
            return f"Redis at unix://{options['path']}?db={options.get('db', 0)}"
        host = str(options.get("host", "localhost"))
        host = f"[{host}]" if ":" in host else host
        scheme = "rediss" if self.url.strip().lower().startswith("rediss:") else "redis"
        return f"Redis at {scheme}://{host}:{options.get('port', 6379)}/{options.get('db', 0)}"

    def ping(self) -> None:
        """Check that Redis answers; StoreUnavailable with the fix if it doesn't."""
        with self._talking():
            self._client.ping()

    @contextlib.contextmanager
    def _talking(self):
        """Turn any redis-py error into StoreUnavailable, naming where and how to fix it."""
        try:
            yield
        except self._redis_error as error:
            raise StoreUnavailable(
                f"Can't use {self.describe()} ({type(error).__name__}: {error}). Start Redis there or point "
                f"{ENV_VAR} at one that runs; unset {ENV_VAR} to keep classes in this server's memory "
                "(one server only)."
            ) from error

    def _key(self, code: str) -> str:
        return REDIS_PREFIX + code

    def _ttl_ms(self) -> int:
        return max(1, round(self.quiet_seconds * 1000))

    def _check_owner(self, code: str, digest: str) -> None:
        with self._talking():
            stored = self._client.hget(self._key(code), "token")
        if stored is None:
            raise _unknown_class(code)
        if not _same_digest(stored, digest):
            raise _not_the_teacher(code)

    def _create(self, code: str, digest: str, client_key: str | None) -> bool:
        keys = [self._key(code), REDIS_CLASSES]
        if client_key is not None:
            keys.append(REDIS_STARTS_PREFIX + client_key)
        args = [
            digest,
            repr(time.time()),
            self._ttl_ms(),
            code,
            self.max_classes,
            self.starts_per_minute,
            START_WINDOW_SECONDS * 1000,
        ]
        with self._talking():
            outcome, wait_ms = self._scripts["create"](keys=keys, args=args)
        if outcome == "limited":
            raise _start_limited(self.starts_per_minute, int(wait_ms) / 1000)
        if outcome == "full":
            raise _too_many_classes(self.max_classes, self.quiet_seconds)
        return outcome == "created"

    def _publish(self, code: str, digest: str, view: dict[str, str]) -> int:
        self._check_owner(code, digest)
        args = [digest, json.dumps(view), repr(time.time()), self._ttl_ms(), code]
        with self._talking():
            version = self._scripts["publish"](keys=[self._key(code), REDIS_CLASSES], args=args)
        if version < 0:
            raise _unknown_class(code)  # ended or expired since the token was checked
        return int(version)

    def _touch(self, code: str, digest: str) -> None:
        self._check_owner(code, digest)
        args = [digest, repr(time.time()), self._ttl_ms(), code]
        with self._talking():
            touched = self._scripts["touch"](keys=[self._key(code), REDIS_CLASSES], args=args)
        if touched != 1:
            raise _unknown_class(code)  # ended or expired since the token was checked

    def _is_teacher(self, code: str, digest: str) -> bool:
        try:
            self._check_owner(code, digest)
        except (ClassError, NotTheTeacher):
            return False
        return True

    def _read(self, code: str) -> ClassState:
        with self._talking():
            version, view, updated = self._client.hmget(self._key(code), ["version", "view", "updated"])
        if version is None:
            raise _unknown_class(code)
        try:
            return ClassState(int(version), _checked_view(json.loads(view)), float(updated))
        except (TypeError, ValueError) as error:  # ClassError is a ValueError too
            raise ClassError(
                f"Class {code}'s stored state is unreadable ({error}); the teacher can start a new class."
            ) from None

    def _end(self, code: str, digest: str) -> None:
        self._check_owner(code, digest)
        with self._talking():
            ended = self._scripts["end"](keys=[self._key(code), REDIS_CLASSES], args=[digest, code])
        if ended != 1:
            raise _unknown_class(code)

    def _version(self, code: str) -> int:
        with self._talking():
            version = self._client.hget(self._key(code), "version")
        if version is None:
            raise _unknown_class(code)
        return int(version)


def open_store(url: str | None = None) -> ClassStore:
    """The class store for this server: Redis at ``url`` (default ``$CONVLAB_REDIS_URL``), checked
    once with a PING (StoreUnavailable if it doesn't answer), or this server's memory without a URL."""
    if url is None:
        url = os.environ.get(ENV_VAR)
    url = (url or "").strip()
    if not url:
        return MemoryStore()
    store = RedisStore(url)
    store.ping()
    return store


def qr_svg(url: str) -> str:
    """An SVG QR code of the join link, dark on white with the standard quiet border, drawn by
    segno (a full QR code, never a Micro QR that phone cameras may not read)."""
    if not isinstance(url, str) or not url.strip():
        raise ValueError("qr_svg needs the join link, a non-empty URL.")
    out = io.BytesIO()
    code = segno.make_qr(url.strip())
    code.save(
        out,
        kind="svg",
        scale=QR_SCALE,
        border=4,
        dark="#000000",
        light="#ffffff",
        xmldecl=False,
        svgclass="convlab-qr",
        lineclass=None,
    )
    return out.getvalue().decode("utf-8")
