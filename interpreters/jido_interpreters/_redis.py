"""RedisStorage: agents' journals and snapshots in Redis (``pip install 'jido[redis]'``)."""

from __future__ import annotations

import contextlib
import json
import logging
import os
import socket
import threading
import time
import uuid
from collections.abc import Callable, Sequence
from typing import Any, Final, TypeVar, final

import attrs

from ._jsonl import loads
from ._storage import (
    JOURNAL,
    STORE_FORMAT,
    AgentExists,
    AgentRecord,
    CorruptJournal,
    JournalEntry,
    SnapshotRecord,
    StorageError,
    StorageInUse,
    check_sequence,
    decode_entry,
    decode_registration,
    decode_snapshot,
    entry_time,
    unreadable_format,
)

__all__ = ["RedisStorage"]

log = logging.getLogger("jido.runtime")

# Pauses before sending a write again after a dropped connection (None: give up).
_RESEND_PAUSES: Final = (0.05, 0.2, 0.5, None)

_T = TypeVar("_T")


# Every write script starts with this fence: ARGV[1] is the writer's claim token ("" for a
# store that was never claimed); a write under a claim that is no longer the writer's is
# refused inside the same atomic step, so a paused runtime cannot write after another one
# took the prefix. A lease that lapsed while nobody claimed the prefix (the server was away
# for longer than the lease) is the writer's again: ``claimant`` records who claimed last,
# so a prefix claimed by another runtime meanwhile, even one whose lease lapsed too, is not.
# Then the format: ``format`` records the layout the prefix holds (``STORE_FORMAT``), set by
# the first write under a new prefix. Registrations without it were written in format 1,
# whose id sets held bare signal ids: a write there is refused, not mixed in.
def _fence(ttl_ms: int) -> str:
    return f"""
local held = redis.call('GET', KEYS[1] .. 'claim')
if ARGV[1] ~= '' and held ~= ARGV[1] then
  if held or redis.call('GET', KEYS[1] .. 'claimant') ~= ARGV[1] then
    return redis.error_reply('JIDO_CLAIM_LOST')
  end
  redis.call('SET', KEYS[1] .. 'claim', ARGV[1], 'PX', {ttl_ms})
end
local layout = redis.call('GET', KEYS[1] .. 'format')
if layout ~= '{STORE_FORMAT}' then
  if layout or redis.call('EXISTS', KEYS[1] .. 'agents', KEYS[1] .. 'order') > 0 then
    return redis.error_reply('JIDO_FORMAT ' .. (layout or '1'))
  end
  redis.call('SET', KEYS[1] .. 'format', '{STORE_FORMAT}')
end
"""


# A signal's member in an agent's id set (``ids:<agent>``): its identity, source and id
# together, as the source's length in bytes, a colon, the source, then the id. The length
# says where the source ends, so no two (source, id) pairs give one member, whatever
# characters they hold (a separator alone could appear in either).
_MEMBER: Final = """
local function member(source, id)
  return #source .. ':' .. source .. id
end
"""


# Take the prefix if nobody holds it, and record the claimant (see ``_fence``). A claim
# already held under this very token is ours: the same call sent again (its reply was lost).
_CLAIM: Final = """
if redis.call('SET', KEYS[1] .. 'claim', ARGV[1], 'NX', 'PX', ARGV[2]) then
  redis.call('SET', KEYS[1] .. 'claimant', ARGV[1])
  return 1
end
if redis.call('GET', KEYS[1] .. 'claim') == ARGV[1] then
  return 1
end
return 0
"""

# One round trip and one atomic step per batch: for each entry, add its signal's member (see
# ``_MEMBER``) to the agent's id set; if it was new, take the next sequence number and append
# the entry, ``[seq, source, id, signal, at]``, to the agent's journal list. Returns one
# sequence number (or false, for a signal already journalled) per entry. ARGV[2]
# names the batch: its result is kept for a while, so that sending the batch again (its
# reply was lost on the way back) returns what it did, rather than "already journalled".
# A script that fails halfway is not rolled back, so every key the batch writes is checked
# first (a key of another type, or a sequence counter that is no count: foreign data) and a
# batch lands whole or not at all. ``at`` is Python's exact spelling of the float, spliced in
# as it is (cjson would round it to 14 digits). A batch settled as abandoned (see _SETTLE)
# finds its mark there and writes nothing.
_APPEND: Final = """
local p = KEYS[1]
local done = redis.call('GET', p .. 'batch:' .. ARGV[2])
if done then
  return cjson.decode(done)
end
local n = (#ARGV - 2) / 5
local kinds = {{'ids:', 'set'}, {'seq:', 'string'}, {'j:', 'list'}}
for i = 0, n - 1 do
  local agent = ARGV[i*5+3]
  for _, kind in ipairs(kinds) do
    local held = redis.call('TYPE', p .. kind[1] .. agent)['ok']
    if held ~= 'none' and held ~= kind[2] then
      return redis.error_reply('JIDO_DAMAGED ' .. i .. ' ' .. kind[1] .. ' ' .. held)
    end
  end
  local count = redis.call('GET', p .. 'seq:' .. agent)
  if count and not string.match(count, '^%d+$') then
    return redis.error_reply('JIDO_DAMAGED ' .. i .. ' seq: count')
  end
end
local out = {}
for i = 0, n - 1 do
  local agent, source, sid = ARGV[i*5+3], ARGV[i*5+4], ARGV[i*5+5]
  local sig, at = ARGV[i*5+6], ARGV[i*5+7]
  if redis.call('SADD', p .. 'ids:' .. agent, member(source, sid)) == 1 then
    local seq = redis.call('INCR', p .. 'seq:' .. agent)
    local entry = '[' .. string.format('%d', seq) .. ',' .. cjson.encode(source) .. ','
      .. cjson.encode(sid) .. ',' .. cjson.encode(sig) .. ',' .. at .. ']'
    redis.call('RPUSH', p .. 'j:' .. agent, entry)
    out[i+1] = seq
  else
    out[i+1] = false
  end
end
redis.call('SET', p .. 'batch:' .. ARGV[2], cjson.encode(out), 'PX', 30000)
return out
"""

