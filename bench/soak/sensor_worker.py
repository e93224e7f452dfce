"""A soak subprocess: one tick of the inbox sensor through Dagster's machinery, as the daemon runs one.

    python -m bench.soak.sensor_worker DAGSTER_DIR INBOX LAKE_DIR FUNDS_FILE

The instance is a real DagsterInstance on disk (DAGSTER_DIR, SQLite storage). The tick: the sensor's cursor
is read from the instance's cursor storage; the sensor of the shipped definitions is evaluated with
`build_sensor_context` (that instance, that cursor, a LakehouseResource on INBOX and LAKE_DIR); its
dynamic-partition requests are applied; each run request whose run key was never requested before is
recorded in the instance (`soak/request/<run key>`, what the daemon's run-key de-duplication and its run
creation stand for); then the new cursor is stored. The daemon's order: runs first, cursor last, so a tick
killed in between repeats its requests, which the run key de-duplicates. Prints "ready" once the
definitions are loaded (a parent kills it at a random moment of the tick itself)."""

from __future__ import annotations

import json
import sys

CURSOR_KEY = "soak/inbox_sensor_cursor"
REQUEST_PREFIX = "soak/request/"


def main() -> int:
    dagster_dir, inbox, lake_dir, funds_file = sys.argv[1:5]
    import dagster as dg
    from dagster._core.instance.ref import InstanceRef

    from fidc_assets.definitions import defs
    from fidc_assets.defs.resources import LakehouseResource

    sensor = defs().get_sensor_def("inbox_sensor")
    resource = LakehouseResource(
        inbox=inbox,
        catalog_uri=f"sqlite:///{lake_dir}/catalog.db",
        warehouse=f"file://{lake_dir}/warehouse",
        funds_file=funds_file,
    )
    with dg.DagsterInstance.from_ref(InstanceRef.from_dir(dagster_dir)) as instance:
        storage = instance.run_storage
        print("ready", flush=True)
        cursor = storage.get_cursor_values({CURSOR_KEY}).get(CURSOR_KEY)
        with dg.build_sensor_context(instance=instance, cursor=cursor, resources={"lakehouse": resource}) as ctx:
            result = sensor(ctx)
        assert isinstance(result, dg.SensorResult)
        for req in result.dynamic_partitions_requests or []:
            if isinstance(req, dg.AddDynamicPartitionsRequest):
                instance.add_dynamic_partitions(req.partitions_def_name, list(req.partition_keys))
        requested = 0
        for run in result.run_requests or []:
            key = REQUEST_PREFIX + str(run.run_key)
            if storage.get_cursor_values({key}).get(key) is None:  # the daemon skips a run key it already ran
                tags = run.tags
                body = {"partition": run.partition_key, "files": tags["fidc/files"], "shas": tags["fidc/sha256s"]}
                storage.set_cursor_values({key: json.dumps(body)})
                requested += 1
        if result.cursor is not None:
            storage.set_cursor_values({CURSOR_KEY: result.cursor})
    print(json.dumps({"requested": requested, "skip": result.skip_reason}), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
