"""The command line: ``main`` parses and dispatches; ``measuring`` and ``reading`` hold the
commands, one module per group; ``common`` what they share."""
