"""What adapters share and no platform owns, one concern per module: paging cursors (`cursors`), value
codecs (`codecs`), batches with exact written/failed parts, settings, error tables, the schema cache,
filters over canonical records, token auth.

Nothing here names a platform; each adapter brings its own positions, wire formats and limits.
"""