# Settle a batch whose every send timed out, so that its outcome is no longer unknown: a
# server that stalled may have run it after the client gave up, or may run it yet (a copy
# still on its way). ARGV[2] names the batch, then come its entries as _APPEND takes them
# (agent, source, signal id, signal, time). If it never ran, its mark says "abandoned"
# from now on, so a late copy writes nothing (kept an hour: past any copy still on its
# way). If it ran, what it journalled is taken out again, whole or not at all: those
# entries must still be their journals' last, with the counts theirs (the store writes
# nothing after a batch it has not settled, and the fence keeps other writers out), or it
# is refused as JIDO_UNSETTLED. The batch's record of what it did lives 30 s: a batch
# settled later than that, an entry of which its journal ends with, word for word (its
# time too), ran and cannot be taken back for want of the record: -1. Returns how many
# entries were taken out, or -1.
_SETTLE: Final = """
local p = KEYS[1]
local key = p .. 'batch:' .. ARGV[2]
local done = redis.call('GET', key)
if done == '"abandoned"' then
  return 0
end
local n = (#ARGV - 2) / 5
if not done then
  redis.call('SET', key, '"abandoned"', 'PX', 3600000)
  local count = {}
  for i = 0, n - 1 do
    local agent = ARGV[i*5+3]
    count[agent] = (count[agent] or 0) + 1
  end
  for i = 0, n - 1 do
    local agent, source, sid = ARGV[i*5+3], ARGV[i*5+4], ARGV[i*5+5]
    local sig, at = ARGV[i*5+6], ARGV[i*5+7]
    local text = ',' .. cjson.encode(source) .. ',' .. cjson.encode(sid) .. ','
      .. cjson.encode(sig) .. ',' .. at .. ']'
    for _, entry in ipairs(redis.call('LRANGE', p .. 'j:' .. agent, -count[agent], -1)) do
      if string.sub(entry, -#text) == text then
        return -1
      end
    end
  end
  return 0
end
local out = cjson.decode(done)
local taken, last = {}, {}
for i = n, 1, -1 do
  if out[i] then
    local agent = ARGV[(i-1)*5+3]
    local k = (taken[agent] or 0) + 1
    taken[agent] = k
    if k == 1 then
      last[agent] = out[i]
    end
    local head = '[' .. string.format('%d', out[i]) .. ','
    local entry = redis.call('LINDEX', p .. 'j:' .. agent, -k)
    if not entry or string.sub(entry, 1, #head) ~= head then
      return redis.error_reply('JIDO_UNSETTLED ' .. (i - 1))
    end
  end
end
for agent, seq in pairs(last) do
  if redis.call('GET', p .. 'seq:' .. agent) ~= string.format('%d', seq) then
    return redis.error_reply('JIDO_UNSETTLED count')
  end
end
local undone = 0
for i = n, 1, -1 do
  if out[i] then
    local agent, source, sid = ARGV[(i-1)*5+3], ARGV[(i-1)*5+4], ARGV[(i-1)*5+5]
    redis.call('RPOP', p .. 'j:' .. agent)
    redis.call('SREM', p .. 'ids:' .. agent, member(source, sid))
    if out[i] > 1 then
      redis.call('SET', p .. 'seq:' .. agent, string.format('%d', out[i] - 1))
    else
      redis.call('DEL', p .. 'seq:' .. agent)
    end
    undone = undone + 1
  end
end
redis.call('SET', key, '"abandoned"', 'PX', 3600000)
return undone
"""

