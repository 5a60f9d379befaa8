"""The Git adapter: `GitSource` reads manifests and function sources at a commit, and restores."""
