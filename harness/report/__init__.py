"""The report of a run: the template context, filters, figures, text tables, the Jinja
rendering, and publishing and verifying bundles. Reads run folders, never measures."""
