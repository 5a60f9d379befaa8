"""Puts this folder on the import path (pytest's default), so shared kits like `loopkit` import."""
