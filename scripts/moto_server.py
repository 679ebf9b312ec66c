#!/usr/bin/env python3
"""moto's server (local DynamoDB + SQS) with one change, for the tests, the benchmarks and the
load run. The one copy of that change: `tests/src/lib.rs` and `bench/run.sh` both start this file.

Stock moto deep-copies every table a transaction touches (to roll back on failure): O(table)
per TransactWriteItems, so thousands of notifications would slow to seconds per call. Here only
the touched items are copied and put back on failure; the semantics (conditions, ALL_OLD,
cancellation reasons) are moto's.

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

if __name__ == "__main__":
    if "--exit-with-stdin" in sys.argv[2:]:
        threading.Thread(target=exit_with_stdin, daemon=True).start()
    from moto.server import main

    main(["-H", "127.0.0.1", "-p", sys.argv[1]])
