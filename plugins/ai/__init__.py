"""The built-in ``ai`` plugin folder: AI providers (loaded through pluginbase)."""