# Settle a registration whose every send timed out (see _SETTLE): ARGV[2] names the request,
# ARGV[3] the agent, ARGV[4] the record as sent and ARGV[5] the same record stopped. If it ran
# (the agent's record is the one sent: nothing is written under the store's claim before it
# is settled), it is marked stopped, since its start was refused; either way the request's
# mark keeps a late copy from writing (_REGISTER finds it). Returns 1 if it ran, else 0.
_SETTLE_REGISTRATION: Final = """
local p = KEYS[1]
local ran = redis.call('HGET', p .. 'agents', ARGV[3]) == ARGV[4]
if ran then
  redis.call('HSET', p .. 'agents', ARGV[3], ARGV[5])
end
redis.call('SET', p .. 'req:' .. ARGV[2], '1', 'PX', 3600000)
return ran and 1 or 0
"""

# Atomically: refuse an id registered and not stopped (a record that does not decode counts
# as registered: it is damage to report, not to overwrite; ``stopped`` is a flag, true or 1,
# as ``decode_registration`` reads it); drop the journal and snapshot an earlier life under
# the id left, but keep its id set, the signals it saw (so a signal it was sent is not
# handled by the new one when a recovery delivers it again); write the record and its place
# at the end of the registration order. ARGV[4] names the request: sending it again (its
# reply was lost) answers 1 rather than "registered already".
_REGISTER: Final = """
local p, agent, record, request = KEYS[1], ARGV[2], ARGV[3], ARGV[4]
if redis.call('EXISTS', p .. 'req:' .. request) == 1 then
  return 1
end
local old = redis.call('HGET', p .. 'agents', agent)
if old then
  local ok, data = pcall(cjson.decode, old)
  if not (ok and type(data) == 'table' and (data['stopped'] == true or data['stopped'] == 1)) then
    return 0
  end
end
redis.call('DEL', p .. 'seq:' .. agent, p .. 'j:' .. agent, p .. 'snap:' .. agent)
redis.call('HSET', p .. 'agents', agent, record)
redis.call('ZADD', p .. 'order', redis.call('INCR', p .. 'position'), agent)
redis.call('SET', p .. 'req:' .. request, '1', 'PX', 30000)
return 1
"""

# Replace a registration record, fenced, if it still reads ARGV[3]: the fields are edited in
# Python, whose JSON keeps every number as it is (cjson would round integers past 14 digits).
_REPLACE_RECORD: Final = """
if redis.call('HGET', KEYS[1] .. 'agents', ARGV[2]) ~= ARGV[3] then return 0 end
redis.call('HSET', KEYS[1] .. 'agents', ARGV[2], ARGV[4])
return 1
"""

# Remember an undelivered signal (its member, see ``_MEMBER``) for an agent id, fenced.
_MARK_UNDELIVERED: Final = """
return redis.call('SADD', KEYS[1] .. 'ids:' .. ARGV[2], member(ARGV[3], ARGV[4]))
"""

# Store a snapshot, fenced.
_SNAPSHOT: Final = """
redis.call('SET', KEYS[1] .. 'snap:' .. ARGV[2], ARGV[3])
return 1
"""

# Renew a claim while it is ours, or take it again if it lapsed and nobody claimed since (as
# the fence does); 0 once another runtime has claimed the prefix.
_RENEW: Final = """
local held = redis.call('GET', KEYS[1] .. 'claim')
if held == ARGV[1] then
  return redis.call('PEXPIRE', KEYS[1] .. 'claim', ARGV[2])
end
if not held and redis.call('GET', KEYS[1] .. 'claimant') == ARGV[1] then
  redis.call('SET', KEYS[1] .. 'claim', ARGV[1], 'PX', ARGV[2])
  return 1
end
return 0
"""

# Give a claim up only if it is still ours.
_RELEASE: Final = """
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('DEL', KEYS[1])
end
return 0
"""


