"""The ingestion engine against a bare-pyarrow baseline, on the same files, in the same run.

``make bench-ingest`` (or ``.venv/bin/python -m bench.ingest [--quick] ...``):

1. generates a small sample once (`fidc_assets.sample.generator.generate_sample`) and takes one real file per
   format from it: delimited CSV (``custodia_alfa``), CNAB 444 (``custodia_epsilon``), XLSX
   (``custodia_gama``) and JSON (``custodia_zeta``);
2. builds big inputs under ``bench/out/inputs/`` by repeating the file's data rows with a unique receivable id
   per copy (header and trailer kept valid), reused by later runs when present with the same size;
3. measures, each in a fresh subprocess (``--one``) and ``--runs`` times (fastest kept, all reported):
   the engine (`FileParse` + `pyarrow.parquet.ParquetWriter` of the accepted batches) and a bare-pyarrow
   baseline reading the same file and writing Parquet the same way;
4. prints a Markdown table (rows/s, engine/baseline ratio, peak RSS, rejected rows) and saves it to
   ``bench/out/ingest-results.md``.

Nothing here asserts a timing: the numbers are for reading. See bench/README.md.

Modules: `common` (paths, formats, the `Input` record), `inputs` (building the big files), `runners` (one
measurement in a child process, and the parent that starts them), `report` (the Markdown table), `cli`.
"""
