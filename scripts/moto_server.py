#!/usr/bin/env python3
"""moto's server (local DynamoDB + SQS) with two changes, for the tests, the benchmarks and the
load run. The one copy of those changes: `tests/src/lib.rs`, `bench/run.sh` and
`scripts/local.sh` all start this file.

1. Serializable (DynamoDB). Stock moto checks a condition and then writes, without a lock: two requests
   on two server threads can both pass `attribute_not_exists` and both write, which DynamoDB
   never allows. Here every DynamoDB operation runs under one lock, so conditions hold as on
   DynamoDB, and a race test tests the product's code, not moto's.
2. Transactions copy what they touch, not whole tables. Stock moto deep-copies every table a
   transaction touches (to roll back on failure): O(table) per TransactWriteItems, so thousands
   of notifications would slow to seconds per call. Here only the touched items are copied and
   put back on failure; the semantics (conditions, ALL_OLD, cancellation reasons) are moto's.
3. FIFO de-duplication as SQS does it. Stock moto compares a message's de-duplication id only
   with the messages still in the queue, so once a consumer deleted a message, a second send
   with its id gets through. SQS drops any send whose id it saw in the last 5 minutes, deleted
   or not; here too. In a high-throughput FIFO queue (`DeduplicationScope` `messageGroup`, as
   template.yaml's) SQS compares ids within the message's group only (stock moto compares them
   across the queue); here too.
4. A Query of a table's partition reads that partition (DynamoDB). Stock moto sorts the whole
   table on every Query of the table itself: O(table log table) per call, which made a load
   run with repeats and faults (each one a Query) take an hour. Here it reads the partition's
   items only; the semantics are moto's.

usage: moto_server.py PORT [--exit-with-stdin]

--exit-with-stdin: exit when standard input closes, so a test process that dies (or is killed)
never leaves a server behind; the tests hold the pipe.
"""

import copy
import os
import sys
import threading
import types

import moto.dynamodb.models as ddb
from moto.dynamodb.models.table import Table


def exit_with_stdin():
    sys.stdin.read()
    os._exit(0)


_deepcopy = copy.deepcopy
# Transactions deep-copy the tables they touch; a table is left as is (see the docstring).
ddb.copy = types.SimpleNamespace(deepcopy=lambda x, *a: x if isinstance(x, Table) else _deepcopy(x, *a))
_transact = ddb.DynamoDBBackend.transact_write_items


def transact_write_items(self, transact_items):
    before = []
    for entry in transact_items:
        _, op = next(iter(entry.items()))
        name = op.get("TableName")
        if name not in self.tables:
            continue
        table = self.tables[name]
        if "Key" in op:
            key = op["Key"]
        else:
            key = {table.hash_key_attr: op["Item"][table.hash_key_attr]}
            if table.range_key_attr is not None:
                key[table.range_key_attr] = op["Item"][table.range_key_attr]
        item = self.get_item(name, key)
        before.append((name, key, _deepcopy(item.to_json()["Attributes"]) if item else None))
    try:
        return _transact(self, transact_items)
    except Exception:
        for name, key, attrs in reversed(before):
            if attrs is None:
                try:
                    self.delete_item(name, key)
                except Exception:
                    pass
            else:
                self.tables[name].put_item(attrs)
        raise


ddb.DynamoDBBackend.transact_write_items = transact_write_items

# Change 4: a Query of the table (not an index) reads its partition only. Under the backend's
# lock (change 1), so the instance attribute below is never seen by another request.
_table_query = Table.query


def table_query(self, hash_key, *args, **kwargs):
    index_name = kwargs.get("index_name", args[6] if len(args) > 6 else None)
    if index_name is not None or hash_key is None or not self.range_key_attr:
        return _table_query(self, hash_key, *args, **kwargs)
    partition = self.items.get(hash_key, {})
    self.all_items = lambda: sorted(partition.values(), key=lambda item: item.range_key)
    try:
        return _table_query(self, hash_key, *args, **kwargs)
    finally:
        del self.all_items


Table.query = table_query

# One lock around the whole DynamoDB backend (change 1 in the docstring). Re-entrant: backend
# methods call one another.
_BACKEND_LOCK = threading.RLock()


def _serialized(method):
    def locked(*args, **kwargs):
        with _BACKEND_LOCK:
            return method(*args, **kwargs)

    locked.__name__ = method.__name__
    locked.__doc__ = method.__doc__
    return locked


for _name, _method in list(vars(ddb.DynamoDBBackend).items()):
    if callable(_method) and not _name.startswith("_"):
        setattr(ddb.DynamoDBBackend, _name, _serialized(_method))

# Change 3: every FIFO queue remembers the de-duplication ids sent in the last 5 minutes.
import moto.sqs.models as sqs_models  # noqa: E402

_add_message = sqs_models.Queue.add_message
_DEDUP_LOCK = threading.Lock()


def add_message(self, message):
    if self.fifo_queue and message.deduplication_id:
        window_ms = sqs_models.DEDUPLICATION_TIME_IN_SECONDS * 1000
        now = message.sent_timestamp
        per_group = getattr(self, "deduplication_scope", "queue") == "messageGroup"
        key = (message.group_id, message.deduplication_id) if per_group else message.deduplication_id
        with _DEDUP_LOCK:
            seen = self.__dict__.setdefault("_sent_dedup_ids", {})
            for old in [k for k, at in seen.items() if now - at >= window_ms]:
                del seen[old]
            if key in seen:
                return None
            seen[key] = now
        if per_group:
            # Decided above, within the group: stock moto would compare across the queue.
            with self._messages_lock:
                self._messages.append(message)
                self._messages_lock.notify_all()
            return None
    return _add_message(self, message)


sqs_models.Queue.add_message = add_message

if __name__ == "__main__":
    if "--exit-with-stdin" in sys.argv[2:]:
        threading.Thread(target=exit_with_stdin, daemon=True).start()
    from moto.server import main

    main(["-H", "127.0.0.1", "-p", sys.argv[1]])