@final
class RedisStorage:
    """A :class:`~jido_interpreters.Storage` on a Redis server.

    Durability is the server's: run it with ``appendonly yes`` (and ``appendfsync always``
    for the same guarantee as SQLite's ``synchronous=FULL``; ``everysec`` loses at most a
    second on power loss), and with ``maxmemory-policy noeviction``: an evicted key is lost
    data (recovery refuses an agent whose journal, count or id set was evicted), so
    :meth:`claim` refuses a server with a memory limit and another policy (one that does
    not answer ``CONFIG GET`` is taken on trust).

    One runtime at a time may write under a prefix: :meth:`claim` takes a lease on it, which
    a background thread renews every third of ``claim_ttl`` while it is held. A holder that
    dies without releasing it (killed, or cut off from the server) holds it until the lease
    runs out, at most ``claim_ttl`` seconds; one whose lease lapsed and was taken by another
    runtime meanwhile refuses every further write (:class:`StorageInUse`), while one whose
    lease lapsed with nobody claiming the prefix since takes it again and writes on.

    The prefix records the store format it holds (its first write sets it). A prefix holding
    another one, registrations written by an earlier jido whose id sets held bare signal ids
    among them, is refused with a :class:`StorageError` by :meth:`agents` and by every
    write, rather than misread.

    Args:
        url: e.g. ``redis://127.0.0.1:6379/0``.
        prefix: the key prefix, so several systems can share a server.
        client: an existing ``redis.Redis`` client instead of ``url``.
        claim_ttl: the lease of a claim, in seconds.
    """

    def __init__(
        self,
        url: str = "redis://127.0.0.1:6379/0",
        *,
        prefix: str = "jido:",
        client: Any = None,
        claim_ttl: float = 10.0,
    ) -> None:
        try:
            import redis
        except ImportError as exc:  # pragma: no cover - depends on the environment
            raise ImportError(
                "RedisStorage needs the redis extra: pip install 'jido[redis]'"
            ) from exc
        if not 0.05 <= claim_ttl < float("inf"):  # NaN fails too
            raise ValueError(f"claim_ttl must be a number of seconds >= 0.05, not {claim_ttl!r}")
        if client is None and not isinstance(url, str):
            raise TypeError(f"url must be a Redis URL such as redis://host:6379/0, not {url!r}")
        if not isinstance(prefix, str):
            raise TypeError(f"prefix must be a string, not {prefix!r}")
        self._ttl_ms = int(claim_ttl * 1000)
        self._r: Any = client if client is not None else redis.Redis.from_url(url)
        self._own_client = client is None
        self._p = prefix
        fence = _fence(self._ttl_ms)
        self._append = self._r.register_script(fence + _MEMBER + _APPEND)
        self._register = self._r.register_script(fence + _REGISTER)
        self._snapshot = self._r.register_script(fence + _SNAPSHOT)
        self._replace_record = self._r.register_script(fence + _REPLACE_RECORD)
        self._mark_undelivered = self._r.register_script(fence + _MEMBER + _MARK_UNDELIVERED)
        self._settle_batch = self._r.register_script(fence + _MEMBER + _SETTLE)
        self._settle_registration = self._r.register_script(fence + _SETTLE_REGISTRATION)
        self._claim = self._r.register_script(_CLAIM)
        self._renew = self._r.register_script(_RENEW)
        self._release = self._r.register_script(_RELEASE)
        self._token: str | None = None
        # Writes whose every send timed out, oldest first: settled before anything else
        # reads or writes (see _settle). ``_io`` is held by a write from its settling to
        # its outcome, and by a read from its settling to its answer: a read sent while a
        # write is in flight could see what that write did and is then taken back.
        self._unsettled: list[_Unsettled] = []
        self._io = threading.RLock()
        self._wake = threading.Event()
        self._keeper: threading.Thread | None = None
        self._stop_keeping = threading.Event()
        kw = self._r.connection_pool.connection_kwargs
        # Where, without the URL's password.
        self._where = (
            f"redis {kw.get('host', '?')}:{kw.get('port', '?')}/{kw.get('db', 0)} prefix {prefix!r}"
        )

    def claim(self) -> None:
        """Take the prefix for one runtime (see the class docs).

        Raises:
            StorageError: the server has a memory limit (``maxmemory``) and its
                ``maxmemory-policy`` is not ``noeviction``.
            StorageInUse: another runtime holds it (in another process, or in this one
                given this very object); ``holder`` is its ``host:pid``.
        """
        if self._token is not None:
            # One store object given to two runtimes (see SQLiteStorage.claim).
            raise StorageInUse(self._where, f"{socket.gethostname()}:{os.getpid()}, this one")
        self._check_policy()
        token = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
        if not _resending(lambda: self._claim(keys=[self._p], args=[token, self._ttl_ms])):
            raise self._in_use()
        self._token = token
        self._stop_keeping.clear()
        self._wake.clear()
        self._keeper = threading.Thread(
            target=self._keep, args=(token,), name="jido-redis-claim", daemon=True
        )
        self._keeper.start()

    def _check_policy(self) -> None:
        """Refuse a server that may evict keys: under memory pressure it would drop
        journals, counts, registrations or the claim, and with a registration gone a
        restore finds no agent at all (acknowledged signals lost without a word). A server
        that does not answer ``CONFIG GET`` (a managed service that renames or disables
        it) cannot be checked, and is taken on trust."""
        import redis

        try:
            found = _resending(lambda: self._r.config_get("maxmemory*"))
        except redis.ResponseError:
            return
        setting = {
            (k.decode(errors="replace") if isinstance(k, bytes) else k): (
                v.decode(errors="replace") if isinstance(v, bytes) else v
            )
            for k, v in found.items()
        }
        policy = setting.get("maxmemory-policy")
        # Without a memory limit (maxmemory 0) nothing is evicted, whatever the policy; a
        # limit set later (CONFIG SET) is not seen here.
        if setting.get("maxmemory") not in (None, "0") and policy not in (None, "noeviction"):
            raise StorageError(
                f"{self._where}: the server's maxmemory-policy is {policy!r}, so it may evict"
                " the keys that hold agents and their journals (acknowledged signals lost);"
                " run it with maxmemory-policy noeviction"
            )

    def _keep(self, token: str) -> None:
        import redis

        while True:
            # Woken at once when a write is left unsettled, and every second while one is:
            # what a batch did is kept 30 s (see _SETTLE), and settled later than that, one
            # that ran can no longer be taken back.
            self._wake.wait(
                min(self._ttl_ms / 3000, 1.0) if self._unsettled else self._ttl_ms / 3000
            )
            self._wake.clear()
            if self._stop_keeping.is_set():
                return
            try:
                renewed = self._renew(keys=[self._p], args=[token, self._ttl_ms])
            except redis.RedisError:
                continue  # the server is away: try again; the lease may lapse meanwhile
            if not renewed:
                return  # taken by another runtime: the fence refuses this store's writes now
            if self._unsettled:
                # Failing here is failing the next read or write, which tries again.
                with contextlib.suppress(redis.RedisError, StorageError):
                    self._settle()

    def release(self) -> None:
        """Give up the claim, if held: first settling what is unsettled (see
        :meth:`append`) while the claim still fences it, and logging at ERROR a write left
        unsettled (the server did not answer): a restore may handle what it refused."""
        token = self._token
        if token is None:
            return
        self._let_go()
        self._token = None
        self._stop_keeping.set()
        self._wake.set()
        if self._keeper is not None:
            self._keeper.join()
            self._keeper = None
        import redis

        # If the server is away, the lease runs out by itself.
        with contextlib.suppress(redis.RedisError):
            self._release(keys=[self._p + "claim"], args=[token])

    def _let_go(self) -> None:
        """Settle what is unsettled if the server answers; log (ERROR) and forget the rest."""
        import redis

        with contextlib.suppress(redis.RedisError, StorageError):
            self._settle()
        with self._io:
            for write in self._unsettled:
                log.error(
                    "%s: let go with a write whose every send failed still unsettled (the"
                    " server did not answer since); if the server runs it yet, a restore"
                    " handles %s, though told it was refused: %s",
                    self._where,
                    "the agent" if write.registration else "its signals",
                    write.described(),
                )
            self._unsettled.clear()

    def _fenced(self, script: Any, args: list[str]) -> Any:
        """Run a write script behind the claim's fence (see ``_fence``), sent again after a
        dropped connection (every write script is safe to run twice, see ``_resending``),
        once every batch of unknown outcome is settled (see ``_settle``)."""
        self._settle()
        return self._run(script, args)

    def _run(self, script: Any, args: list[str], token: str | None = None) -> Any:
        """:meth:`_fenced`, without settling first; fenced by ``token`` if given (the claim
        a write of unknown outcome was sent under), else by the store's own."""
        import redis

        fence = token if token is not None else self._token or ""
        try:
            return _resending(lambda: script(keys=[self._p], args=[fence, *args]))
        except redis.ResponseError as exc:
            message = str(exc)
            if message.startswith("JIDO_FORMAT "):
                found = message.removeprefix("JIDO_FORMAT ").split()  # what the prefix records
                raise unreadable_format(self._where, _format(found[0] if found else "")) from None
            if "JIDO_CLAIM_LOST" not in message:
                raise
            raise self._in_use() from None

    def _settle(self) -> None:
        """Settle every batch whose every send timed out, oldest first (see ``_SETTLE``):
        one the server never ran never will, and one it ran after all is taken out of the
        journal again, so that each of its signals was refused, as :meth:`append` said
        (:class:`NotDurable` to its sender), and sending it again is handled. Until then
        the store reads and writes nothing else: an append after the batch would be
        journalled after entries no agent handled, a load would hand them to one.

        A registration (see :meth:`register`) is settled alike: one the server ran after
        all is marked stopped, as its refused start said it was not started.

        Raises:
            redis.RedisError: the server is still away (the batch stays unsettled).
            StorageInUse: another runtime took the prefix meanwhile.
        """
        import redis

        if not self._unsettled:
            return
        with self._io:
            while self._unsettled:
                write = self._unsettled[0]
                if write.registration:
                    ran = self._run(
                        self._settle_registration, [write.request, *write.args], write.token
                    )
                    del self._unsettled[0]
                    if ran:
                        log.warning(
                            "%s: a registration whose every send failed was run by the"
                            " server after all; agent %r is marked stopped, as its start"
                            " said it was not started",
                            self._where,
                            write.args[0],
                        )
                    continue
                try:
                    undone = self._run(
                        self._settle_batch, [write.request, *write.args], write.token
                    )
                except redis.ResponseError as exc:
                    if not str(exc).startswith("JIDO_UNSETTLED"):
                        raise
                    undone = None
                del self._unsettled[0]
                if undone == 0:
                    continue
                signals = write.described()
                if undone is not None and undone > 0:
                    log.warning(
                        "%s: a write whose every send failed was run by the server after"
                        " all; its %d journal entries were taken out again, so its signals"
                        " stay refused, as their senders were told: %s",
                        self._where,
                        undone,
                        signals,
                    )
                    continue
                log.error(
                    "%s: a write whose every send failed was run by the server after all,"
                    " and cannot be taken back (%s); a restore may handle its signals though"
                    " their senders were told they were refused: %s",
                    self._where,
                    "settled too late" if undone == -1 else "entries written after it",
                    signals,
                )

    def _left(self, write: _Unsettled) -> None:
        """Keep a write of unknown outcome to settle, and wake the keeper to settle it as
        soon as the server answers."""
        self._unsettled.append(write)
        self._wake.set()

    def _in_use(self) -> StorageInUse:
        # Who holds the claim, and how long its lease has to run (a holder that died stops
        # renewing it; a key without expiry or already gone reports no wait).
        held = self._r.get(self._p + "claim")
        holder = held.decode(errors="replace").rsplit(":", 1)[0] if held else ""
        ms = self._r.pttl(self._p + "claim")
        return StorageInUse(self._where, holder, ms / 1000 if ms >= 0 else None)

    def register(self, record: AgentRecord) -> None:
        """See :meth:`Storage.register`. Sent again after a dropped connection under the same
        request id, so a registration whose reply was lost is not refused as a duplicate.
        One whose every send timed out is settled as :meth:`append` settles a batch: if
        the server ran it after all, the record is marked stopped (its start was refused,
        so no restore may bring the agent back, and starting the id again is allowed)."""
        import redis

        raw = json.dumps(
            {
                "spec": record.spec,
                "schema_version": record.schema_version,
                "initial": record.initial,
                "parent_id": record.parent_id,
                "tag": record.tag,
                "stopped": record.stopped,
            }
        )
        request = uuid.uuid4().hex
        with self._io:
            self._settle()
            try:
                registered = self._run(self._register, [record.agent_id, raw, request])
            except (redis.ConnectionError, redis.TimeoutError):
                # Sent, perhaps, and never answered: settled before the next read or write.
                stopped = json.dumps({**json.loads(raw), "stopped": True})
                self._left(
                    _Unsettled(
                        request,
                        [record.agent_id, raw, stopped],
                        self._token or "",
                        registration=True,
                    )
                )
                raise
        if not registered:
            raise AgentExists(record.agent_id)

    def mark_stopped(self, agent_id: str) -> None:
        """Set the registration's ``stopped`` flag. A registration that cannot be decoded is
        left as it is: :meth:`agents` reports it (and recovery refuses it), which says more
        than an error here would."""
        self._patch_record(agent_id, {"stopped": True})

    def set_parent(self, agent_id: str, parent_id: str | None, tag: str | None) -> None:
        """As :meth:`mark_stopped`, for the parent link (``None``: none)."""
        self._patch_record(agent_id, {"parent_id": parent_id, "tag": tag})

    def _patch_record(self, agent_id: str, fields: dict[str, object]) -> None:
        # Read, edit in Python, and write back only if the record is still what was read
        # (one runtime writes under the claim, so the loop ends at once but for a race with
        # an outside edit).
        while True:
            raw = self._r.hget(self._p + "agents", agent_id)
            if raw is None:
                return
            try:
                data = loads(raw)
            except ValueError:
                return
            if not isinstance(data, dict):
                return
            data.update(fields)
            if self._fenced(self._replace_record, [agent_id, raw, json.dumps(data)]):
                return

    def mark_undelivered(self, agent_id: str, source: str, signal_id: str) -> None:
        self._fenced(self._mark_undelivered, [agent_id, source, signal_id])

    def append(self, entries: Sequence[tuple[str, str, str, str, float]]) -> list[int | None]:
        """See :meth:`Storage.append`. A batch whose reply is lost (the connection dropped
        after the server ran it) is sent again, a few times, under the same batch id: the
        server answers with what it did the first time, so a journalled signal is not
        reported as failed (nor, when sent again, as already journalled and never handled).

        A batch whose every send timed out or lost its connection has an unknown outcome: a
        stalled server may run it after the store gave up. The store settles it before its
        next read or write (or within a second, by the thread that keeps the claim, once the
        server answers): one the server never ran is marked so that it never will, and one
        it ran after all is taken out of the journal again (logged at WARNING). Either way
        its signals were refused, as the error raised here says, and sending them again is
        handled. It stays unknown only if the store is released, or its process ends,
        before the server answers again (logged at ERROR by :meth:`release`), or if the
        server ran it more than 30 s before it is settled, when the server no longer holds
        what it did (logged at ERROR)."""
        import redis

        batch = uuid.uuid4().hex
        args: list[str] = [batch]
        for agent_id, source, signal_id, signal, at in entries:
            # The float's exact JSON spelling (see _APPEND).
            args += [agent_id, source, signal_id, signal, repr(entry_time(at))]
        with self._io:
            self._settle()
            try:
                result = self._run(self._append, args)
            except (redis.ConnectionError, redis.TimeoutError):
                # Sent, perhaps, and never answered: settled before the next read or write.
                self._left(_Unsettled(batch, args[1:], self._token or ""))
                raise
            except redis.ResponseError as exc:
                # "JIDO_DAMAGED <entry> <key> <what the key holds>": foreign data where the
                # entry's agent keeps its journal; nothing of the batch was written.
                words = str(exc).split()
                if words[0] != "JIDO_DAMAGED":
                    raise
                agent_id = entries[int(words[1])][0]
                held = "no count" if words[3] == "count" else f"a {words[3]}"
                raise CorruptJournal(
                    agent_id, JOURNAL, f"its {words[2]!r} key holds {held}: foreign data"
                ) from None
        if not isinstance(result, list):  # pragma: no cover - a settled batch is never sent
            raise StorageError(f"{self._where}: batch {batch} was settled as abandoned")
        return [int(x) if x else None for x in result]

    def snapshot(self, record: SnapshotRecord) -> None:
        raw = json.dumps(
            {
                "seq": record.seq,
                "schema_version": record.schema_version,
                "agent": record.agent,
                "outbox": record.outbox,
            }
        )
        self._fenced(self._snapshot, [record.agent_id, raw])

    def agents(self) -> list[AgentRecord | CorruptJournal]:
        """Every registration in registration order; one that cannot be decoded is a
        :class:`CorruptJournal` in its place (see :meth:`Storage.agents`).

        ``register`` writes an agent's record and its place in the order in one transaction,
        so an id found in only one of them is damage too: an ordered id with no record, or a
        record with no place in the order (reported after the ordered ones, by id).

        Raises:
            StorageError: the prefix holds another format (registrations written before
                signals were told apart by source and id are not converted), or keys of
                another type where the registrations are.
        """
        # Both in one transaction: a registration landing between two reads would show up
        # in one and not the other, and look like damage.
        import redis

        try:
            with self._io:
                # A registration of unknown outcome may have made an agent no one runs.
                self._settle()
                with self._r.pipeline(transaction=True) as pipe:
                    pipe.zrange(self._p + "order", 0, -1)
                    pipe.hgetall(self._p + "agents")
                    pipe.get(self._p + "format")
                    ordered, raw, layout = pipe.execute()
        except redis.ResponseError as exc:  # a key of another type: foreign data
            raise StorageError(f"{self._where}: the registrations cannot be read: {exc}") from None
        # No format and no registrations: a new prefix (its first write records the format).
        if layout != str(STORE_FORMAT).encode() and (layout is not None or ordered or raw):
            raise unreadable_format(self._where, 1 if layout is None else _format(layout))
        order: list[bytes] = list(ordered)
        unordered = set(raw) - set(order)
        out: list[AgentRecord | CorruptJournal] = []
        for key in order + sorted(unordered):
            try:
                agent_id = key.decode()
            except UnicodeDecodeError:
                # Damage as well; backslash escapes still name it in the report.
                name = key.decode(errors="backslashreplace")
                out.append(CorruptJournal(name, 0, "its id is not UTF-8 text"))
                continue
            text = raw.get(key)
            if text is None:
                out.append(CorruptJournal(agent_id, 0, "no registration record"))
                continue
            if key in unordered:
                out.append(CorruptJournal(agent_id, 0, "not in the registration order"))
                continue
            try:
                data = loads(text)
            except ValueError as exc:  # not JSON; or bytes that are not UTF-8
                out.append(CorruptJournal(agent_id, 0, f"not JSON ({exc})"))
                continue
            if not isinstance(data, dict):
                out.append(CorruptJournal(agent_id, 0, f"not a JSON object: {data!r:.40}"))
                continue
            out.append(decode_registration(agent_id, data))
        return out

    def load(self, agent_id: str) -> tuple[SnapshotRecord | None, list[JournalEntry]]:
        """See :meth:`Storage.load`. The journal list is never trimmed, so it must hold
        entries 1 to the agent's sequence counter, each at its place, and the id set at
        least as many signals: a key evicted or an element removed is a
        :class:`CorruptJournal` (:func:`check_sequence`), not a shorter history.

        Raises:
            CorruptJournal: damaged or missing data.
        """
        import redis

        p = self._p
        # One transaction: an append landing between the reads would look like damage.
        try:
            with self._io:
                # A batch of unknown outcome may have journalled what no agent handled.
                self._settle()
                with self._r.pipeline(transaction=True) as pipe:
                    pipe.get(p + "seq:" + agent_id)
                    pipe.scard(p + "ids:" + agent_id)
                    pipe.get(p + "snap:" + agent_id)
                    pipe.lrange(p + "j:" + agent_id, 0, -1)
                    counter, known, snap_raw, stored = pipe.execute(raise_on_error=False)
        except redis.ResponseError as exc:  # pragma: no cover - raise_on_error=False
            raise CorruptJournal(agent_id, JOURNAL, f"it cannot be read ({exc})") from None
        if isinstance(snap_raw, redis.ResponseError):  # a key of another type: foreign data
            raise CorruptJournal(agent_id, -1, f"its key holds no snapshot ({snap_raw})")
        for reply, what in ((stored, "journal"), (counter, "count"), (known, "id set")):
            if isinstance(reply, redis.ResponseError):
                raise CorruptJournal(agent_id, JOURNAL, f"its key holds no {what} ({reply})")
        snap = None
        if snap_raw is not None:
            try:
                data = loads(snap_raw)
                fields = (data["seq"], data["schema_version"], data["agent"], data["outbox"])
            except (ValueError, TypeError, KeyError) as exc:
                raise CorruptJournal(agent_id, -1, f"not a snapshot record ({exc!r})") from None
            snap = decode_snapshot(agent_id, *fields)
        if counter is None:
            last = 0  # nothing journalled (or the key was evicted: the entries say so)
        elif counter.isdigit():
            last = int(counter)
        else:
            raise CorruptJournal(agent_id, JOURNAL, f"its count {counter!r:.20} is no number")
        if len(stored) > last:
            raise CorruptJournal(
                agent_id, JOURNAL, f"it holds {len(stored)} entries, its count says {last}"
            )
        # The id set holds every journalled signal (and signals marked undelivered or seen
        # by an earlier agent of this id): without it, re-deliveries would be handled again.
        if known < last:
            raise CorruptJournal(
                agent_id, JOURNAL, f"its id set holds {known} signals for {last} entries"
            )
        entries = []
        for index, raw in enumerate(stored):
            # Sequence numbers count from 1 and the list is never trimmed: the position
            # names the entry even when the entry itself cannot say.
            try:
                seq, source, sid, sig, at = loads(raw)
            except (ValueError, TypeError) as exc:
                raise CorruptJournal(agent_id, index + 1, f"not a journal entry ({exc})") from None
            entry = decode_entry(agent_id, index + 1, seq, source, sid, sig, at)
            if entry.seq != index + 1:
                raise CorruptJournal(
                    agent_id,
                    index + 1,
                    f"missing: the journal goes on at entry {entry.seq} after entry {index}",
                )
            entries.append(entry)
        if len(entries) < last:
            ends = f"ends at entry {len(entries)}" if entries else "holds no entry"
            raise CorruptJournal(
                agent_id, len(entries) + 1, f"missing: the journal {ends}, its count says {last}"
            )
        after = 0 if snap is None else snap.seq
        entries = entries[after:]
        check_sequence(agent_id, snap, entries, last)
        return snap, entries

    def close(self) -> None:
        """Release the claim (settling first what is unsettled, see :meth:`release`), and
        close the client if this store made it (one passed in as ``client`` is the
        caller's to close)."""
        self.release()
        self._let_go()  # a store never claimed settles unfenced, as it wrote
        if self._own_client:
            self._r.close()


