"""One module per on-disk dataset format.

Each module exposes ``FORMAT`` (its name in :data:`pointdistill.data.registry.FORMATS`), ``locate(path)`` (the
dataset root if ``path`` holds this layout, else None) and ``read(path, **options) -> DatasetSource``. Shared
parsing and validation live in ``common``, ``chunked``, ``hdf5``, ``mesh``, ``pointfiles`` and ``safe_pickle``.
"""
