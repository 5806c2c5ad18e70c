"""Members of two projects through --os-* options and OS_* variables: each sees only its
own project's volumes and backups; admin-only operations are refused to members."""

MiB = 1 << 20
ALICE = {"OS_PROJECT_ID": "p-alice", "OS_USER_ID": "alice", "OS_ROLES": "member,reader"}
BOB = ["--os-project-id", "p-bob", "--os-user-id", "bob", "--os-roles", "member,reader"]


def test_members_of_two_projects_are_isolated(ember):
    ember.ok("volume", "create", "--size", "4M", "shared-name", env=ALICE)
    ember.ok(*BOB, "volume", "create", "--size", "4M", "shared-name")
    a = ember.json("volume", "backup", "create", "--name", "a-backup", "shared-name",
                   env=ALICE)
    b = ember.json(*BOB, "volume", "backup", "create", "--name", "b-backup", "shared-name")
    assert a["volume_id"] != b["volume_id"]  # each name resolved in its own project

    assert [r["ID"] for r in ember.json("volume", "backup", "list", env=ALICE)] == [a["id"]]
    assert [r["ID"] for r in ember.json(*BOB, "volume", "backup", "list")] == [b["id"]]
    assert len(ember.json("volume", "list", env=ALICE)) == 1

    before = ember.catalogue()
    line = ember.fails("volume", "backup", "show", b["id"], env=ALICE)
    assert line.startswith("ember: ") and b["id"] in line
    ember.fails("volume", "backup", "delete", b["id"], env=ALICE)
    ember.fails("volume", "backup", "restore", b["id"], env=ALICE)
    assert ember.catalogue() == before

    # the default user is an admin in project "default": sees everything only when asked
    assert ember.json("volume", "backup", "list") == []
    every = ember.json("volume", "backup", "list", "--all-projects")
    assert sorted(r["ID"] for r in every) == sorted([a["id"], b["id"]])


def test_admin_only_operations_are_refused_to_members(ember):
    ember.ok("volume", "create", "--size", "4M", "v", env=ALICE)
    backup = ember.json("volume", "backup", "create", "v", env=ALICE)
    before = ember.catalogue()
    for args in (["volume", "backup", "list", "--all-projects"],
                 ["volume", "backup", "delete", "--force", backup["id"]],
                 ["backup-reset-state", "--state", "error", backup["id"]],
                 ["volume", "backup", "set", "--state", "error", backup["id"]],
                 ["volume", "backup", "record", "export", backup["id"]]):
        line = ember.fails(*args, env=ALICE)
        assert line.startswith("ember: "), line
    assert ember.catalogue() == before
    # an admin of that project may
    admin = dict(ALICE, OS_ROLES="admin,member,reader")
    ember.ok("backup-reset-state", "--state", "error", backup["id"], env=admin)
    assert ember.json("volume", "backup", "show", backup["id"], env=ALICE)["status"] == "error"
