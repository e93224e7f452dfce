"""The fault and abuse soak suite (`make soak`, issue 13 item 2): see bench/soak/__main__.py and docs/soak.md.

Modules: `worker` (one ingestion run in a subprocess), `common` (the sample and its truth, landing runs killed
or not, the end-state check, orphan files), `landing` (kill -9, concurrency, re-delivery), `hostile` (the
hostile corpus)."""
