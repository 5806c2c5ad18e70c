"""`ember --help` lists each command with the first line of its description: that line
must be a whole sentence, never cut mid-sentence."""

from importlib.metadata import entry_points

import pytest

COMMANDS = sorted(entry_points(group="ember.cli"), key=lambda ep: ep.name)


@pytest.mark.parametrize("entry_point", COMMANDS, ids=[ep.name for ep in COMMANDS])
def test_summary_line_is_one_whole_sentence(entry_point):
    doc = entry_point.load().__doc__ or ""
    first_paragraph = doc.strip().split("\n\n")[0]
    assert "\n" not in first_paragraph, "summary runs onto a second line: %r" % doc
    assert first_paragraph[:1].isupper() and first_paragraph.endswith("."), first_paragraph


def test_help_lists_each_summary_whole(ember):
    # cliff drops the final period, as openstack does; the sentence itself is whole
    listing = ember.ok("--help").stdout.split("Commands:", 1)[1]
    assert ("volume backup verify  Check every object of a backup's chain and say whether "
            "it is intact\n") in listing
    assert ("volume backup record scan  Rebuild lost catalogue records from the repository "
            "(admin only)\n") in listing
