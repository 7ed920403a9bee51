"""Bulk imports of real shop data: UCI Online Retail transactions and MovieLens ratings.

``readers``, ``transactions`` and ``ratings`` are pure pandas: they read a file,
classify every row (imported or rejected with a reason) and build the rows to
write, without touching the database. ``services`` writes those plans in bulk
inside one transaction.
"""
