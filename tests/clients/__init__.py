"""Tests of the typed client, the CSV layouts, the progress bar and the `fupin` CLI."""
