"""The worker tests' cluster (``harness.cluster``) on a scratch PostgreSQL database;
skips with a reason (fails under CI=true) without RabbitMQ or PostgreSQL."""

import pytest
from harness.cluster import PG_URL, Cluster, require_rabbitmq
from ember.testing.services import scratch_database


@pytest.fixture
def cluster(tmp_path):
    require_rabbitmq()
    with scratch_database(PG_URL, "bash scripts/servers/databases.sh start") as db_url:
        c = Cluster(tmp_path, db_url)
        try:
            yield c
        finally:
            c.close()
