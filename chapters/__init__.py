"""The course's chapters. ``chapters.common`` holds what the walk-throughs share; the project installs this
folder as a package, so ``from chapters.common import chapter_args`` works from a script and a notebook."""