@final
@attrs.frozen
class _Unsettled:
    """A write whose every send failed: a batch of appends (``args``: each entry as
    ``_APPEND`` takes it) or a registration (``args``: agent, the record as sent, the same
    record stopped), named by its batch or request id, and the claim it was sent under
    (``token``, ``""`` for none): it is settled under that claim or not at all."""

    request: str
    args: list[str]
    token: str
    registration: bool = False

    def described(self) -> str:
        """What it wrote, for a log line."""
        if self.registration:
            return f"agent {self.args[0]!r}"
        return ", ".join(
            f"agent {self.args[i]!r}: source {self.args[i + 1]!r}, id {self.args[i + 2]!r}"
            for i in range(0, len(self.args), 5)
        )


def _format(recorded: str | bytes) -> object:
    """A recorded format as the error names it: a number if it is one."""
    text = recorded.decode(errors="replace") if isinstance(recorded, bytes) else recorded
    try:
        return int(text)
    except ValueError:
        return text


def _resending(write: Callable[[], _T]) -> _T:
    """``write()``, run again (a few times, after a pause) when the connection drops.

    The reply to a write may be lost after the server ran it, so every write this store
    sends must be safe to run twice: appends and registrations carry an id the server
    remembers, a claim its token, and the other writes set what they set.
    """
    import redis

    for pause in _RESEND_PAUSES:
        try:
            return write()
        except (redis.ConnectionError, redis.TimeoutError):
            if pause is None:
                raise
            time.sleep(pause)
    raise AssertionError("unreachable")  # pragma: no cover
