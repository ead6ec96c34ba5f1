"""Hostile input against a real `python -m subgraph serve` (uvicorn, SQLite).

`corpus/` holds the cases as data (what is sent, what must come back, how fast); `client.py`
sends them and checks the answers; `test_corpus.py` runs each case alone, `test_mixed_load.py`
mixes hostile and valid requests in parallel, and `test_survival.py` runs last (files run in
name order) to check the server came through: health, earlier data intact, writes working,
memory bounded, nothing in the log that looks like a crash.
"""
