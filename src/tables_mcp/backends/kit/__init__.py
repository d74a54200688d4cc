"""What adapters share and no platform owns: paging cursors (`cursors`) and value codecs (`codecs`).

Nothing here names a platform; each adapter brings its own positions, wire formats and limits.
"""
