"""What ``cinder_interop.py --store s3`` needs of an ``s3://BUCKET`` repository besides
the runners (run with Ember's venv): the codecs its ``_metadata`` documents record, and
removing the bucket with everything in it.

    python s3_bucket.py codecs s3://BUCKET     # prints e.g. {"zlib": 14, "none": 6}
    python s3_bucket.py remove s3://BUCKET
"""

from __future__ import annotations

import collections
import json
import sys

import runner_cli  # beside this script (sys.path[0])


def driver_for(repo: str):
    from ember.testing.config import make_conf
    from ember_s3 import opts
    from ember_s3.driver import S3BackupDriver

    options = runner_cli.s3_options(repo, 32768, 32768)
    return S3BackupDriver(make_conf(extra_opts=opts.s3_opts, **options)), \
        options["backup_s3_store_bucket"]


def codecs(repo: str) -> dict:
    driver, bucket = driver_for(repo)
    counts: collections.Counter = collections.Counter()
    for name in driver.list_objects(bucket):
        if name.endswith("_metadata"):
            for entry in json.loads(driver.get_object(bucket, name))["objects"]:
                counts.update(e["compression"] for e in entry.values())
    return dict(counts)


def remove(repo: str) -> dict:
    driver, bucket = driver_for(repo)
    client = driver.client()
    names = driver.list_objects(bucket)
    for name in names:
        driver.delete_object(bucket, name)
    try:
        client.delete_bucket(Bucket=bucket)
    except client.exceptions.NoSuchBucket:
        pass
    return {"removed": len(names)}


if __name__ == "__main__":
    command, repo = sys.argv[1:3]
    print(json.dumps({"codecs": codecs, "remove": remove}[command](repo)))
