"""One module per family of document formats, behind extract.extract_file; guards.py holds the
checks that keep hostile files (zip bombs, gigabyte one-liners) from costing memory or time."""
