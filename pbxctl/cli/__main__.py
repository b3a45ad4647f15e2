"""``python -m pbxctl.cli``: the same as the ``pbxctl`` command."""

from pbxctl.cli.main import main

main()
