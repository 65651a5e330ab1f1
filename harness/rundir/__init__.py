"""The run folder: the one place where measuring hands its results to analysing.

``format`` names its files and defines the record; ``writer`` writes it as trials end;
``reader`` reads it back forgivingly. Nothing here runs a trial or interprets a number.
"""
