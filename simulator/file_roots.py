"""
The extension as a clean checkout serves it to Salt's fileserver, for the demos and the tests' masters.

A file_roots entry is walked whole on every ``saltutil.sync_*``: this repository's own root also holds
its virtual environments (tens of thousands of files), which make each kind of module take seconds to
sync. A directory of links to the loader directories (and the SLS the tests add) serves exactly what a
user's clone serves.
"""

import pathlib

REPO = pathlib.Path(__file__).resolve().parents[1]
LOADER_DIRECTORIES = ("_modules", "_states", "_runners", "_output", "_beacons", "_utils")


def extension_root(directory, *extra):
    """
    ``directory`` filled with links to the loader directories and to ``extra`` paths of the repository
    (kept at the same relative place); returns it, for a file_roots list.
    """
    directory = pathlib.Path(directory)
    for relative in (*LOADER_DIRECTORIES, *extra):
        link = directory / relative
        link.parent.mkdir(parents=True, exist_ok=True)
        if not link.exists():
            link.symlink_to(REPO / relative, target_is_directory=True)
    return directory
