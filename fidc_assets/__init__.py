"""fidc-lakehouse: custodian files to Iceberg to partitioned PostgreSQL marts."""
