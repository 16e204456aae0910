"""The `otorch` command line: parse, call the library, render."""
