"""The `tf-lipschitz` command: `cli` (the entry point) and one module per sub-command.

`train`, `evaluate`, `fetch_inception` and `inception_stats` each define `add_parser(subparsers)`; this is the
top layer: it may import everything below and nothing imports it.
"""
