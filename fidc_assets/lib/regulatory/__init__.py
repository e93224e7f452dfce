"""The regulator's view: the CVM Informe Mensal de FIDC taken in as a source by configuration
(`spec`, `reader`, `tables`, `landing`), and each fund-month of the marts reconciled with what the fund
reported (`figures`, `recon`). Above `ingest` (its reader and typing kernels) and `hot` (the marts it reads
and the regulatory mart it writes)."""
